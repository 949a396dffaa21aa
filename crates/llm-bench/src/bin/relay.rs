//! `llm-bench-relay --port P --upstream-port Q`: a byte relay from 127.0.0.1:P to 127.0.0.1:Q on
//! one thread, the floor the benchmark measures the gateway against (see `llm_bench::relay`).

use std::process::ExitCode;

use llm_bench::args::Args;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llm-bench-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), &[])?;
    let port: u16 = args.get("port", 0)?;
    let upstream_port: u16 = args.get("upstream-port", 0)?;
    if upstream_port == 0 {
        return Err("--upstream-port is required".into());
    }
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], upstream_port));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        llm_bench::relay::serve(listener, upstream).await
    })?;
    Ok(())
}
