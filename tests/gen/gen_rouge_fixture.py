"""Generates tests/fixtures/rouge_pairs.jsonl: text pairs scored by rouge-score 0.1.2 (the reference).

Each line is one JSON object:
    {"kind": ..., "target": ..., "prediction": ..., "fmeasure": <repr-exact float>, "fmeasure_bits": <u64>}
where fmeasure is RougeScorer(['rougeL'], use_stemmer=True).score(target, prediction)['rougeL'].fmeasure
and fmeasure_bits its IEEE-754 bits, so the Rust test can compare without trusting a float parser.

The texts are English-like (inflected words, so that stemming matters) with punctuation, digits, hyphens,
apostrophes, accented letters, 'İ', the Kelvin sign, CJK, emoji and odd whitespace; the pairs are identical,
empty, disjoint, independent, or edited copies (shuffles, insertions, deletions, synonym and inflection swaps).

Run with the project's virtualenv Python:
    python tests/gen/gen_rouge_fixture.py [OUTPUT]
OUTPUT defaults to tests/fixtures/rouge_pairs.jsonl. With ROUGE_FIXTURE_NO_STEMMER=1 the pairs are scored
with use_stemmer=False (a check of everything but the stemmer; write it somewhere else, not the fixture).
"""

import json
import os
import random
import struct
import sys
from pathlib import Path

from rouge_score import rouge_scorer, tokenize

SEED = 20240611
MAX_TOKENS = 2000
REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "tests" / "fixtures" / "rouge_pairs.jsonl"

BASES = """
act adjust agree allow analyse answer apply argue arrive ask assume attach attend avoid bake balance bank
base bear beat become begin believe belong bend bind bite bless blow boil book bore borrow bounce bow
break breed bring build burn bury buy call calm care carry cause celebrate change charge chase check
choose claim clean clear climb close collect comb come command compare complete compute concern condition
conduct confirm connect consider contain continue control cook copy correct cost count cover crash create
cry cut dance deal decide declare define delay deliver depend describe design destroy develop die differ
dig direct discover discuss divide do draw dream dress drink drive drop dry earn eat educate effect
electric employ end enjoy enter equal escape establish estimate evaluate examine exceed excite exist
expand expect explain explore express face fail fall feel fight fill find finish fit fix fly fold follow
forget forgive form formal found free fry general generate give go govern grow guess hang happen happy
hate have hear help hide hit hold hope hop hurry identify imagine improve include increase indicate
inform inning invent invest involve join judge jump keep kill kind know land last laugh lay lead learn
leave lend let lie light like limit listen live look lose love make manage mark marry matter mean
measure meet mention mind miss model move name nation need note notice obtain occur offer open operate
order organize own paint pass pay perform permit pick place plan plant play please point possess post
practice prefer prepare present press prevent proceed process produce promise protect prove provide
publish pull punish push put question quit rain raise reach read realize receive recognize record reduce
reflect refuse relate relation rely remain remember remove repeat replace reply report represent require
rest return reveal ride ring rise roll rule run satisfy save say score search see seem sell send sense
serve set settle shake shine shoot show shut sing sink sit sky sleep slide smell smile solve speak spend
spread stand start state stay steal stick stop study succeed suggest supply support suppose surprise
swim switch take talk teach tear tell tend test thank think throw tie touch train transfer travel treat
trouble trust try turn understand use value visit wait walk want warn wash watch wear win wish wonder
work worry write yell
""".split()

SUFFIXES = ["", "", "", "s", "es", "ed", "d", "ing", "er", "ers", "est", "ly", "ness", "ment", "ments",
            "ation", "ations", "ational", "ize", "izes", "izing", "ization", "izations", "ful", "fulness",
            "ous", "ousness", "ive", "iveness", "able", "ability", "ible", "al", "ally", "ism", "ist",
            "ists", "iti", "iviti", "ent", "ence", "ance", "ant", "ic", "ical", "icate", "ative", "alize",
            "ion", "ions", "ou", "ate", "y", "ies", "ied", "eed", "eeds", "bli", "logi", "alli", "entli"]

