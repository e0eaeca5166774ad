//! Length of the longest common subsequence of two token-id sequences, 64 tokens per machine word.
//!
//! The bit-vector recurrence of Allison–Dix / Crochemore et al. in Hyyrö's form ("Bit-parallel LCS-length
//! computation revisited", 2004): the shorter sequence `a` is a bit vector `V` (a 0 bit marks a position of
//! `a` that the LCS has used), and each token `t` of the longer sequence updates it with
//!
//! ```text
//! U  = V & Match[t]
//! V' = (V + U) | (V - U)        // V - U == V & !U, since U is a subset of V
//! ```
//!
//! where `+` is one addition across all words of `V`. At the end the LCS length is the number of zeros in `V`.
//!
//! The words are processed one at a time over the whole longer sequence, not the usual way round: the carry
//! out of word `w` at each step of the long sequence is kept in a bit vector (one bit per token) and fed into
//! word `w + 1` on the next pass. So only the match masks of the current 64-token block of `a` are needed,
//! and memory is O(len(a) + len(b) + alphabet) instead of the O(alphabet · len(a) / 64) of full match tables.

/// Buffers kept between calls so that scoring a pair allocates nothing once they have grown.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Match mask of each id within the current 64-token block of the shorter sequence. All zero between
    /// calls: each block clears the masks it set.
    masks: Vec<u64>,
    /// Bit j: the carry out of the previous word at step j of the longer sequence.
    carries: Vec<u64>,
}

/// The LCS length of two sequences of small, dense token ids (as handed out per call by the interner).
///
/// Ids in the longer sequence that never occur in the shorter one may be anything; the mask table is as
/// large as the largest id of the shorter sequence plus one.
pub(crate) fn lcs_len(a: &[u32], b: &[u32], scratch: &mut Scratch) -> usize {
    // Shared ends are part of every LCS; trimming them is free and shadow outputs are often near-identical.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (a.get(prefix..).unwrap_or_default(), b.get(prefix..).unwrap_or_default());
    let suffix = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (
        a.get(..a.len() - suffix).unwrap_or_default(),
        b.get(..b.len() - suffix).unwrap_or_default(),
    );
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    prefix + suffix + bit_parallel(short, long, scratch)
}

/// The bit-parallel core; `short` is the sequence held as bits.
fn bit_parallel(short: &[u32], long: &[u32], scratch: &mut Scratch) -> usize {
    if short.is_empty() {
        return 0;
    }
    let alphabet = short.iter().max().map_or(0, |&id| id as usize + 1);
    if scratch.masks.len() < alphabet {
        scratch.masks.resize(alphabet, 0);
    }
    let masks = &mut scratch.masks;
    scratch.carries.clear();
    scratch.carries.resize(long.len().div_ceil(64), 0);
    let mut lcs = 0;

    for block in short.chunks(64) {
        for (bit, &id) in block.iter().enumerate() {
            if let Some(mask) = masks.get_mut(id as usize) {
                *mask |= 1 << bit;
            }
        }

        let mut v = !0u64;
        for (carry_word, steps) in scratch.carries.iter_mut().zip(long.chunks(64)) {
            let carry_in = *carry_word;
            let mut carry_out = 0u64;
            for (j, &id) in steps.iter().enumerate() {
                let u = v & masks.get(id as usize).copied().unwrap_or(0);
                let (sum, c1) = v.overflowing_add(u);
                let (sum, c2) = sum.overflowing_add((carry_in >> j) & 1);
                carry_out |= u64::from(c1 | c2) << j;
                v = sum | (v & !u);
            }
            *carry_word = carry_out;
        }

        // Bits past the end of a short last block stand for no token of `short`.
        let valid = u64::MAX >> (64 - block.len());
        lcs += (!v & valid).count_ones() as usize;

        for &id in block {
            if let Some(mask) = masks.get_mut(id as usize) {
                *mask = 0;
            }
        }
    }
    lcs
}

#[cfg(test)]
mod tests {
    use super::Scratch;
    use proptest::prelude::*;

    fn lcs_len(a: &[u32], b: &[u32]) -> usize {
        super::lcs_len(a, b, &mut Scratch::default())
    }

