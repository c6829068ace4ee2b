//! The serving fast path. It gives exactly the token ids of the saved `tokenizer.json` pipeline
//! (NFKC, then per-character lowercase, then split on Unicode whitespace and isolate BERT
//! punctuation, then WordLevel lookup), about twenty times faster:
//!
//! - pure ASCII text is NFKC-stable, so bytes are lowercased and split directly;
//! - other text that passes the NFKC quick check is already normalized, so the same split runs
//!   over chars;
//! - anything else (text that NFKC would change) goes through the Hugging Face pipeline itself,
//!   in pieces of at most [`PIPELINE_CHUNK`] bytes cut where cutting cannot change the ids (see
//!   [`pieces`]), so that its memory (several hundred bytes per input byte for some characters)
//!   stays bounded whatever the text.
//!
//! Added tokens such as `[UNK]` are matched on the raw text before normalizing, as the pipeline
//! does, and the text between them is encoded piece by piece.
//!
//! `tests/tokenizer_equivalence.rs` checks the equality over the whole corpus, the reference
//! essay and random Unicode input, short and long.

use rustc_hash::FxHashMap;
use tokenizers::Tokenizer;
use unicode_categories::UnicodeCategories;
use unicode_normalization::char::{canonical_combining_class, compose, decompose_compatible};
use unicode_normalization::{is_nfkc_quick, IsNormalized};

use crate::error::{Result, StanceError};

/// The Hugging Face pipeline is never given more than this many bytes at once.
pub const PIPELINE_CHUNK: usize = 16 * 1024;

/// Which route a text took through [`FastTokenizer::encode`] (reported by benchmarks and tests);
/// for a text encoded in pieces, the slowest route any piece took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    Ascii,
    Unicode,
    Pipeline,
}

/// Vocabulary lookup tables built once from a trained [`Tokenizer`].
#[derive(Clone)]
pub struct FastTokenizer {
    hf: Tokenizer,
    vocab: FxHashMap<String, u32>,
    /// Contents of added (special) tokens: text containing one takes the pipeline route.
    added: Vec<String>,
    unk: u32,
}

impl FastTokenizer {
    pub fn new(hf: Tokenizer) -> Self {
        let vocab: FxHashMap<String, u32> = hf.get_vocab(false).into_iter().collect();
        let added = hf
            .get_added_tokens_decoder()
            .values()
            .map(|t| t.content.clone())
            .collect();
        let unk = hf.token_to_id(super::UNK).unwrap_or(0);
        FastTokenizer {
            hf,
            vocab,
            added,
            unk,
        }
    }

    /// The Hugging Face tokenizer this fast path mirrors.
    pub fn pipeline(&self) -> &Tokenizer {
        &self.hf
    }

