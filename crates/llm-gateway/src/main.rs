//! The `llm-gateway` binary: `llm-gateway --config config.yaml --port 4000`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use llm_gateway::config::GatewayConfig;
use llm_gateway::{Gateway, GatewayOptions};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An OpenAI-compatible LLM gateway configured with LiteLLM's config.yaml.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (LiteLLM proxy format).
    #[arg(long, env = "LLM_GATEWAY_CONFIG", default_value = "config.yaml")]
    config: PathBuf,
    /// The port to listen on.
    #[arg(long, env = "LLM_GATEWAY_PORT", default_value_t = 4000)]
    port: u16,
    /// The address to listen on.
    #[arg(long, env = "LLM_GATEWAY_HOST", default_value = "0.0.0.0")]
    host: String,
    /// The spend database (SQLite path or `:memory:`), overriding `general_settings.database_url`.
    #[arg(long, env = "LLM_GATEWAY_DB")]
    db: Option<String>,
    /// Runtime worker threads; 0 means one per CPU the process may run on. With one, the gateway
    /// runs on a single-threaded runtime: no work stealing and no wake-ups between threads.
    #[arg(long, env = "LLM_GATEWAY_WORKER_THREADS", default_value_t = 0)]
    worker_threads: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match build_runtime(args.worker_threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("llm-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llm-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A single-threaded runtime when one worker is asked for (or only one CPU is available), a
/// multi-threaded one otherwise.
fn build_runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = match worker_threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder.enable_all().build()
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = GatewayConfig::load(&args.config, &|name| std::env::var(name).ok())?;
    for key in &config.ignored_keys {
        tracing::warn!(key, "unknown configuration key ignored");
    }
    let options = GatewayOptions { spend_db: args.db.clone(), ..GatewayOptions::default() };
    let gateway =
        Gateway::new(&config, options).await.map_err(|e| format!("{}: {e}", args.config.display()))?;
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .map_err(|e| format!("invalid --host/--port `{}:{}`: {e}", args.host, args.port))?;
    let listener = listen(addr)?;
    tracing::info!(addr = %listener.local_addr()?, models = ?gateway.model_names(), "llm-gateway listening");
    // Tests and supervisors read this line to find the port.
    println!("listening on {}", listener.local_addr()?);
    gateway.serve(listener, shutdown_signal()).await?;
    tracing::info!("llm-gateway stopped; spend log flushed");
    Ok(())
}

/// Connections the kernel may queue before the gateway accepts them: a burst of thousands of
/// streams must not be refused (the standard library's default is 128; the kernel caps this at
/// `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
