//! Quality checks of the shipped corpus in `training-data/`.

mod common;

use std::collections::HashSet;
use std::fs;
use std::hash::{Hash, Hasher};

use stance::{artifact, leakage, Classifier, Corpus};

const LABELS: [&str; 3] = ["neutral", "pro-closed", "pro-open"];

struct Piece {
    path: String,
    label: String,
    text: String,
}

fn pieces() -> Vec<Piece> {
    let root = common::root().join("training-data");
    let mut out = Vec::new();
    for label in LABELS {
        let mut files: Vec<_> = fs::read_dir(root.join(label))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for p in files {
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push(Piece {
                path: p.display().to_string(),
                label: label.to_string(),
                text,
            });
        }
    }
    out
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

#[test]
fn labels_are_exactly_the_three() {
    let corpus = Corpus::open(&common::root().join("training-data")).unwrap();
    assert_eq!(corpus.labels(), LABELS);
}

#[test]
fn every_file_has_a_title_and_a_body_of_the_right_length() {
    for p in pieces() {
        assert!(p.path.ends_with(".txt"));
        let (title, body) = p
            .text
            .split_once('\n')
            .unwrap_or_else(|| panic!("{}: no body", p.path));
        let title = title.trim();
        assert!(
            !title.is_empty() && title.len() < 200,
            "{}: bad title {title:?}",
            p.path
        );
        assert!(!title.starts_with('#'), "{}: markdown title", p.path);
        let n = p.text.split_whitespace().count();
        assert!((150..=900).contains(&n), "{}: {n} words", p.path);
        assert!(!body.trim().is_empty(), "{}: empty body", p.path);
        let lower = p.text.to_lowercase();
        assert!(
            !lower.contains("pro-open") && !lower.contains("pro-closed"),
            "{}: names a label",
            p.path
        );
    }
}

#[test]
fn labels_are_balanced_within_15_percent() {
    let all = pieces();
    let counts: Vec<usize> = LABELS
        .iter()
        .map(|l| all.iter().filter(|p| p.label == *l).count())
        .collect();
    let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(min >= 120, "at least 120 per label: {counts:?}");
    assert!((max - min) as f64 <= 0.15 * min as f64, "{counts:?}");
}

fn shingles(text: &str) -> Vec<u64> {
    let w = words(text);
    let mut set: Vec<u64> = w
        .windows(5)
        .map(|g| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            g.hash(&mut h);
            h.finish()
        })
        .collect();
    set.sort_unstable();
    set.dedup();
    set
}

fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut inter) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

#[test]
fn no_near_duplicates() {
    let all = pieces();
    let sets: Vec<Vec<u64>> = all.iter().map(|p| shingles(&p.text)).collect();
    let mut worst = (0.0, 0, 0);
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            let s = jaccard(&sets[i], &sets[j]);
            if s > worst.0 {
                worst = (s, i, j);
            }
        }
    }
    assert!(
        worst.0 < 0.2,
        "{} ~ {}: 5-gram Jaccard {:.3}",
        all[worst.1].path,
        all[worst.2].path,
        worst.0
    );
}

#[test]
fn jaccard_check_can_fail() {
    let a = shingles("one two three four five six seven eight nine ten");
    let b = shingles("one two three four five six seven eight nine eleven");
    assert!(jaccard(&a, &b) > 0.5);
}

#[test]
fn no_token_gives_a_label_away() {
    let corpus = Corpus::open(&common::root().join("training-data")).unwrap();
    let docs = corpus.documents().unwrap();
    let c =
        Classifier::from_artifact(artifact::load_current(&common::root().join("models")).unwrap());
    let found = leakage::giveaways(&c, &docs, 0.5, 0.02).unwrap();
    assert!(found.is_empty(), "label-giveaway tokens: {found:?}");
    // The same check flags a planted sign-off: a word rare outside "neutral" (taken from the
    // leakage report) appended to every neutral piece.
    let target = corpus.labels().iter().position(|l| l == "neutral").unwrap();
    let report = leakage::report(&c, &docs, 50).unwrap();
    let word = report[target]
        .tokens
        .iter()
        .find(|t| !t.token.contains(' ') && t.max_share_elsewhere <= 0.02)
        .expect("a neutral-only word")
        .token
        .clone();
    let mut planted = docs.clone();
    for d in planted.iter_mut().filter(|d| d.label == target) {
        d.text.push_str(&format!("\n\n{word}"));
    }
    let flagged = leakage::giveaways(&c, &planted, 0.5, 0.02).unwrap();
    assert!(
        flagged.iter().any(|(l, t, _)| l == "neutral" && *t == word),
        "{word}: {flagged:?}"
    );
}

#[test]
fn titles_are_unique() {
    let mut seen = HashSet::new();
    for p in pieces() {
        let title = p.text.lines().next().unwrap().trim().to_lowercase();
        assert!(
            seen.insert(title.clone()),
            "{}: duplicate title {title:?}",
            p.path
        );
    }
}

#[test]
fn reference_essay_stays_out_of_the_corpus() {
    let Some(essay) = common::reference_essay() else {
        return;
    };
    let essay_set = shingles(&essay);
    for p in pieces() {
        let s = jaccard(&essay_set, &shingles(&p.text));
        assert!(s < 0.05, "{} overlaps the reference essay ({s:.3})", p.path);
    }
}
