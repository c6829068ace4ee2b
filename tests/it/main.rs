//! Every integration test, in one test binary. Each module used to be its own binary under
//! `tests/`, and each of them linked the whole crate and its dependencies again: from a fresh
//! clone, linking ten test binaries was a large share of `cargo test`, and after a one-line
//! change in `src/` all ten were relinked. One binary links once; its tests still run in
//! parallel. Run one module with `cargo test --test it api::` (a name prefix filter).

mod common;

mod api;
mod calibration_set;
mod cli;
mod corpus;
mod fuzz;
mod k8s;
mod model_equivalence;
mod shipped_model;
mod sklearn_parity;
mod tokenizer_equivalence;
