//! Quality checks of the shipped corpus in `training-data/`.

use crate::common;

use std::collections::{HashMap, HashSet};
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
    pieces_of("training-data", &LABELS)
}

fn pieces_of(folder: &str, labels: &[&str]) -> Vec<Piece> {
    let root = common::root().join(folder);
    let mut out = Vec::new();
    for &label in labels {
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
        let n = body.split_whitespace().count();
        assert!((60..=900).contains(&n), "{}: {n} words", p.path);
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
    assert!(min >= 400, "at least 400 per label: {counts:?}");
    assert!((max - min) as f64 <= 0.15 * min as f64, "{counts:?}");
}

/// The hash of every run of `n` consecutive words of `text`.
fn window_hashes(text: &str, n: usize) -> Vec<u64> {
    words(text)
        .windows(n)
        .map(|g| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            g.hash(&mut h);
            h.finish()
        })
        .collect()
}

fn shingles(text: &str) -> Vec<u64> {
    let mut set = window_hashes(text, 5);
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
    let worst = most_similar_pair(&sets);
    assert!(
        worst.0 < 0.2,
        "{} ~ {}: 5-gram Jaccard {:.3}",
        all[worst.1].path,
        all[worst.2].path,
        worst.0
    );
}

/// The pair of shingle sets with the highest Jaccard similarity `(similarity, i, j)`, `i < j`,
/// the first such pair on ties. Only pairs sharing a shingle can be similar, so they are found
/// through an index from shingle to the sets holding it rather than by trying every pair.
fn most_similar_pair(sets: &[Vec<u64>]) -> (f64, usize, usize) {
    let mut holders: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, set) in sets.iter().enumerate() {
        for &g in set {
            holders.entry(g).or_default().push(i);
        }
    }
    let mut worst = (0.0, 0, 0);
    let mut shared = vec![0usize; sets.len()];
    for (i, set) in sets.iter().enumerate() {
        let mut touched = Vec::new();
        for g in set {
            for &j in holders[g].iter().filter(|&&j| j > i) {
                if shared[j] == 0 {
                    touched.push(j);
                }
                shared[j] += 1;
            }
        }
        touched.sort_unstable();
        for j in touched {
            let inter = std::mem::take(&mut shared[j]);
            let s = inter as f64 / (set.len() + sets[j].len() - inter) as f64;
            if s > worst.0 {
                worst = (s, i, j);
            }
        }
    }
    worst
}

