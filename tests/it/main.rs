//! Integration tests: one binary, so the large dependency graph links once.

mod cli;
mod consistency;
mod decode;
mod demo;
mod faults;
mod fixture;
mod fuzz;
mod hostile;
mod ingest;
mod interop;
mod lake;
mod maintain;
mod metrics;
mod produce;
mod slt;
mod sql;
mod support;
mod terminal;
mod transform;
