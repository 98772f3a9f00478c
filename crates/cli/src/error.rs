//! Errors of the command line and their exit codes.

use std::process::ExitCode;

use eventlake_ingest::IngestError;

/// A failure that ends the command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad flag, environment variable, config file or schema file: the user can fix it.
    #[error("{0}")]
    Config(String),

    #[error(transparent)]
    Ingest(#[from] IngestError),

    /// A statement that failed to parse, plan or run.
    #[error("{0}")]
    Query(String),

    #[error(transparent)]
    Lake(#[from] eventlake_lake::LakeError),

    /// A maintenance command that could not open or change a table.
    #[error("{0}")]
    Maintenance(String),

    #[error(transparent)]
    Produce(#[from] eventlake_produce::ProduceError),

    /// A worker thread that panicked: a bug, not a user error.
    #[error("{0}; please report this as a bug")]
    Internal(String),
}

impl CliError {
    /// Exit code 2 for configuration errors, 1 for failures while running.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) => ExitCode::from(2),
            CliError::Ingest(error) if is_configuration(error) => ExitCode::from(2),
            CliError::Lake(
                eventlake_lake::LakeError::InvalidRetention { .. }
                | eventlake_lake::LakeError::ShortRetention { .. },
            ) => ExitCode::from(2),
            CliError::Produce(eventlake_produce::ProduceError::Client(_)) => ExitCode::from(2),
            CliError::Produce(_)
            | CliError::Internal(_)
            | CliError::Ingest(_)
            | CliError::Query(_)
            | CliError::Lake(_)
            | CliError::Maintenance(_) => ExitCode::from(1),
        }
    }
}

fn is_configuration(error: &IngestError) -> bool {
    use eventlake_lake::LakeError;
    matches!(
        error,
        IngestError::KafkaConfig(_)
            | IngestError::Transform(_)
            | IngestError::TransformChanged { .. }
            | IngestError::ReservedProperty { .. }
            | IngestError::Subscribe { .. }
            | IngestError::TopicNotFound { .. }
            | IngestError::Lake(
                LakeError::InvalidLocation { .. }
                    | LakeError::SchemaMismatch { .. }
                    | LakeError::PartitionMismatch { .. }
            )
    )
}