SPECIAL_WORDS = """
skies sky dying lying tying news innings inning outings outing cannings canning howe proceed exceed
succeed generalizations ponies caresses cats feed agreed plastered bled motoring sing conflated troubled
sized hopping tanned falling hissing fizzed failing filing happy relational conditional rational
valenci hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization
predication operator feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti
triplicate formative formalize electriciti electrical hopeful goodness revival allowance inference airliner
gyroscopic adjustable defensible irritant replacement adjustment dependent adoption homologou communism
activate angulariti homologous effective bowdlerize probate rate cease controll roll yes yyyy syzygy
abyss ay eye say oyez ion mnemonic flies flying dies died ties tied spied eyed played plays
""".split()

SHORT_WORDS = "a an the of to in on at by is it as be we he she they you i was are and or not but if so".split()

ACCENTED = ["café", "naïve", "résumé", "Ångström", "façade", "über", "São", "Zürich", "Málaga", "coöperate",
            "piñata", "crème", "brûlée", "Straße", "Łódź", "Dvořák", "Ærø", "œuvre", "déjà-vu", "fiancée"]
DOTTED_I = ["İstanbul", "İZMİR", "DİYARBAKIR", "İ", "İİİ", "xİy", "İnternational", "rİsİng", "İ123"]
KELVIN = ["300\u212a", "\u212aelvin", "\u212a", "5\u212a-rated", "\u212aING", "wal\u212aing", "\u212a9"]
CJK = ["東京", "日本語", "中文", "漢字テスト", "한국어", "カタカナ", "ひらがな", "北京市", "〇", "々", "ｶﾀｶﾅ",
       "東京タワーへ行く", "中文text混合", "한국어abc"]
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇺🇸", "🔥🔥", "✨", "❤️", "🤖", "1️⃣", "🚀"]
OTHER_SCRIPTS = ["привет", "мир", "ΣΟΦΙΑ", "σοφία", "مرحبا", "שלום", "नमस्ते", "ＡＢＣ", "１２３", "Ⅻ", "ﬁne"]
SYMBOLS = ["€", "©", "™", "—", "–", "…", "“", "”", "«", "»", "§", "°", "±", "½", "²", "µ", "\u00ad", "\u200b"]
NUMBERS = ["1990s", "3.14", "42", "2nd", "100km", "covid19", "v2", "0", "007", "1,000,000", "12:30",
           "2024-06-11", "50%", "$99.99", "x86_64", "1e10", "4th", "gpt4", "h2o", "b2b"]
PUNCT_AFTER = [",", ".", "!", "?", ";", ":", "...", ")", "\"", "'", "'s", "n't", "’s", "--", ""]
PUNCT_BEFORE = ["(", "\"", "'", "“", "[", "#", "@", "-", "*", ""]
SPACES = [" "] * 30 + ["  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", " \n\n "]
SYNONYMS = [("big", "large"), ("fast", "quick"), ("begin", "start"), ("end", "finish"), ("buy", "purchase"),
            ("help", "assist"), ("show", "display"), ("answer", "reply"), ("happy", "glad"), ("make", "create")]


def word_form(rng):
    """One English-like word: a base with an inflection or derivation, sometimes a special case."""
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(SHORT_WORDS)
    if roll < 0.33:
        return rng.choice(SPECIAL_WORDS)
    return rng.choice(BASES) + rng.choice(SUFFIXES)


def exotic_token(rng):
    roll = rng.random()
    if roll < 0.20:
        return rng.choice(ACCENTED)
    if roll < 0.30:
        return rng.choice(DOTTED_I)
    if roll < 0.40:
        return rng.choice(KELVIN)
    if roll < 0.55:
        return rng.choice(CJK)
    if roll < 0.68:
        return rng.choice(EMOJI)
    if roll < 0.80:
        return rng.choice(OTHER_SCRIPTS)
    if roll < 0.90:
        return rng.choice(SYMBOLS)
    # A random letter soup, sometimes with non-ASCII letters inside.
    pool = "abcdefghijklmnopqrstuvwxyz" * 3 + "éüøİ\u212a0123456789-'"
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))