    /// Vocabulary size including `[UNK]`.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// The token string of an id (for explanations).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.hf.id_to_token(id)
    }

    /// Appends the ids of `text` to `out` (clearing it first) and says which route it took.
    /// Fails only for text that would need the pipeline on a run of more than
    /// [`PIPELINE_CHUNK`] bytes that cannot be cut (see [`pieces`]).
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<Route> {
        out.clear();
        let mut route = Route::Ascii;
        if text.is_ascii() && !self.contains_added(text) {
            self.encode_ascii(text.as_bytes(), out);
            return Ok(route);
        }
        for piece in pieces(text, &self.added, false)? {
            let r = match piece {
                Piece::Added(t) => {
                    out.push(self.hf.token_to_id(t).unwrap_or(self.unk));
                    Route::Ascii
                }
                Piece::Text(t) => self.encode_piece(t, out)?,
            };
            route = route.max(r);
        }
        Ok(route)
    }

    /// Whether `text` takes only the fast routes (no pipeline work at all): cheap enough to score
    /// on an async worker when short.
    pub fn is_fast(&self, text: &str) -> bool {
        text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes
    }

    fn contains_added(&self, text: &str) -> bool {
        self.added.iter().any(|t| text.contains(t.as_str()))
    }

    /// Encodes a text without added tokens that is either fast-routable or at most
    /// [`PIPELINE_CHUNK`] bytes long.
    fn encode_piece(&self, text: &str, out: &mut Vec<u32>) -> Result<Route> {
        if text.is_ascii() {
            self.encode_ascii(text.as_bytes(), out);
            return Ok(Route::Ascii);
        }
        if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
            self.encode_chars(text, out);
            return Ok(Route::Unicode);
        }
        debug_assert!(text.len() <= PIPELINE_CHUNK);
        // Only the words NFKC would change need the pipeline, which is some 25 times slower:
        // an article with one "…" must not be sent to it whole. A cut after ASCII whitespace is
        // always safe (see `pieces`), so the text is cut there into runs that each take their
        // own route, and their ids are concatenated.
        let mut run = 0..0;
        let mut run_slow = false;
        for chunk in text.split_inclusive(|c: char| c.is_ascii_whitespace() || c == '\x0b') {
            let slow = !chunk.is_ascii() && is_nfkc_quick(chunk.chars()) != IsNormalized::Yes;
            if slow != run_slow && !run.is_empty() {
                self.encode_run(&text[run.clone()], run_slow, out)?;
                run.start = run.end;
            }
            run_slow = slow;
            run.end += chunk.len();
        }
        self.encode_run(&text[run], run_slow, out)?;
        Ok(Route::Pipeline)
    }

    /// Encodes a run of [`FastTokenizer::encode_piece`]: through the pipeline when `slow`,
    /// else (NFKC-stable text) on the fast path.
    fn encode_run(&self, run: &str, slow: bool, out: &mut Vec<u32>) -> Result<()> {
        if slow {
            out.extend(super::encode_reference(&self.hf, run)?);
        } else if run.is_ascii() {
            self.encode_ascii(run.as_bytes(), out);
        } else {
            self.encode_chars(run, out);
        }
        Ok(())
    }

    /// The added tokens' contents (matched before normalization).
    pub fn added_tokens(&self) -> &[String] {
        &self.added
    }

    #[inline]
    fn lookup(&self, word: &str) -> u32 {
        self.vocab.get(word).copied().unwrap_or(self.unk)
    }

    fn encode_ascii(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let mut word = [0u8; 64];
        let mut long = String::new();
        let mut len = 0usize;
        let flush = |word: &[u8; 64], len: &mut usize, long: &mut String, out: &mut Vec<u32>| {
            if *len == 0 {
                return;
            }
            let id = if *len <= 64 {
                // SAFETY-free: the buffer only ever holds ASCII bytes.
                self.lookup(std::str::from_utf8(&word[..*len]).unwrap_or(""))
            } else {
                self.lookup(long)
            };
            out.push(id);
            *len = 0;
            long.clear();
        };
        for &b in bytes {
            if matches!(b, b' ' | b'\t'..=b'\r') {
                flush(&word, &mut len, &mut long, out);
            } else if b.is_ascii_punctuation() {
                flush(&word, &mut len, &mut long, out);
                let p = [b];
                out.push(self.lookup(std::str::from_utf8(&p).unwrap_or("")));
            } else {
                let lower = b.to_ascii_lowercase();
                if len < 64 {
                    word[len] = lower;
                } else {
                    if len == 64 {
                        long.push_str(std::str::from_utf8(&word).unwrap_or(""));
                    }
                    long.push(lower as char);
                }
                len += 1;
            }
        }
        flush(&word, &mut len, &mut long, out);
    }

    fn encode_chars(&self, text: &str, out: &mut Vec<u32>) {
        let mut word = String::new();
        let mut punct = [0u8; 4];
        for c in text.chars() {
            // ASCII characters (most of any English text, typographic or not) take the byte
            // predicates of `encode_ascii`, which agree with the Unicode ones on ASCII: the
            // Unicode punctuation tables cost a search per character.
            if c.is_ascii() {
                let b = c as u8;
                if matches!(b, b' ' | b'\t'..=b'\r') || b.is_ascii_punctuation() {
                    if !word.is_empty() {
                        out.push(self.lookup(&word));
                        word.clear();
                    }
                    if b.is_ascii_punctuation() {
                        out.push(self.lookup(c.encode_utf8(&mut punct)));
                    }
                } else {
                    word.push(b.to_ascii_lowercase() as char);
                }
                continue;
            }
            for lc in c.to_lowercase() {
                if lc.is_whitespace() {
                    if !word.is_empty() {
                        out.push(self.lookup(&word));
                        word.clear();
                    }
                } else if lc.is_ascii_punctuation() || lc.is_punctuation() {
                    if !word.is_empty() {
                        out.push(self.lookup(&word));
                        word.clear();
                    }
                    out.push(self.lookup(lc.encode_utf8(&mut punct)));
                } else {
                    word.push(lc);
                }
            }
        }
        if !word.is_empty() {
            out.push(self.lookup(&word));
        }
    }
}

