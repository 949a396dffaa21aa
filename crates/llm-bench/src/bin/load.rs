//! `llm-bench-load --url URL [--rate R | --concurrency C | --streams S] [--duration-s 5] [--stream]
//! [--model M] [--key K]`: one load run; prints the report as JSON.

use std::process::ExitCode;
use std::time::Duration;

use llm_bench::args::Args;
use llm_bench::load::{self, LoadSpec, Pacing};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llm-bench-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), &["stream"])?;
    let url = args.value("url").ok_or("--url is required")?.parse()?;
    let pacing = if let Some(rate) = args.value("rate") {
        Pacing::FixedRate { rate: rate.parse()? }
    } else if let Some(streams) = args.value("streams") {
        Pacing::Streams { streams: streams.parse()?, ramp: Duration::from_secs(1) }
    } else {
        Pacing::Closed { concurrency: args.get("concurrency", 1)? }
    };
    let spec = LoadSpec {
        url,
        bearer: args.value("key").map(str::to_owned),
        model: args.value("model").unwrap_or("gpt-4o-mini").to_owned(),
        pacing,
        duration: Duration::from_secs_f64(args.get("duration-s", 5.0)?),
        stream: args.flag("stream") || matches!(pacing, Pacing::Streams { .. }),
        expected_chunks: args.get("chunks", 64)?,
        chunk_interval: Duration::from_micros(args.get("chunk-interval-us", 20_000)?),
        max_in_flight: args.get("max-in-flight", 1_024)?,
        timeout: Duration::from_secs_f64(args.get("timeout-s", 5.0)?),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(load::run(&spec))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
