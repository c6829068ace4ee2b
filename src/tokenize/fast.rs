//! The serving fast path. It gives exactly the token ids (and byte offsets) of the saved
//! `tokenizer.json` pipeline (NFKC, then per-character lowercase, then split on Unicode whitespace
//! and isolate BERT punctuation, then WordLevel lookup), about twenty times faster:
//!
//! - [`Route::Ascii`] and [`Route::Table`]: one byte pass. ASCII bytes are NFKC-stable, so they are
//!   lowercased and split directly; each multi-byte character is looked up in a table computed
//!   once (see [`Table`]) of what NFKC, lowercase and the pre-tokenizer make of it, for the
//!   characters whose NFKC form cannot depend on their neighbours in such text (typographic
//!   punctuation, accented Latin, Greek, Cyrillic, symbols, and also "…", NBSP or "ﬁ" with their
//!   NFKC expansions). Real articles are almost all ASCII plus such characters.
//! - [`Route::Unicode`]: other text that passes the NFKC quick check is already normalized, so the
//!   same split runs over chars;
//! - [`Route::Pipeline`]: anything else (text that NFKC would change, e.g. combining marks) goes
//!   through the Hugging Face pipeline itself, in pieces of at most [`PIPELINE_CHUNK`] bytes cut
//!   where cutting cannot change the ids (see [`pieces`]), so that its memory (several hundred
//!   bytes per input byte for some characters) stays bounded whatever the text.
//!
//! Added tokens such as `[UNK]` are matched on the raw text before normalizing, as the pipeline
//! does, and the text between them is encoded piece by piece.
//!
//! `tests/it/tokenizer_equivalence.rs` checks the equality of ids and offsets over the whole corpus,
//! the reference essay, every table entry in context, and random input, short and long.

use std::sync::LazyLock;

use tokenizers::Tokenizer;
use unicode_categories::UnicodeCategories;
use unicode_normalization::char::{canonical_combining_class, compose, decompose_compatible};
use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

use super::vocab::Vocab;
use crate::error::{Result, StanceError};

/// The Hugging Face pipeline is never given more than this many bytes at once.
pub const PIPELINE_CHUNK: usize = 16 * 1024;

/// Which route a text took through [`FastTokenizer::encode`] (reported by benchmarks and tests);
/// for a text encoded in pieces, the slowest route any piece took. Ordered fastest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// Pure ASCII: the byte pass, no table lookups.
    Ascii,
    /// ASCII plus multi-byte characters all found in the precomputed table: the same byte pass.
    Table,
    /// NFKC-stable text with characters outside the table: a pass over chars.
    Unicode,
    /// Text NFKC changes in ways the table does not cover: the Hugging Face pipeline, in pieces.
    Pipeline,
}

/// Where the tokens of a pass go: ids only ([`FastTokenizer::encode`]) or ids and byte offsets
/// ([`FastTokenizer::encode_with_offsets`]). Generic so that the ids-only pass compiles without
/// any offset bookkeeping.
trait Sink {
    const OFFSETS: bool;
    fn push(&mut self, id: u32, start: usize, end: usize);
    fn len(&self) -> usize;
    fn truncate(&mut self, len: usize);
}

impl Sink for Vec<u32> {
    const OFFSETS: bool = false;
    #[inline]
    fn push(&mut self, id: u32, _: usize, _: usize) {
        Vec::push(self, id);
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

struct WithOffsets<'a> {
    ids: &'a mut Vec<u32>,
    offsets: &'a mut Vec<(usize, usize)>,
}

impl Sink for WithOffsets<'_> {
    const OFFSETS: bool = true;
    #[inline]
    fn push(&mut self, id: u32, start: usize, end: usize) {
        self.ids.push(id);
        self.offsets.push((start, end));
    }
    fn len(&self) -> usize {
        self.ids.len()
    }
    fn truncate(&mut self, len: usize) {
        self.ids.truncate(len);
        self.offsets.truncate(len);
    }
}

/// Vocabulary lookup tables built once from a trained [`Tokenizer`].
#[derive(Clone)]
pub struct FastTokenizer {
    hf: Tokenizer,
    /// Keyed by the token's UTF-8 bytes, so that words are built and looked up as bytes (no
    /// `char` encoding per ASCII letter).
    vocab: Vocab,
    /// Contents of added (special) tokens: text containing one is cut around them.
    added: Vec<String>,
    unk: u32,
    /// The id of each ASCII punctuation character (the byte pass's commonest lookup).
    ascii_punct: [u32; 128],
}

