//! Ingest: the Kafka consumer pipeline that feeds the lake.
//!
//! ```text
//!  consumer thread                                        writer task
//!  ───────────────                                        ───────────
//!  poll ─▶ envelope check ─▶ buffer ──(flush: rows | bytes | age)──▶ decode payloads
//!   ▲                          │ over the memory limit:              │
//!   │                          ▼ pause partitions                    ▼
//!   │ seek on assignment                              append `events`, `rejects`, then
//!   │ to the offsets in the Delta log                 each processed table, each with
//!   │                                                 its txn offsets
//!   └───────────── Kafka offsets committed after every table ◀───────┘
//! ```
//!
//! The Delta log is the source of truth for progress. On every partition assignment the
//! consumer starts after the lowest of the tables' committed offsets, and each table drops
//! the rows it already contains. So a restart or rebalance at any point neither loses
//! nor duplicates a record. Kafka's committed offsets are only updated so that lag tools work.

mod backfill;
mod buffer;
mod compactor;
mod config;
mod consumer;
mod error;
mod metrics;
mod pipeline;
mod throttle;
mod writer;

pub use backfill::{BackfillConfig, BackfillSummary, backfill};
pub use compactor::AutoCompaction;
pub use config::{FlushPolicy, IngestConfig, StartPosition, TableNames};
pub use error::IngestError;
pub use metrics::{IngestMetrics, serve_metrics};
pub use pipeline::{IngestSummary, run};