#[test]
fn jaccard_check_can_fail() {
    let a = shingles("one two three four five six seven eight nine ten");
    let b = shingles("one two three four five six seven eight nine eleven");
    assert!(jaccard(&a, &b) > 0.5);
    // The indexed search finds the pair that trying every pair finds.
    let c = shingles("alpha beta gamma delta epsilon zeta eta theta iota kappa");
    let d = shingles("six seven eight nine ten twelve thirteen");
    let sets = [c, a.clone(), b.clone(), d.clone()];
    let (s, i, j) = most_similar_pair(&sets);
    assert_eq!((i, j), (1, 2));
    assert_eq!(s, jaccard(&a, &b));
    assert_eq!(most_similar_pair(&sets[..1]), (0.0, 0, 0));
    assert!(most_similar_pair(&[a.clone(), d.clone()]).0 == jaccard(&a, &d));
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

/// Titles are unique within a label (replies in one forum thread share its title across labels,
/// as real threads do, one reply per stance).
#[test]
fn titles_are_unique() {
    let mut seen = HashSet::new();
    for p in pieces() {
        let title = p.text.lines().next().unwrap().trim().to_lowercase();
        assert!(
            seen.insert((p.label.clone(), title.clone())),
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

fn jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn field<'a>(r: &'a serde_json::Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

/// Every piece is in the manifest with its writer, batch, genre and length band; every batch says
/// what it read; every writer of new pieces wrote the three labels in equal measure.
#[test]
fn manifest_records_every_piece_and_batch() {
    let root = common::root().join("training-data");
    let man = jsonl(&root.join("manifest.jsonl"));
    let files: HashSet<String> = man.iter().map(|r| field(r, "file").to_string()).collect();
    let all = pieces();
    assert_eq!(files.len(), man.len(), "a file is listed twice");
    assert_eq!(files.len(), all.len(), "manifest and folders differ");
    for p in &all {
        let rel = format!(
            "{}/{}",
            p.label,
            std::path::Path::new(&p.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
        );
        assert!(files.contains(&rel), "{rel} is not in the manifest");
    }
    let batches: std::collections::HashMap<String, serde_json::Value> =
        jsonl(&root.join("batches.jsonl"))
            .into_iter()
            .map(|b| (field(&b, "batch").to_string(), b))
            .collect();
    let mut per_writer: std::collections::BTreeMap<&str, [usize; 3]> = Default::default();
    let mut short = 0;
    for r in &man {
        for k in ["writer", "batch", "genre", "length_band", "design"] {
            assert!(!field(r, k).is_empty(), "{}: no {k}", field(r, "file"));
        }
        let band = field(r, "length_band");
        assert!(band == "short" || band == "long", "{band}");
        let b = &batches[field(r, "batch")];
        if field(r, "design") == "legacy" {
            // The first corpus recorded neither writers nor sources; each of its pieces is its own
            // group in grouped cross-validation.
            continue;
        }
        assert!(
            b["sources"].as_array().is_some_and(|s| !s.is_empty()),
            "batch {} lists no sources",
            field(r, "batch")
        );
        short += (band == "short") as usize;
        let l = LABELS.iter().position(|x| *x == field(r, "label")).unwrap();
        per_writer.entry(field(r, "writer")).or_default()[l] += 1;
    }
    let new = man
        .iter()
        .filter(|r| field(r, "design") != "legacy")
        .count();
    assert!(
        short as f64 >= 0.35 * new as f64,
        "{short} short pieces of {new} new ones"
    );
    for (w, c) in per_writer {
        let (min, max) = (*c.iter().min().unwrap(), *c.iter().max().unwrap());
        assert!(
            min > 0 && (max - min) as f64 <= 0.15 * max as f64,
            "writer {w}: {c:?}"
        );
    }
}

/// No batch used a page the real-world evaluation sets come from.
#[test]
fn no_batch_read_an_excluded_source() {
    let Ok(excluded) =
        fs::read_to_string(common::root().join("../shared/realworld/exclude-sources.txt"))
    else {
        eprintln!("../shared/realworld not present; skipped");
        return;
    };
    let excluded: HashSet<&str> = excluded
        .lines()
        .map(|l| l.trim().trim_end_matches('/'))
        .collect();
    for folder in ["training-data", "offtopic-data", "calibration-data"] {
        for b in jsonl(&common::root().join(folder).join("batches.jsonl")) {
            for u in b["sources"].as_array().unwrap() {
                let u = u.as_str().unwrap().trim_end_matches('/');
                assert!(
                    !excluded.contains(u),
                    "batch {} read excluded {u}",
                    field(&b, "batch")
                );
            }
        }
    }
}

/// Copying from the evaluation set shows as shared runs of words: a piece may share a few 8-word
/// phrases with a real-world dev excerpt (common phrases do), but not 8 or more with one excerpt, and
/// no 16-word run (the limits of `../shared/realworld/overlap.py`). Every excerpt's runs are hashed
/// and indexed once, so a piece is checked against all excerpts in one pass over its own runs.
struct DevRuns {
    excerpts: usize,
    with_8: HashMap<u64, Vec<usize>>,
    with_16: HashMap<u64, usize>,
}

fn runs(text: &str, n: usize) -> HashSet<u64> {
    window_hashes(&text.replace('\u{2019}', "'"), n)
        .into_iter()
        .collect()
}

impl DevRuns {
    /// The dev set's excerpts, when `../shared` is present.
    fn load() -> Option<Self> {
        let dev = fs::read_to_string(common::root().join("../shared/realworld/dev.jsonl")).ok()?;
        let mut d = DevRuns {
            excerpts: 0,
            with_8: HashMap::new(),
            with_16: HashMap::new(),
        };
        for (i, l) in dev.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let t = v["text"].as_str().unwrap();
            for g in runs(t, 8) {
                d.with_8.entry(g).or_default().push(i);
            }
            for g in runs(t, 16) {
                d.with_16.insert(g, i);
            }
            d.excerpts = i + 1;
        }
        Some(d)
    }

    /// Why `text` looks copied from an excerpt (numbered from 1), if it does.
    fn copied(&self, text: &str) -> Option<String> {
        let mut shared = vec![0usize; self.excerpts];
        for g in runs(text, 8) {
            for &i in self.with_8.get(&g).into_iter().flatten() {
                shared[i] += 1;
            }
        }
        if let Some((i, n)) = shared.iter().enumerate().find(|(_, n)| **n >= 8) {
            return Some(format!("shares {n} 8-word runs with dev excerpt {}", i + 1));
        }
        runs(text, 16)
            .iter()
            .find_map(|g| self.with_16.get(g))
            .map(|i| format!("shares a 16-word run with dev excerpt {}", i + 1))
    }
}

#[test]
fn no_piece_copies_the_dev_set() {
    let Some(dev) = DevRuns::load() else {
        eprintln!("../shared/realworld not present; skipped");
        return;
    };
    let mut all = pieces();
    all.extend(pieces_of("offtopic-data", &["off-topic"]));
    all.extend(pieces_of("calibration-data", &LABELS));
    for p in all {
        if let Some(why) = dev.copied(&p.text) {
            panic!("{} {why}", p.path);
        }
    }
}

/// The copy check finds a 16-word run and eight 8-word runs, allows seven, and passes a text
/// of its own.
#[test]
fn dev_copy_check_can_fail() {
    let Some(dev) = DevRuns::load() else {
        eprintln!("../shared/realworld not present; skipped");
        return;
    };
    let text = fs::read_to_string(common::root().join("../shared/realworld/dev.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let w: Vec<&str> = first["text"].as_str().unwrap().split_whitespace().collect();
    assert!(
        w.len() >= 40,
        "the first excerpt is long enough to cut runs from"
    );
    let run16 = format!(
        "My own words first. {} and then mine again.",
        w[..16].join(" ")
    );
    assert!(dev.copied(&run16).is_some());
    // Eight separate 8-word runs, each broken off from the next.
    let eights: Vec<String> = (0..8).map(|k| w[k * 4..k * 4 + 8].join(" ")).collect();
    let why = dev.copied(&eights.join(" | zzqx | ")).unwrap();
    assert!(why.contains("8 8-word runs"), "{why}");
    // Seven are allowed: common phrases recur.
    assert!(dev.copied(&eights[..7].join(" | zzqx | ")).is_none());
    assert!(dev
        .copied("A sentence nobody has ever published about sourdough starters.")
        .is_none());
}

/// The off-topic corpus: at least 450 pieces of the same format, 60% or more near-topic, each in the
/// manifest with its kind, and a valid one-label corpus.
#[test]
fn offtopic_corpus_is_well_formed() {
    let root = common::root().join("offtopic-data");
    let corpus = Corpus::open_with(&root, 1).unwrap();
    assert_eq!(corpus.labels(), ["off-topic"]);
    let all = pieces_of("offtopic-data", &["off-topic"]);
    assert!(all.len() >= 450, "{} off-topic pieces", all.len());
    for p in &all {
        let (_, body) = p.text.split_once('\n').unwrap();
        let n = body.split_whitespace().count();
        assert!((60..=900).contains(&n), "{}: {n} words", p.path);
    }
    let man = jsonl(&root.join("manifest.jsonl"));
    assert_eq!(man.len(), all.len());
    let near = man.iter().filter(|r| field(r, "kind") == "near").count();
    let far = man.iter().filter(|r| field(r, "kind") == "far").count();
    assert_eq!(near + far, man.len(), "every piece is near or far");
    assert!(
        near as f64 >= 0.6 * man.len() as f64,
        "{near} near of {}",
        man.len()
    );
    let short = man
        .iter()
        .filter(|r| field(r, "length_band") == "short")
        .count();
    assert!(short as f64 >= 0.35 * man.len() as f64);
}

/// The calibration set: the three labels in equal numbers, every piece in its manifest with a
/// writer whose batch lists its sources, no writer of the training corpus (the temperature is
/// fitted on writers the model never saw), and no piece close to a training piece.
#[test]
fn calibration_set_is_balanced_and_kept_out_of_training() {
    let root = common::root().join("calibration-data");
    let corpus = Corpus::open(&root).unwrap();
    assert_eq!(corpus.labels(), LABELS);
    let per = &corpus.stats().documents_per_label;
    assert!(per.iter().all(|&n| n == per[0] && n > 0), "{per:?}");
    let held = pieces_of("calibration-data", &LABELS);
    let man = jsonl(&root.join("manifest.jsonl"));
    assert_eq!(man.len(), held.len(), "manifest and folders differ");
    let batches: HashMap<String, serde_json::Value> = jsonl(&root.join("batches.jsonl"))
        .into_iter()
        .map(|b| (field(&b, "batch").to_string(), b))
        .collect();
    let training_writers: HashSet<String> =
        jsonl(&common::root().join("training-data/manifest.jsonl"))
            .iter()
            .map(|r| field(r, "writer").to_string())
            .collect();
    for r in &man {
        assert!(
            root.join(field(r, "file")).is_file(),
            "{}",
            field(r, "file")
        );
        let w = field(r, "writer");
        assert!(
            !w.is_empty() && !training_writers.contains(w),
            "writer {w:?}"
        );
        let b = &batches[field(r, "batch")];
        assert!(b["sources"].as_array().is_some_and(|s| !s.is_empty()));
    }
    for p in &held {
        let (_, body) = p.text.split_once('\n').unwrap();
        let n = body.split_whitespace().count();
        assert!((60..=900).contains(&n), "{}: {n} words", p.path);
    }
    let mut all = pieces();
    let trained = all.len();
    all.extend(held);
    let sets: Vec<Vec<u64>> = all.iter().map(|p| shingles(&p.text)).collect();
    for (i, set) in sets.iter().enumerate().skip(trained) {
        for (j, other) in sets[..trained].iter().enumerate() {
            let sim = jaccard(set, other);
            assert!(
                sim < 0.2,
                "{} ~ {}: 5-gram Jaccard {sim:.3}",
                all[i].path,
                all[j].path
            );
        }
    }
}

/// Review finding: a `manifest.jsonl` that starts with a byte-order mark was refused as
/// malformed JSON on line 1, though files may start with one.
#[test]
fn a_manifest_may_start_with_a_byte_order_mark() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    common::small_corpus(&data);
    let mut manifest = String::from("\u{feff}");
    for label in LABELS {
        for i in 0..6 {
            let line = serde_json::json!({
                "file": format!("{label}/doc-{i}.txt"), "label": label, "writer": format!("w{i}")
            });
            manifest.push_str(&format!("{line}\n"));
        }
    }
    common::write(&data.join("manifest.jsonl"), manifest);
    let corpus = Corpus::open(&data).unwrap_or_else(|e| panic!("{e}"));
    let groups = corpus.group_keys("writer").unwrap();
    assert_eq!(groups.iter().collect::<HashSet<_>>().len(), 6);
}

/// Review finding: a symlinked `.txt` file in a label folder was "an unexpected entry", a
/// symlinked label folder "a stray file": links are now read as what they point to, and a
/// dangling one is an error naming it.
#[test]
fn symlinks_in_a_corpus_are_read_as_what_they_point_to() {
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let (store, data) = (t.path().join("store"), t.path().join("data"));
    common::small_corpus(&store);
    fs::create_dir(&data).unwrap();
    symlink(store.join("neutral"), data.join("neutral")).unwrap();
    for label in ["pro-closed", "pro-open"] {
        fs::create_dir(data.join(label)).unwrap();
        for i in 0..6 {
            let name = format!("doc-{i}.txt");
            symlink(store.join(label).join(&name), data.join(label).join(&name)).unwrap();
        }
    }
    let corpus = Corpus::open(&data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(corpus.labels(), LABELS);
    assert_eq!(corpus.len(), 18);
    symlink(
        t.path().join("gone.txt"),
        data.join("pro-open/dangling.txt"),
    )
    .unwrap();
    let err = Corpus::open(&data).unwrap_err().to_string();
    assert!(
        err.contains("dangling.txt") && err.contains("link"),
        "{err}"
    );
    fs::remove_file(data.join("pro-open/dangling.txt")).unwrap();
    symlink(t.path().join("gone"), data.join("lost-label")).unwrap();
    let err = Corpus::open(&data).unwrap_err().to_string();
    assert!(err.contains("lost-label") && err.contains("link"), "{err}");
}