def decorate(word, rng, exotic):
    """Casing, attached punctuation, hyphenation and the odd non-English token."""
    if rng.random() < exotic:
        return exotic_token(rng)
    if rng.random() < 0.05:
        word = rng.choice(NUMBERS)
    roll = rng.random()
    if roll < 0.12:
        word = word.capitalize()
    elif roll < 0.15:
        word = word.upper()
    if rng.random() < 0.04:
        word = word + "-" + word_form(rng)
    if rng.random() < 0.15:
        word = word + rng.choice(PUNCT_AFTER)
    if rng.random() < 0.05:
        word = rng.choice(PUNCT_BEFORE) + word
    return word


def words(n, rng, exotic):
    return [decorate(word_form(rng), rng, exotic) for _ in range(n)]


def cap(tokens):
    """The longest prefix of `tokens` that rouge-score splits into at most MAX_TOKENS tokens."""
    total = 0
    for i, token in enumerate(tokens):
        total += len(tokenize.tokenize(token, None))
        if total > MAX_TOKENS:
            return tokens[:i]
    return tokens


def join(tokens, rng):
    tokens = cap(tokens)
    out = []
    for i, token in enumerate(tokens):
        if i:
            out.append(rng.choice(SPACES))
        out.append(token)
    text = "".join(out)
    if rng.random() < 0.1:
        text = rng.choice(["", " ", "\n", "  \t"]) + text + rng.choice(["", " ", "\n", "."])
    return text


