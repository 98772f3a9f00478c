//! Integration tests: one binary, so the large dependency graph links once.

mod cli;
mod decode;
mod ingest;
mod lake;
mod sql;
mod support;
