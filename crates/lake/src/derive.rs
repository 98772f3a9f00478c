//! Tables derived from the rows of another: the processed tables, whose rows a SQL transform
//! computes from raw event rows.

use std::fmt::Debug;

use async_trait::async_trait;
use deltalake::arrow::array::RecordBatch;

/// Computes a derived table's rows from source rows.
///
/// An append to a derived table takes source rows, drops those whose offsets the table already
/// contains, and only then derives its rows. So a replayed flush derives from exactly the
/// records the table is missing, and the offset check of the append keeps the table exactly
/// once like the raw one.
#[async_trait]
pub trait DeriveRows: Debug + Send + Sync {
    /// Returns the rows derived from `source`, with the derived table's schema. An error is
    /// returned as text naming what failed.
    async fn derive(&self, source: RecordBatch) -> Result<RecordBatch, String>;
}
