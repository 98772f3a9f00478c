//! Lake: the Delta tables of eventlake and exactly-once appends to them.
//!
//! Each append writes Parquet files and commits them in one Delta transaction together with a
//! `txn` action per Kafka topic-partition that carries the last offset the append contains:
//!
//! ```text
//!  refresh snapshot ──▶ read txn offsets ──▶ drop rows at or below them ──▶ write Parquet
//!        ▲                                                                      │
//!        │ the table moved on (another writer, an earlier attempt that landed)  ▼
//!        └──────────────────────────── commit at exactly snapshot version + 1 ◀─┘
//! ```
//!
//! The commit is accepted only if no other commit happened since the snapshot whose offsets
//! were checked, so a row can never be committed twice, whoever the writer is. A replayed
//! append (the same rows after an ambiguous error) finds its offsets already committed and
//! commits nothing.
//!
//! Maintenance works on the same tables: [`compact`] rewrites small files into large ones
//! without changing data, and [`vacuum`] deletes the files no retained version needs.

mod append;
mod checkpoint;
mod compact;
mod derive;
mod error;
mod evolve;
mod location;
mod log;
mod offsets;
mod replace;
mod table;
mod vacuum;

pub use append::{AppendOutcome, AppendRequest};
pub use compact::{CompactOptions, CompactSummary, compact, idle_partitions};
pub use derive::DeriveRows;
pub use error::LakeError;
pub use location::{LakeRoot, table_directories};
pub use log::earliest_version;
pub use offsets::{OffsetColumns, OffsetRange, SourcePartition, app_id, stream_app_id};
pub use replace::ReplaceRequest;
pub use table::{LakeTable, TableSpec, WriteSettings};
pub use vacuum::{VacuumSummary, vacuum};