/// A piece of a text as cut by [`pieces`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// An occurrence of an added token (matched on the raw text, like the pipeline does).
    Added(&'a str),
    /// Text between added tokens.
    Text(&'a str),
}

/// Cuts a text into pieces whose token ids, encoded one by one and concatenated, are exactly the
/// ids of the whole text. Added tokens become their own pieces (leftmost, longest first, as the
/// pipeline's added-token matching). The text between them is cut into pieces of at most
/// [`PIPELINE_CHUNK`] bytes when it needs the pipeline (or always, with `cut_fast`), at the last
/// safe cut before the limit.
///
/// A cut between characters `p` and `c` is safe when `p` is whitespace or punctuation (so a word
/// ends there in the pre-tokenizer whatever follows) and NFKC of the whole equals NFKC of each
/// side: `p` is ASCII whitespace (nothing composes with it or reorders across it), or both are
/// ASCII, or `p` is NFKC-stable and `c` decomposes to a starter (combining class 0) that does not
/// compose with `p`. A run of text needing the pipeline longer than [`PIPELINE_CHUNK`]
/// without a safe cut is refused (it cannot be tokenized in bounded memory); a fast-routable run
/// without a cut stays whole.
pub fn pieces<'a>(text: &'a str, added: &[String], cut_fast: bool) -> Result<Vec<Piece<'a>>> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    loop {
        let next = added
            .iter()
            .filter(|t| !t.is_empty())
            .filter_map(|t| rest.find(t.as_str()).map(|i| (i, t.len())))
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let (seg, tok) = match next {
            Some((i, len)) => (&rest[..i], Some(&rest[i..i + len])),
            None => (rest, None),
        };
        cut_segment(seg, offset, cut_fast, &mut out)?;
        match tok {
            Some(t) => {
                out.push(Piece::Added(t));
                offset += seg.len() + t.len();
                rest = &rest[seg.len() + t.len()..];
            }
            None => return Ok(out),
        }
    }
}

fn cut_segment<'a>(
    seg: &'a str,
    offset: usize,
    cut_fast: bool,
    out: &mut Vec<Piece<'a>>,
) -> Result<()> {
    if seg.is_empty() {
        return Ok(());
    }
    let needs_pipeline = |t: &str| !t.is_ascii() && is_nfkc_quick(t.chars()) != IsNormalized::Yes;
    if seg.len() <= PIPELINE_CHUNK || !(cut_fast || needs_pipeline(seg)) {
        out.push(Piece::Text(seg));
        return Ok(());
    }
    let mut start = 0;
    while seg.len() - start > PIPELINE_CHUNK {
        let mut limit = start + PIPELINE_CHUNK;
        while !seg.is_char_boundary(limit) {
            limit -= 1;
        }
        match find_cut(seg, start, limit) {
            Some(cut) => {
                out.push(Piece::Text(&seg[start..cut]));
                start = cut;
            }
            None => {
                // No safe cut: the run stays whole, which is only acceptable on the fast routes.
                let end = seg[limit..]
                    .char_indices()
                    .map(|(i, _)| limit + i)
                    .find(|&j| j > start && cut_at(seg, j))
                    .unwrap_or(seg.len());
                let run = &seg[start..end];
                if needs_pipeline(run) {
                    return Err(StanceError::Unbounded {
                        offset: offset + start,
                        limit: PIPELINE_CHUNK,
                    });
                }
                out.push(Piece::Text(run));
                start = end;
            }
        }
    }
    if start < seg.len() {
        out.push(Piece::Text(&seg[start..]));
    }
    Ok(())
}