impl FastTokenizer {
    pub fn new(hf: Tokenizer) -> Self {
        let vocab = Vocab::new(hf.get_vocab(false));
        let added = hf
            .get_added_tokens_decoder()
            .values()
            .map(|t| t.content.clone())
            .collect();
        let unk = hf.token_to_id(super::UNK).unwrap_or(0);
        let mut ascii_punct = [unk; 128];
        for (b, id) in (0u8..128).zip(ascii_punct.iter_mut()) {
            if b.is_ascii_punctuation() {
                *id = vocab.get(&[b][..]).unwrap_or(unk);
            }
        }
        FastTokenizer {
            hf,
            vocab,
            added,
            unk,
            ascii_punct,
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
        self.run(text, out)
    }

    /// Like [`FastTokenizer::encode`], and also gives each token's byte offsets `(start, end)` in
    /// `text`, equal to the pipeline's `Encoding::get_offsets()`, so that callers can point at
    /// the words behind a score (highlighting). `ids` and `offsets` are cleared first and have the
    /// same length afterwards.
    pub fn encode_with_offsets(
        &self,
        text: &str,
        ids: &mut Vec<u32>,
        offsets: &mut Vec<(usize, usize)>,
    ) -> Result<Route> {
        ids.clear();
        offsets.clear();
        let mut sink = WithOffsets { ids, offsets };
        let r = self.run(text, &mut sink);
        if r.is_err() {
            sink.truncate(0);
        }
        r
    }

    /// Whether `text` takes only the fast routes (no pipeline work at all): cheap enough to score
    /// on an async worker when short.
    pub fn is_fast(&self, text: &str) -> bool {
        text.is_ascii() || TABLE.covers(text) || is_nfkc_quick(text.chars()) == IsNormalized::Yes
    }

    fn contains_added(&self, text: &str) -> bool {
        self.added.iter().any(|t| text.contains(t.as_str()))
    }

    fn run<S: Sink>(&self, text: &str, sink: &mut S) -> Result<Route> {
        if text.len() <= PIPELINE_CHUNK && !self.contains_added(text) {
            return self.encode_piece(text, 0, sink);
        }
        let mut route = Route::Ascii;
        for piece in pieces(text, &self.added, false)? {
            let r = match piece {
                Piece::Added(t) => {
                    let start = offset_in(text, t);
                    sink.push(
                        self.hf.token_to_id(t).unwrap_or(self.unk),
                        start,
                        start + t.len(),
                    );
                    Route::Ascii
                }
                Piece::Text(t) => self.encode_piece(t, offset_in(text, t), sink)?,
            };
            route = route.max(r);
        }
        Ok(route)
    }

    /// Encodes a text without added tokens, `base` bytes into the original, that is either
    /// fast-routable or at most [`PIPELINE_CHUNK`] bytes long.
    fn encode_piece<S: Sink>(&self, text: &str, base: usize, sink: &mut S) -> Result<Route> {
        if let Some(route) = self.encode_bytes(text, base, sink) {
            return Ok(route);
        }
        if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
            self.encode_chars(text, base, sink);
            return Ok(Route::Unicode);
        }
        debug_assert!(text.len() <= PIPELINE_CHUNK);
        if S::OFFSETS {
            for (id, (start, end)) in super::encode_reference_with_offsets(&self.hf, text)? {
                sink.push(id, base + start, base + end);
            }
        } else {
            for id in super::encode_reference(&self.hf, text)? {
                sink.push(id, 0, 0);
            }
        }
        Ok(Route::Pipeline)
    }

    /// The added tokens' contents (matched before normalization).
    pub fn added_tokens(&self) -> &[String] {
        &self.added
    }

    #[inline]
    fn lookup(&self, word: &[u8]) -> u32 {
        self.vocab.get(word).unwrap_or(self.unk)
    }

    #[inline]
    fn flush<S: Sink>(&self, word: &mut Vec<u8>, start: usize, end: usize, sink: &mut S) {
        if !word.is_empty() {
            sink.push(self.lookup(word), start, end);
            word.clear();
        }
    }