def edit(tokens, rng, exotic):
    """A paraphrase-like copy: shuffled windows, insertions, deletions, synonym and inflection swaps."""
    out = list(tokens)
    n = max(len(out), 1)
    for _ in range(rng.randint(1, max(1, n // 8))):
        op = rng.random()
        if op < 0.2 and len(out) > 2:
            i = rng.randrange(len(out))
            j = min(len(out), i + rng.randint(2, 8))
            window = out[i:j]
            rng.shuffle(window)
            out[i:j] = window
        elif op < 0.4:
            out.insert(rng.randint(0, len(out)), decorate(word_form(rng), rng, exotic))
        elif op < 0.6 and out:
            del out[rng.randrange(len(out))]
        elif op < 0.75 and out:
            # An inflection swap: the same base with another suffix, which often stems to the same token.
            i = rng.randrange(len(out))
            base = out[i].strip(".,!?;:'\"()[]#@-*").lower()
            stem = next((b for b in BASES if base.startswith(b)), None)
            out[i] = (stem + rng.choice(SUFFIXES)) if stem else word_form(rng)
        elif op < 0.85 and out:
            i = rng.randrange(len(out))
            a, b = rng.choice(SYNONYMS)
            out[i] = b if rng.random() < 0.5 else a
        elif op < 0.92 and out:
            i = rng.randrange(len(out))
            out[i] = rng.choice([out[i].upper(), out[i].lower(), out[i] + ",", out[i] + "."])
        elif out:
            # Move a whole chunk elsewhere (sentence reordering).
            i = rng.randrange(len(out))
            j = min(len(out), i + rng.randint(1, 20))
            chunk = out[i:j]
            del out[i:j]
            k = rng.randint(0, len(out))
            out[k:k] = chunk
    return out


def reinflect(tokens, rng):
    """The same text with other inflections of some words: equal after stemming or not, word by word."""
    out = []
    share = rng.uniform(0.1, 0.6)
    for token in tokens:
        base = next((b for b in BASES if token.lower().startswith(b)), None)
        if base and rng.random() < share:
            token = base + rng.choice(SUFFIXES)
        out.append(token)
    return out


def length(rng, band):
    if band == "short":
        return rng.randint(1, 100)
    if band == "medium":
        return rng.randint(100, 1000)
    return rng.choice([2000, rng.randint(1000, 2000)])


def pairs(rng):
    """Yields (kind, target, prediction)."""
    # Fixed edge cases first.
    for text in ["", " ", "\n\t ", "\u00a0\u3000", "😀", "😀 🚀", "東京", "...", "-", "İ", "\u212a", "a", "The",
                 "running", "runs ran run", "the quick brown fox"]:
        yield "identical", text, text
    edge = [("", "hello"), ("hello", ""), ("", " "), (" ", "\n"), ("😀", "🚀"), ("😀", "😀 "), ("東京", "京都"),
            ("İstanbul", "i\u0307stanbul"), ("İstanbul", "istanbul"), ("5\u212a", "5k"), ("\u212a", "K"),
            ("running", "run"), ("runs", "running"), ("The cats", "the cat"), ("generalizations", "general"),
            ("skies", "sky"), ("dying", "die"), ("news", "new"), ("innings", "inning"), ("a", "b"),
            ("abc", "ABC"), ("don't", "dont"), ("state-of-the-art", "state of the art"), ("1990s", "1990"),
            ("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log.")]
    for target, prediction in edge:
        yield "edge", target, prediction

    plan = [("short", 1500), ("medium", 450), ("long", 150)]
    for band, count in plan:
        for _ in range(count):
            exotic = rng.choice([0.0, 0.0, 0.02, 0.1, 0.4])
            roll = rng.random()
            n = length(rng, band)
            if roll < 0.07:
                tokens = words(n, rng, exotic)
                text = join(tokens, rng)
                yield "identical", text, text
            elif roll < 0.12:
                # Disjoint: one side without any ASCII word, or two vocabularies that cannot meet.
                t = join(words(n, rng, exotic), rng)
                m = length(rng, band)
                p = rng.choice([
                    join([rng.choice(CJK + EMOJI + OTHER_SCRIPTS + SYMBOLS) for _ in range(m)], rng),
                    join([str(rng.randint(10 ** 6, 10 ** 7)) for _ in range(m)], rng),
                    "",
                    rng.choice(SPACES) * rng.randint(1, 5),
                ])
                if rng.random() < 0.5:
                    t, p = p, t
                yield "disjoint", t, p
            elif roll < 0.27:
                # Independent texts over the same vocabulary: many matches, a nontrivial LCS.
                t = words(n, rng, exotic)
                p = words(max(1, int(n * rng.uniform(0.5, 1.5))) if band != "long" else length(rng, band),
                          rng, exotic)
                yield "independent", join(t, rng), join(p, rng)
            elif roll < 0.32:
                # Tiny alphabet: long chains of equal tokens, the hardest case for the LCS.
                vocab = [word_form(rng) for _ in range(rng.randint(1, 4))]
                t = [decorate(rng.choice(vocab), rng, exotic) for _ in range(n)]
                p = [decorate(rng.choice(vocab), rng, exotic) for _ in range(length(rng, band))]
                yield "small_vocab", join(t, rng), join(p, rng)
            elif roll < 0.45:
                t = words(n, rng, exotic)
                p = reinflect(t, rng)
                if rng.random() < 0.5:
                    p = edit(p, rng, exotic)
                yield "reinflected", join(t, rng), join(p, rng)
            else:
                t = words(n, rng, exotic)
                p = edit(t, rng, exotic)
                for _ in range(rng.choice([0, 0, 1, 2])):
                    p = edit(p, rng, exotic)
                if rng.random() < 0.3:
                    t, p = p, t
                yield "edited", join(t, rng), join(p, rng)


def main():
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    use_stemmer = os.environ.get("ROUGE_FIXTURE_NO_STEMMER") != "1"
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    rng = random.Random(SEED)
    output.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(output, "w", encoding="utf-8", newline="\n") as out:
        for kind, target, prediction in pairs(rng):
            fmeasure = float(scorer.score(target, prediction)["rougeL"].fmeasure)
            bits = struct.unpack("<Q", struct.pack("<d", fmeasure))[0]
            record = {"kind": kind, "target": target, "prediction": prediction,
                      "fmeasure": fmeasure, "fmeasure_bits": bits}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            if count % 200 == 0:
                print(f"{count} pairs", file=sys.stderr, flush=True)
    print(f"wrote {count} pairs to {output} (use_stemmer={use_stemmer})", file=sys.stderr)


if __name__ == "__main__":
    main()
