#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

pub mod artifact;
pub mod bootstrap;
pub mod calibration;
pub mod classifier;
pub mod corpus;
pub mod error;
pub mod evaluate;
pub mod failpoint;
pub mod features;
pub mod fit;
pub mod fsutil;
pub mod head;
pub mod hierarchical;
pub mod holdout;
pub mod leakage;
pub mod manifest;
pub mod model;
pub mod pairs;
pub mod params;
pub mod plot;
pub mod server;
pub mod spans;
pub mod stopwords;
pub mod text;
pub mod tokenize;
pub mod train;
pub mod weighting;

pub use classifier::{Classifier, Score, TokenWeight};
pub use corpus::{Corpus, Document};
pub use error::{Result, StanceError};
pub use params::{CheckedParams, TrainParams};
pub use spans::Span;