    /// The byte pass ([`Route::Ascii`] or [`Route::Table`]). Returns `None`, with `sink` as it
    /// was, at the first character the table does not cover.
    fn encode_bytes<S: Sink>(&self, text: &str, base: usize, sink: &mut S) -> Option<Route> {
        let table = &*TABLE;
        let bytes = text.as_bytes();
        let mark = sink.len();
        let mut word: Vec<u8> = Vec::with_capacity(64);
        // The current word's byte range in `text`.
        let (mut ws, mut we) = (0usize, 0usize);
        let mut route = Route::Ascii;
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b < 0x80 {
                if matches!(b, b' ' | b'\t'..=b'\r') {
                    self.flush(&mut word, base + ws, base + we, sink);
                } else if b.is_ascii_punctuation() {
                    self.flush(&mut word, base + ws, base + we, sink);
                    sink.push(self.ascii_punct[b as usize], base + i, base + i + 1);
                } else {
                    if word.is_empty() {
                        ws = i;
                    }
                    word.push(b.to_ascii_lowercase());
                    we = i + 1;
                }
                i += 1;
                continue;
            }
            let Some((c, parts)) = text
                .get(i..)
                .and_then(|rest| rest.chars().next())
                .and_then(|c| table.get(c).map(|p| (c, p)))
            else {
                sink.truncate(mark);
                return None;
            };
            route = Route::Table;
            let end = i + c.len_utf8();
            for part in parts {
                match part {
                    Part::Space => self.flush(&mut word, base + ws, base + we, sink),
                    Part::Punct(p) => {
                        self.flush(&mut word, base + ws, base + we, sink);
                        sink.push(self.lookup(p.as_bytes()), base + i, base + end);
                    }
                    Part::Word(w) => {
                        if word.is_empty() {
                            ws = i;
                        }
                        word.extend_from_slice(w.as_bytes());
                        we = end;
                    }
                }
            }
            i = end;
        }
        self.flush(&mut word, base + ws, base + we, sink);
        Some(route)
    }

    /// The char pass ([`Route::Unicode`]) for NFKC-stable text.
    fn encode_chars<S: Sink>(&self, text: &str, base: usize, sink: &mut S) {
        let mut word: Vec<u8> = Vec::new();
        let (mut ws, mut we) = (0usize, 0usize);
        let mut utf8 = [0u8; 4];
        for (i, c) in text.char_indices() {
            let end = i + c.len_utf8();
            for lc in c.to_lowercase() {
                match class_of(lc) {
                    Class::Space => self.flush(&mut word, base + ws, base + we, sink),
                    Class::Punct => {
                        self.flush(&mut word, base + ws, base + we, sink);
                        sink.push(
                            self.lookup(lc.encode_utf8(&mut utf8).as_bytes()),
                            base + i,
                            base + end,
                        );
                    }
                    Class::Word => {
                        if word.is_empty() {
                            ws = i;
                        }
                        word.extend_from_slice(lc.encode_utf8(&mut utf8).as_bytes());
                        we = end;
                    }
                }
            }
        }
        self.flush(&mut word, base + ws, base + we, sink);
    }
}

/// The byte offset of `part`, a slice of `text`, in `text`.
fn offset_in(text: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

/// How the pre-tokenizer treats one character of normalized text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Unicode whitespace: ends a word and is dropped.
    Space,
    /// BERT punctuation: ends a word and is a token of its own.
    Punct,
    /// Anything else: part of a word.
    Word,
}

fn class_of(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_ascii_punctuation() || c.is_punctuation() {
        Class::Punct
    } else {
        Class::Word
    }
}

/// One run of a table character's normalized, lowercased form, as the pre-tokenizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Space,
    /// One punctuation character (a token of its own).
    Punct(Box<str>),
    /// Word characters, appended to the current word.
    Word(Box<str>),
}

/// Code points from 0x80 up to (not including) this are in the table's low block.
const LOW_END: u32 = 0x3000;
/// Code points from this up to U+FFFF are in the table's high block (ligatures, presentation and
/// full-width forms).
const HIGH_START: u32 = 0xFB00;

/// The precomputed facts for multi-byte characters, built once per process (a few milliseconds).
static TABLE: LazyLock<Table> = LazyLock::new(Table::build);

/// What NFKC, lowercase and the pre-tokenizer make of each covered character: a dense index by
/// code point (U+0080 to U+2FFF and U+FB00 to U+FFFF) into a list of [`Part`]s.
///
/// A character is covered when its NFKC form cannot depend on its neighbours in a text made of
/// ASCII and covered characters: every character of its NFKC form is a starter (canonical
/// combining class 0, so nothing reorders across it), and the first passes the NFC quick check
/// (it is not a "Maybe", so it never composes with what precedes it; ASCII never does either).
/// Then NFKC of such a text is the concatenation of its characters' NFKC forms, and lowercase
/// and the pre-tokenizer work per character. Combining marks and other characters that can
/// compose are not covered: text with them leaves the byte pass.
struct Table {
    low: Vec<u16>,
    high: Vec<u16>,
    /// `entries[0]` is unused: index 0 means "not covered".
    entries: Vec<Box<[Part]>>,
}

