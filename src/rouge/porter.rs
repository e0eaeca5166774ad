//! NLTK's PorterStemmer in NLTK_EXTENSIONS mode. (stub: in progress)

/// Stems one lowercase ASCII word.
pub fn stem(word: &str) -> String {
    word.to_string()
}
