//! Which tokens are function words and punctuation (features made only of them are style, not
//! argument), and which open or close a negation scope. Stop-words are NLTK's English list, from
//! the `stop-words` crate, less the few function words that carry a position rather than a style:
//! negations ("not", "no", "nor", the "t" of "n't") and the modal "should" ("weights should stay
//! closed" argues; "the weights were released" reports).

use rustc_hash::FxHashSet;

/// Words that open a negation scope. `t` is the end of "n't" ("don't" is split into `don`, `'`,
/// `t` by the BERT pre-tokenizer).
const NEGATORS: &[&str] = &[
    "not", "no", "never", "nor", "neither", "cannot", "without", "nobody", "nothing", "none",
    "nowhere", "t",
];

/// NLTK stop-words kept as evidence (see the module documentation).
const KEPT: &[&str] = &["not", "no", "nor", "t", "should", "against"];

/// Tokens that close a negation scope: clause and sentence punctuation, and "but".
const SCOPE_ENDERS: &[&str] = &[
    ".", ",", ";", ":", "!", "?", "(", ")", "[", "]", "\"", "“", "”", "—", "–", "but",
];

/// Per-token facts for a vocabulary, indexed by token id.
#[derive(Debug, Clone)]
pub struct TokenClasses {
    stop: Vec<bool>,
    punct: Vec<bool>,
    triggers: Vec<u32>,
    enders: Vec<u32>,
    opens: Vec<bool>,
    closes: Vec<bool>,
}

/// True when a token has no letter or digit (punctuation, symbols).
pub fn is_punctuation(token: &str) -> bool {
    !token.chars().any(char::is_alphanumeric)
}

/// NLTK's English stop-words, as the list is (for measuring explanations against it).
pub fn nltk_stop_words() -> FxHashSet<&'static str> {
    stop_words::get("en").iter().copied().collect()
}

/// The stop-words stance leaves out of its features: NLTK's list less [`KEPT`].
pub fn stop_words() -> FxHashSet<&'static str> {
    nltk_stop_words()
        .into_iter()
        .filter(|w| !KEPT.contains(w))
        .collect()
}

impl TokenClasses {
    /// `tokens[id]` is the token string of id `id`.
    pub fn from_tokens(tokens: Vec<String>) -> Self {
        let stops = stop_words();
        let punct: Vec<bool> = tokens.iter().map(|t| is_punctuation(t)).collect();
        let stop = tokens
            .iter()
            .zip(&punct)
            .map(|(t, &p)| p || stops.contains(t.as_str()))
            .collect();
        let find = |words: &[&str]| -> Vec<u32> {
            let mut ids: Vec<u32> = tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| words.contains(&t.as_str()))
                .map(|(i, _)| i as u32)
                .collect();
            ids.sort_unstable();
            ids
        };
        let triggers = find(NEGATORS);
        let enders = find(SCOPE_ENDERS);
        let mut opens = vec![false; tokens.len()];
        let mut closes = vec![false; tokens.len()];
        triggers.iter().for_each(|&i| opens[i as usize] = true);
        enders.iter().for_each(|&i| closes[i as usize] = true);
        TokenClasses {
            stop,
            punct,
            triggers,
            enders,
            opens,
            closes,
        }
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop.get(id as usize).copied().unwrap_or(true)
    }

    /// Punctuation and symbols only (no letter or digit); ids outside the vocabulary count too.
    pub fn is_punct(&self, id: u32) -> bool {
        self.punct.get(id as usize).copied().unwrap_or(true)
    }

    pub fn opens_scope(&self, id: u32) -> bool {
        self.opens.get(id as usize).copied().unwrap_or(false)
    }

    pub fn closes_scope(&self, id: u32) -> bool {
        self.closes.get(id as usize).copied().unwrap_or(false)
    }

    pub fn triggers(&self) -> &[u32] {
        &self.triggers
    }

    pub fn enders(&self) -> &[u32] {
        &self.enders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_word_lists() {
        let c = TokenClasses::from_tokens(
            [
                "[UNK]", "the", "open", ".", "not", "t", "—", "2024", "should",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
        assert!(c.is_stop(1) && c.is_stop(3) && c.is_stop(6));
        assert!(c.is_punct(3) && c.is_punct(6) && !c.is_punct(1) && !c.is_punct(7));
        assert!(!c.is_stop(2) && !c.is_stop(7) && !c.is_stop(4) && !c.is_stop(8));
        assert!(nltk_stop_words().contains("should") && !stop_words().contains("should"));
        assert_eq!(c.triggers(), [4, 5]);
        assert_eq!(c.enders(), [3, 6]);
        assert!(c.opens_scope(4) && c.closes_scope(3) && !c.opens_scope(2));
    }
}
