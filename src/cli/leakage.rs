//! `stance leakage`: the tokens that most give each label away.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use stance::{leakage, train, Classifier};

use super::{open_corpus, HyperParams};

#[derive(Args)]
pub struct LeakageArgs {
    /// Corpus (folder or JSONL).
    #[arg(long, env = "STANCE_DATA", default_value = "training-data")]
    pub data: PathBuf,
    /// Tokens to list per label.
    #[arg(long, default_value_t = 20, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |n| n as usize))]
    pub top: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub hyper: HyperParams,
}

pub fn run(a: LeakageArgs) -> Result<()> {
    let checked = a.hyper.params().check()?;
    let corpus = open_corpus(&a.data)?;
    let classifier =
        Classifier::from_trained(train::fit(&corpus, None, checked.get(), None)?, "leakage");
    let docs = corpus.documents()?;
    let report = leakage::report(&classifier, &docs, a.top)?;
    if a.json {
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    for label in &report {
        outln!(
            "== {} (top {} tokens by log-likelihood ratio)",
            label.label,
            a.top
        );
        outln!(
            "{:<24} {:>7} {:>9} {:>14}",
            "token",
            "llr",
            "in label",
            "max elsewhere"
        );
        for t in &label.tokens {
            outln!(
                "{:<24} {:>7.3} {:>8.1}% {:>13.1}%",
                t.token,
                t.llr,
                t.share_in_label * 100.0,
                t.max_share_elsewhere * 100.0
            );
        }
        outln!();
    }
    Ok(())
}