impl Table {
    fn build() -> Table {
        let mut t = Table {
            low: vec![0; (LOW_END - 0x80) as usize],
            high: vec![0; (0x10000 - HIGH_START) as usize],
            entries: vec![Vec::new().into_boxed_slice()],
        };
        for cp in (0x80..LOW_END).chain(HIGH_START..0x10000) {
            let Some(parts) = char::from_u32(cp).and_then(table_entry) else {
                continue;
            };
            let Ok(index) = u16::try_from(t.entries.len()) else {
                break;
            };
            let slot = if cp < LOW_END {
                t.low.get_mut((cp - 0x80) as usize)
            } else {
                t.high.get_mut((cp - HIGH_START) as usize)
            };
            if let Some(slot) = slot {
                *slot = index;
                t.entries.push(parts.into_boxed_slice());
            }
        }
        t
    }

    #[inline]
    fn get(&self, c: char) -> Option<&[Part]> {
        let cp = c as u32;
        let index = if cp < LOW_END {
            self.low.get(cp.checked_sub(0x80)? as usize)
        } else {
            self.high.get(cp.checked_sub(HIGH_START)? as usize)
        };
        match index.copied() {
            None | Some(0) => None,
            Some(i) => self.entries.get(i as usize).map(|p| &p[..]),
        }
    }

    /// Whether every character of `text` is ASCII or in the table.
    fn covers(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b < 0x80 {
                i += 1;
                continue;
            }
            match text.get(i..).and_then(|rest| rest.chars().next()) {
                Some(c) if self.get(c).is_some() => i += c.len_utf8(),
                _ => return false,
            }
        }
        true
    }
}

/// The multi-byte characters the byte pass covers ([`Route::Table`]), in code point order: for
/// the differential tests, which check each one against the pipeline in context.
pub fn table_chars() -> Vec<char> {
    (0x80..LOW_END)
        .chain(HIGH_START..0x10000)
        .filter_map(char::from_u32)
        .filter(|&c| TABLE.get(c).is_some())
        .collect()
}

