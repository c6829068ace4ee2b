//! Criterion benchmarks: tokenization (Hugging Face pipeline vs the serving fast path), scoring,
//! explaining, and training on the shipped corpus. Run with `cargo bench --bench throughput`.

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use stance::tokenize::encode_reference;
use stance::{artifact, train, Classifier, Corpus, TrainParams};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus article whose size is closest to 3 KB: a realistic request body.
fn article() -> String {
    let corpus = Corpus::open(&root().join("training-data")).unwrap();
    let mut best = String::new();
    corpus
        .for_each(|d| {
            if best.is_empty() || d.text.len().abs_diff(3000) < best.len().abs_diff(3000) {
                best = d.text;
            }
            Ok(())
        })
        .unwrap();
    best
}

fn benches(c: &mut Criterion) {
    let classifier =
        Classifier::from_artifact(artifact::load_current(&root().join("models")).unwrap());
    let text = article();
    let bytes = text.len() as u64;

    let mut g = c.benchmark_group("tokenize");
    g.throughput(Throughput::Bytes(bytes));
    let hf = classifier.tokenizer().pipeline().clone();
    g.bench_function("hf_pipeline", |b| {
        b.iter(|| encode_reference(&hf, black_box(&text)).unwrap())
    });
    let mut ids = Vec::new();
    g.bench_function("fast_path", |b| {
        b.iter(|| {
            classifier
                .tokenizer()
                .encode(black_box(&text), &mut ids)
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("score", |b| {
        b.iter(|| classifier.score(black_box(&text), 0).unwrap())
    });
    g.bench_function("score_explain_10", |b| {
        b.iter(|| classifier.score(black_box(&text), 10).unwrap())
    });
    g.finish();

    let corpus = Corpus::open(&root().join("training-data")).unwrap();
    let params = TrainParams::default().check().unwrap();
    let mut g = c.benchmark_group("train");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(corpus.stats().total_bytes));
    g.bench_function("train_shipped_corpus", |b| {
        b.iter(|| train::train(&corpus, None, &params, None).unwrap())
    });
    g.finish();
}

criterion_group!(throughput, benches);
criterion_main!(throughput);
