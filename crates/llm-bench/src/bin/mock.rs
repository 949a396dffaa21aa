//! `llm-bench-mock --port P [--delay-us N] [--chunks 64] [--chunk-interval-us 20000]`: the mock upstream.

use std::process::ExitCode;
use std::time::Duration;

use llm_bench::args::Args;
use llm_bench::mock::{self, MockConfig};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llm-bench-mock: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), &[])?;
    let defaults = MockConfig::default();
    let config = MockConfig {
        delay: Duration::from_micros(args.get("delay-us", 0)?),
        chunks: args.get("chunks", defaults.chunks)?,
        chunk_interval: Duration::from_micros(args.get("chunk-interval-us", 20_000)?),
    };
    let port: u16 = args.get("port", 0)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        mock::serve(listener, config).await
    })?;
    Ok(())
}