    /// The textbook O(m·n) table, one row at a time: the reference the bit-parallel version must match.
    fn dp_lcs(a: &[u32], b: &[u32]) -> usize {
        let mut prev = vec![0usize; b.len() + 1];
        let mut cur = vec![0usize; b.len() + 1];
        for x in a {
            for (j, y) in b.iter().enumerate() {
                cur[j + 1] = if x == y { prev[j] + 1 } else { prev[j + 1].max(cur[j]) };
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        prev[b.len()]
    }

    #[test]
    fn small_cases() {
        assert_eq!(lcs_len(&[], &[]), 0);
        assert_eq!(lcs_len(&[1, 2, 3], &[]), 0);
        assert_eq!(lcs_len(&[1, 2, 3], &[1, 2, 3]), 3);
        assert_eq!(lcs_len(&[1, 2, 3], &[4, 5, 6]), 0);
        assert_eq!(lcs_len(&[0, 1, 2, 3, 4], &[0, 2, 4, 6]), 3);
        assert_eq!(lcs_len(&[7, 7, 7], &[7]), 1);
    }

    #[test]
    fn crosses_word_boundaries() {
        // Lengths around 64 and 128 exercise the carry between words.
        for &(m, n) in &[(63, 64), (64, 64), (65, 64), (127, 129), (128, 128), (129, 300), (200, 64)] {
            let a: Vec<u32> = (0..m).map(|i| (i * 7 % 5) as u32).collect();
            let b: Vec<u32> = (0..n).map(|i| (i * 3 % 4) as u32).collect();
            assert_eq!(lcs_len(&a, &b), dp_lcs(&a, &b), "m={m} n={n}");
        }
    }

    #[test]
    fn long_identical_and_reversed() {
        let a: Vec<u32> = (0..2000).collect();
        let r: Vec<u32> = a.iter().rev().copied().collect();
        assert_eq!(lcs_len(&a, &a), 2000);
        assert_eq!(lcs_len(&a, &r), 1);
    }

    #[test]
    fn scratch_is_reusable() {
        let mut scratch = Scratch::default();
        let a: Vec<u32> = (0..300).map(|i| i % 7).collect();
        let b: Vec<u32> = (0..200).map(|i| i % 5).collect();
        let first = super::lcs_len(&a, &b, &mut scratch);
        assert_eq!(super::lcs_len(&[1, 2], &[2, 1], &mut scratch), 1);
        assert_eq!(super::lcs_len(&a, &b, &mut scratch), first);
        assert_eq!(first, dp_lcs(&a, &b));
    }

    fn ids(max_len: usize, alphabet: u32) -> impl Strategy<Value = Vec<u32>> {
        prop::collection::vec(0..alphabet, 0..max_len)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn equals_dp_small_alphabet(a in ids(300, 4), b in ids(300, 4)) {
            prop_assert_eq!(lcs_len(&a, &b), dp_lcs(&a, &b));
        }

        #[test]
        fn equals_dp_larger_alphabet(a in ids(300, 40), b in ids(300, 40)) {
            prop_assert_eq!(lcs_len(&a, &b), dp_lcs(&a, &b));
        }

        #[test]
        fn equals_dp_at_word_boundaries(
            m in prop::sample::select(vec![0usize, 1, 63, 64, 65, 127, 128, 129, 191, 192, 193, 256, 300]),
            n in prop::sample::select(vec![0usize, 1, 63, 64, 65, 127, 128, 129, 191, 192, 193, 256, 300]),
            seed_a in ids(300, 3),
            seed_b in ids(300, 3),
        ) {
            let a: Vec<u32> = seed_a.iter().cycle().take(if seed_a.is_empty() { 0 } else { m }).copied().collect();
            let b: Vec<u32> = seed_b.iter().cycle().take(if seed_b.is_empty() { 0 } else { n }).copied().collect();
            prop_assert_eq!(lcs_len(&a, &b), dp_lcs(&a, &b));
        }

        #[test]
        fn edits_of_a_sequence(a in ids(300, 6), cuts in prop::collection::vec(0usize..300, 0..20)) {
            // Deletions keep a long common subsequence: the paraphrase-like case.
            let b: Vec<u32> = a.iter().enumerate().filter(|(i, _)| !cuts.contains(i)).map(|(_, &x)| x).collect();
            prop_assert_eq!(lcs_len(&a, &b), dp_lcs(&a, &b));
            prop_assert_eq!(lcs_len(&a, &b), b.len());
        }
    }
}