/// The last safe cut at a char boundary in `(start, limit]` (see [`pieces`]).
fn find_cut(s: &str, start: usize, limit: usize) -> Option<usize> {
    let mut i = limit;
    while i > start {
        if cut_at(s, i) {
            return Some(i);
        }
        i -= s[..i].chars().next_back()?.len_utf8();
    }
    None
}

/// Whether the char boundary `i` of `s` is a safe cut.
fn cut_at(s: &str, i: usize) -> bool {
    match (s[..i].chars().next_back(), s[i..].chars().next()) {
        (Some(p), Some(c)) => is_safe_cut(p, c),
        _ => false,
    }
}

fn is_safe_cut(p: char, c: char) -> bool {
    if !(p.is_whitespace() || p.is_ascii_punctuation() || p.is_punctuation()) {
        return false;
    }
    // No canonical composition starts with ASCII whitespace, and nothing reorders across a
    // starter: NFKC cannot join the two sides, whatever follows.
    if p.is_ascii_whitespace() || p == '\x0b' || (p.is_ascii() && c.is_ascii()) {
        return true;
    }
    // `p` is left unchanged by NFKC and ends a word; `c` decomposes to a starter that does not
    // compose with `p`, so NFKC of `c` and what follows starts afresh after `p`.
    let p_stable =
        canonical_combining_class(p) == 0 && is_nfkc_quick(std::iter::once(p)) == IsNormalized::Yes;
    let mut first = None;
    decompose_compatible(c, |d| {
        first.get_or_insert(d);
    });
    let d = first.unwrap_or(c);
    p_stable && canonical_combining_class(d) == 0 && compose(p, d).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{encode_reference, train_tokenizer};

    fn tk() -> FastTokenizer {
        let docs = [
            "Open weights, open science! Closed APIs?",
            "Café naïve résumé — “quoted” words… ΣΊΣΥΦΟΣ",
            "open weights are open; closed models are closed.",
        ];
        FastTokenizer::new(train_tokenizer(docs.iter(), 1, 10_000).unwrap())
    }

    fn check(t: &FastTokenizer, text: &str) -> Route {
        let mut ids = Vec::new();
        let route = t.encode(text, &mut ids).unwrap();
        assert_eq!(
            ids,
            encode_reference(t.pipeline(), text).unwrap(),
            "{text:?}"
        );
        route
    }

    #[test]
    fn each_route_matches_the_pipeline() {
        let t = tk();
        assert_eq!(
            check(&t, "OPEN weights, closed\tAPIs?!\n\x0bx\0y"),
            Route::Ascii
        );
        assert_eq!(check(&t, "Café “quoted” — ΣΊΣΥΦΟΣ words"), Route::Unicode);
        assert_eq!(check(&t, "ellipsis… and ﬁ ligature"), Route::Pipeline);
        assert_eq!(check(&t, "literal [UNK] token"), Route::Ascii);
        assert_eq!(check(&t, "[UNK]ﬁ[UNK][UNK]x"), Route::Pipeline);
        let long_word = "a".repeat(200);
        assert_eq!(check(&t, &long_word), Route::Ascii);
        check(&t, "");
        check(&t, "   ");
    }

    #[test]
    fn long_texts_are_cut_without_changing_ids() {
        let t = tk();
        let unit = "Open weights… ﬁne, “quoted” e\u{301} < \u{338} [UNK]x\tΣΊΣ. ";
        let long = unit.repeat(3 * PIPELINE_CHUNK / unit.len());
        assert_eq!(check(&t, &long), Route::Pipeline);
        let ps = pieces(&long, &[crate::tokenize::UNK.to_string()], false).unwrap();
        assert!(ps.len() > 3);
        for p in ps {
            if let Piece::Text(s) = p {
                assert!(s.len() <= PIPELINE_CHUNK);
            }
        }
        // A run that needs the pipeline and cannot be cut is refused, not tokenized whole.
        let uncuttable = "\u{fdfa}".repeat(PIPELINE_CHUNK);
        let mut ids = Vec::new();
        let err = t.encode(&uncuttable, &mut ids).unwrap_err().to_string();
        assert!(err.contains("bounded memory"), "{err}");
        // A fast-routable run without a cut stays whole.
        assert_eq!(check(&t, &"a".repeat(3 * PIPELINE_CHUNK)), Route::Ascii);
    }
}
