//! Criterion benchmarks: tokenization (Hugging Face pipeline vs the serving fast path), scoring,
//! explaining, and training on the shipped corpus. Run with `cargo bench --bench throughput`.
//!
//! Inputs, each beside its ASCII variant (the same text with typographic characters replaced by
//! ASCII ones, so the cost of those characters shows): the reference essay
//! (`../shared/reference/reference-essay.txt`, skipped when absent) and the corpus article
//! closest to 3 KB among those with typographic punctuation. Benchmark ids are
//! `<group>/<what>/<input>`, e.g. `score/score/essay`.

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stance::tokenize::encode_reference;
use stance::{artifact, train, Classifier, Corpus, TrainParams};
use unicode_normalization::UnicodeNormalization;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Characters that mark published (typeset) prose; `bench/load.sh` picks its article by the same
/// rule.
const TYPOGRAPHIC: &[char] = &['’', '‘', '“', '”', '—', '–', '…'];

/// The corpus article closest to 3 KB (ties by path) among those with typographic punctuation:
/// a realistic request body.
fn typographic_article() -> Option<String> {
    let corpus = Corpus::open(&root().join("training-data")).unwrap();
    let mut best: Option<(usize, String, String)> = None;
    corpus
        .for_each(|d| {
            if d.text.contains(TYPOGRAPHIC) {
                let key = (d.text.len().abs_diff(3000), d.source.clone());
                if best.as_ref().is_none_or(|b| key < (b.0, b.1.clone())) {
                    best = Some((key.0, key.1, d.text));
                }
            }
            Ok(())
        })
        .unwrap();
    best.map(|b| b.2)
}

/// The same text in ASCII: typographic punctuation and spaces by their ASCII look-alikes,
/// accented letters without their accents, anything else as `?`.
fn ascii_variant(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '’' | '‘' | '′' => out.push('\''),
            '“' | '”' | '″' => out.push('"'),
            '—' | '–' | '‐' | '‑' | '−' => out.push('-'),
            '…' => out.push_str("..."),
            '•' => out.push('*'),
            c if c.is_ascii() => out.push(c),
            c if c.is_whitespace() => out.push(' '),
            c => {
                let base: String = std::iter::once(c).nfkd().filter(char::is_ascii).collect();
                out.push_str(if base.is_empty() { "?" } else { &base });
            }
        }
    }
    out
}

fn inputs() -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let essay = std::fs::read_to_string(root().join("../shared/reference/reference-essay.txt"));
    match essay {
        Ok(essay) => {
            v.push(("essay-ascii", ascii_variant(&essay)));
            v.push(("essay", essay));
        }
        Err(e) => {
            eprintln!("reference essay not found ({e}): benchmarking the corpus article only")
        }
    }
    match typographic_article() {
        Some(a) => {
            v.push(("article-ascii", ascii_variant(&a)));
            v.push(("article", a));
        }
        None => eprintln!("no corpus article with typographic punctuation"),
    }
    for (name, text) in &v {
        eprintln!("input {name}: {} bytes", text.len());
    }
    v
}

fn benches(c: &mut Criterion) {
    let classifier =
        Classifier::from_artifact(artifact::load_current(&root().join("models")).unwrap());
    let inputs = inputs();

    let mut g = c.benchmark_group("tokenize");
    let hf = classifier.tokenizer().pipeline().clone();
    let mut ids = Vec::new();
    let mut offsets = Vec::new();
    for (name, text) in &inputs {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("hf_pipeline", name), text, |b, t| {
            b.iter(|| encode_reference(&hf, black_box(t)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("fast_path", name), text, |b, t| {
            b.iter(|| {
                classifier
                    .tokenizer()
                    .encode(black_box(t), &mut ids)
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("fast_path_offsets", name), text, |b, t| {
            b.iter(|| {
                classifier
                    .tokenizer()
                    .encode_with_offsets(black_box(t), &mut ids, &mut offsets)
                    .unwrap()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("score");
    for (name, text) in &inputs {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("score", name), text, |b, t| {
            b.iter(|| classifier.score(black_box(t), 0).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("score_explain_10", name), text, |b, t| {
            b.iter(|| classifier.score(black_box(t), 10).unwrap())
        });
    }
    g.finish();

    let corpus = Corpus::open(&root().join("training-data")).unwrap();
    let params = TrainParams::default().check().unwrap();
    let mut g = c.benchmark_group("train");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(corpus.stats().total_bytes));
    g.bench_function("train_shipped_corpus", |b| {
        b.iter(|| train::train(&corpus, None, None, &params, None).unwrap())
    });
    g.finish();
}

criterion_group!(throughput, benches);
criterion_main!(throughput);
