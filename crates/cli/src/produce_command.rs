//! `eventlake produce`: sample events or NDJSON lines to a topic, until a count, the end of
//! the input or Ctrl-C.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eventlake_produce::{
    EventGenerator, EventTimes, GeneratorSettings, NdjsonSource, ProducerSettings, RecordSource,
    produce,
};
use tracing::info;

use crate::args::ProduceArgs;
use crate::error::CliError;

pub async fn run(args: ProduceArgs) -> Result<(), CliError> {
    let times = match (args.from, args.to) {
        (Some(from), Some(to)) if from >= to => {
            return Err(CliError::Config(format!(
                "--from {} is not before --to {}; give an earlier --from",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        (Some(from), Some(to)) => EventTimes::Replay { from, to },
        _ => EventTimes::Now,
    };
    let count = args.count.map(|count| count as u64);
    let mut source: Box<dyn RecordSource + Send> = match &args.input {
        Some(path) => Box::new(ndjson_source(path, args.key_field.as_deref())?),
        None => Box::new(EventGenerator::new(GeneratorSettings {
            seed: args.seed,
            devices: args.devices as u64,
            users: args.users as u64,
            malformed_fraction: args.malformed,
            times,
            first_id: args
                .first_id
                .unwrap_or_else(|| chrono::Utc::now().timestamp_micros()),
            count,
        })),
    };
    let settings = ProducerSettings {
        brokers: args.brokers,
        topic: args.topic.clone(),
        properties: args.kafka_properties.into_iter().collect(),
        rate: args.rate,
        count,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        info!("signal received; waiting for queued records to be delivered");
        stop_on_signal.store(true, Ordering::Relaxed);
    });

    let summary = tokio::task::spawn_blocking(move || produce(&settings, source.as_mut(), &stop))
        .await
        .map_err(|error| CliError::Internal(format!("the producer thread failed: {error}")))??;
    let seconds = summary.elapsed.as_secs_f64();
    let malformed = if args.input.is_some() {
        String::new()
    } else {
        format!(" ({} malformed)", summary.malformed)
    };
    eprintln!(
        "produced {} {}{malformed} to topic '{}' in {:.1} s, {:.0} records/s",
        summary.delivered,
        if summary.delivered == 1 {
            "record"
        } else {
            "records"
        },
        args.topic,
        seconds,
        summary.delivered as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// Opens `path` ("-" for standard input) as lines of JSON.
fn ndjson_source(path: &PathBuf, key_field: Option<&str>) -> Result<NdjsonSource, CliError> {
    let reader: Box<dyn BufRead + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path).map_err(|error| {
            CliError::Config(format!("cannot open --input {}: {error}", path.display()))
        })?;
        Box::new(std::io::BufReader::new(file))
    };
    Ok(NdjsonSource::new(reader, path.clone(), key_field))
}