/// The table entry of one character, or `None` if it is not covered (see [`Table`]).
fn table_entry(c: char) -> Option<Vec<Part>> {
    let nfkc: String = std::iter::once(c).nfkc().collect();
    let first = nfkc.chars().next()?;
    if is_nfc_quick(std::iter::once(first)) != IsNormalized::Yes
        || nfkc.chars().any(|d| canonical_combining_class(d) != 0)
    {
        return None;
    }
    let lowered: String = nfkc.chars().flat_map(char::to_lowercase).collect();
    // The pipeline's own normalizers must agree (they carry their own Unicode tables, which may
    // be of another Unicode version): a character they treat otherwise is left to the pipeline.
    let mut hf = tokenizers::NormalizedString::from(c.to_string());
    hf.nfkc().lowercase();
    if hf.get() != lowered {
        return None;
    }
    let mut parts = Vec::new();
    let mut word = String::new();
    for lc in lowered.chars() {
        let class = class_of(lc);
        if class != Class::Word && !word.is_empty() {
            parts.push(Part::Word(std::mem::take(&mut word).into_boxed_str()));
        }
        match class {
            Class::Space => parts.push(Part::Space),
            Class::Punct => parts.push(Part::Punct(lc.to_string().into_boxed_str())),
            Class::Word => word.push(lc),
        }
    }
    if !word.is_empty() {
        parts.push(Part::Word(word.into_boxed_str()));
    }
    Some(parts)
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
    let needs_pipeline = |t: &str| {
        !t.is_ascii() && !TABLE.covers(t) && is_nfkc_quick(t.chars()) != IsNormalized::Yes
    };
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
    use crate::tokenize::{encode_reference, encode_reference_with_offsets, train_tokenizer};

    fn tk() -> FastTokenizer {
        let docs = [
            "Open weights, open science! Closed APIs?",
            "Café naïve résumé — “quoted” words… ΣΊΣΥΦΟΣ",
            "open weights are open; closed models are closed.",
        ];
        FastTokenizer::new(train_tokenizer(docs.iter(), 1, 10_000).unwrap())
    }

    /// Ids and offsets equal the pipeline's; returns the route taken.
    fn check(t: &FastTokenizer, text: &str) -> Route {
        let mut ids = Vec::new();
        let route = t.encode(text, &mut ids).unwrap();
        assert_eq!(
            ids,
            encode_reference(t.pipeline(), text).unwrap(),
            "{text:?}"
        );
        let (mut ids2, mut offsets) = (Vec::new(), Vec::new());
        let route2 = t
            .encode_with_offsets(text, &mut ids2, &mut offsets)
            .unwrap();
        let reference = encode_reference_with_offsets(t.pipeline(), text).unwrap();
        let (ref_ids, ref_offsets): (Vec<u32>, Vec<(usize, usize)>) = reference.into_iter().unzip();
        assert_eq!((route2, &ids2), (route, &ref_ids), "{text:?}");
        assert_eq!(offsets, ref_offsets, "offsets of {text:?}");
        route
    }

    #[test]
    fn each_route_matches_the_pipeline() {
        let t = tk();
        assert_eq!(
            check(&t, "OPEN weights, closed\tAPIs?!\n\x0bx\0y"),
            Route::Ascii
        );
        assert_eq!(check(&t, "Café “quoted” — ΣΊΣΥΦΟΣ words"), Route::Table);
        assert_eq!(
            check(&t, "ellipsis… and ﬁ ligature\u{a0}NBSP"),
            Route::Table
        );
        assert_eq!(check(&t, "İstanbul ℅ ½ ™ Ⅻ ＡＢＣ"), Route::Table);
        assert_eq!(check(&t, "Café 日本語 words"), Route::Unicode);
        assert_eq!(check(&t, "Cafe\u{301} … words"), Route::Pipeline);
        assert_eq!(check(&t, "literal [UNK] token"), Route::Ascii);
        assert_eq!(check(&t, "literal [UNK]— token"), Route::Table);
        assert_eq!(check(&t, "[UNK]e\u{301}[UNK][UNK]x"), Route::Pipeline);
        let long_word = "a".repeat(200);
        assert_eq!(check(&t, &long_word), Route::Ascii);
        check(&t, "");
        check(&t, "   ");
    }

    #[test]
    fn table_covers_typographic_text_but_not_what_composes() {
        for c in "’—“”–…•‘\u{a0}éÉñüçßﬁ€£©™½".chars() {
            assert!(TABLE.get(c).is_some(), "{c:?} not covered");
        }
        // Combining marks, the Hangul vowels that compose with a leading consonant, characters
        // that compose with what precedes them, and characters beyond the table's blocks.
        for c in "\u{301}\u{338}\u{1161}\u{9be}\u{ff9e}日🤖".chars() {
            assert!(TABLE.get(c).is_none(), "{c:?} covered");
        }
        assert!(TABLE.get('a').is_none(), "ASCII is the byte pass's own");
        // NFKC of a covered character next to any covered character or ASCII is the
        // concatenation of their NFKC forms (the reason per-character entries are right).
        let chars = table_chars();
        let sample: Vec<char> = chars
            .iter()
            .copied()
            .step_by(97)
            .chain("’—“”…\u{a0}éﬁ".chars())
            .chain(['a', 'e', 'z', '.', ' '])
            .collect();
        let nfkc = |s: &str| s.nfkc().collect::<String>();
        for &c in &chars {
            for &d in &sample {
                let (c, d) = (c.to_string(), d.to_string());
                assert_eq!(nfkc(&(c.clone() + &d)), nfkc(&c) + &nfkc(&d), "{c:?}{d:?}");
                assert_eq!(nfkc(&(d.clone() + &c)), nfkc(&d) + &nfkc(&c), "{d:?}{c:?}");
            }
        }
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
        let uncuttable = "\u{1d400}".repeat(PIPELINE_CHUNK);
        let mut ids = Vec::new();
        let err = t.encode(&uncuttable, &mut ids).unwrap_err().to_string();
        assert!(err.contains("bounded memory"), "{err}");
        let mut offsets = Vec::new();
        assert!(t
            .encode_with_offsets(&uncuttable, &mut ids, &mut offsets)
            .is_err());
        assert!(ids.is_empty() && offsets.is_empty());
        // Fast-routable runs without a cut stay whole: ASCII, and table characters that NFKC
        // expands ("…" has no safe cut for the pipeline but needs none).
        assert_eq!(check(&t, &"a".repeat(3 * PIPELINE_CHUNK)), Route::Ascii);
        assert_eq!(check(&t, &"…".repeat(PIPELINE_CHUNK)), Route::Table);
        assert_eq!(
            check(&t, &format!("[UNK]{}", "\u{fdfa}".repeat(PIPELINE_CHUNK))),
            Route::Table
        );
    }
}
