//! Integration tests: one binary, so the large dependency graph links once.

mod cli;
mod decode;
mod fixture;
mod ingest;
mod lake;
mod maintain;
mod metrics;
mod produce;
mod slt;
mod sql;
mod support;
mod transform;
