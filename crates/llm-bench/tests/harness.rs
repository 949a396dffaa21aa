//! The mock upstream and the load generator against each other on 127.0.0.1.

use std::time::Duration;

use llm_bench::load::{self, LoadSpec, Pacing};
use llm_bench::mock::{self, MockConfig};
use llm_bench::relay;

fn spec(addr: std::net::SocketAddr, pacing: Pacing, stream: bool) -> LoadSpec {
    LoadSpec {
        url: format!("http://{addr}/v1/chat/completions").parse().unwrap(),
        bearer: Some("sk-secret-token".into()),
        model: "gpt-4o-mini".into(),
        pacing,
        duration: Duration::from_millis(200),
        stream,
        expected_chunks: 8,
        chunk_interval: Duration::from_millis(1),
        max_in_flight: 1000,
        timeout: Duration::from_secs(5),
    }
}

fn fast_mock() -> MockConfig {
    MockConfig { delay: Duration::ZERO, chunks: 8, chunk_interval: Duration::from_millis(1) }
}

#[tokio::test]
async fn closed_loop_counts_every_request_without_errors() {
    let addr = mock::spawn(0, fast_mock()).await.unwrap();
    let report = load::run(&spec(addr, Pacing::Closed { concurrency: 1 }, false)).await.unwrap();
    assert!(report.requests > 10, "{report:?}");
    assert_eq!(report.errors, 0);
    assert_eq!(report.latency.count, report.requests);
    assert_eq!(report.ttfb.count, report.requests);
    assert!(report.latency.p50 <= report.latency.p99 && report.latency.p99 <= report.latency.max);
}

#[tokio::test]
async fn fixed_rate_sends_the_scheduled_number_of_requests() {
    let addr = mock::spawn(0, fast_mock()).await.unwrap();
    let report = load::run(&spec(addr, Pacing::FixedRate { rate: 200 }, false)).await.unwrap();
    assert_eq!(report.requests, 40);
    assert_eq!(report.errors, 0);
}

#[tokio::test]
async fn fixed_rate_latency_counts_from_the_intended_send_time() {
    // The mock holds every answer 50 ms; with only one request in flight allowed, later requests
    // wait for the earlier ones, and that wait must show up in their latency.
    let addr = mock::spawn(0, MockConfig { delay: Duration::from_millis(50), ..fast_mock() }).await.unwrap();
    let mut s = spec(addr, Pacing::FixedRate { rate: 100 }, false);
    s.max_in_flight = 1;
    s.duration = Duration::from_millis(100);
    let report = load::run(&s).await.unwrap();
    assert_eq!(report.requests, 10);
    assert!(report.latency.max >= 400_000, "coordinated omission not corrected: {report:?}");
}

#[tokio::test]
async fn streams_receive_every_chunk_and_record_every_gap() {
    let addr = mock::spawn(0, fast_mock()).await.unwrap();
    let pacing = Pacing::Streams { streams: 5, ramp: Duration::from_millis(20) };
    let report = load::run(&spec(addr, pacing, true)).await.unwrap();
    assert_eq!(report.requests, 5);
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.lost_chunks, 0);
    assert_eq!(report.chunk_gap.count, 5 * 7);
    assert!(report.chunk_gap.p50 >= 500, "chunks should be paced about 1 ms apart: {report:?}");
}

#[tokio::test]
async fn missing_chunks_are_counted_as_lost() {
    let addr = mock::spawn(0, fast_mock()).await.unwrap();
    let mut s = spec(addr, Pacing::Streams { streams: 2, ramp: Duration::ZERO }, true);
    s.expected_chunks = 10;
    let report = load::run(&s).await.unwrap();
    assert_eq!(report.lost_chunks, 4);
    assert_eq!(report.errors, 2);
}

#[tokio::test]
async fn slow_chunks_are_counted_as_stalls() {
    let addr = mock::spawn(0, MockConfig { chunk_interval: Duration::from_millis(15), ..fast_mock() })
        .await
        .unwrap();
    let report =
        load::run(&spec(addr, Pacing::Streams { streams: 1, ramp: Duration::ZERO }, true)).await.unwrap();
    assert_eq!(report.stalls, 7, "each 15 ms gap exceeds 10 x 1 ms: {report:?}");
}

#[tokio::test]
async fn unreachable_upstream_counts_errors_without_hanging() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let report = load::run(&spec(port, Pacing::FixedRate { rate: 50 }, false)).await.unwrap();
    assert_eq!(report.requests, 10);
    assert_eq!(report.errors, 10);
}

#[tokio::test]
async fn wrong_path_is_an_error() {
    let addr = mock::spawn(0, fast_mock()).await.unwrap();
    let mut s = spec(addr, Pacing::Closed { concurrency: 1 }, false);
    s.url = format!("http://{addr}/v1/nope").parse().unwrap();
    s.duration = Duration::from_millis(20);
    let report = load::run(&s).await.unwrap();
    assert!(report.requests > 0);
    assert_eq!(report.errors, report.requests);
}

#[tokio::test]
async fn invalid_specs_are_rejected() {
    let addr = mock::spawn(0, fast_mock()).await.unwrap();
    assert!(load::run(&spec(addr, Pacing::FixedRate { rate: 0 }, false)).await.is_err());
    assert!(load::run(&spec(addr, Pacing::Closed { concurrency: 0 }, false)).await.is_err());
    let mut s = spec(addr, Pacing::Closed { concurrency: 1 }, false);
    s.url = "/relative".parse().unwrap();
    assert!(load::run(&s).await.is_err());
}

#[test]
fn debug_output_redacts_the_bearer_token() {
    let s = spec("127.0.0.1:1".parse().unwrap(), Pacing::Closed { concurrency: 1 }, false);
    let debug = format!("{s:?}");
    assert!(!debug.contains("sk-secret-token"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[tokio::test]
async fn a_hung_upstream_times_out_as_errors() {
    // Accepts connections but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut s = spec(addr, Pacing::FixedRate { rate: 100 }, false);
    s.duration = Duration::from_millis(50);
    s.timeout = Duration::from_millis(100);
    let started = std::time::Instant::now();
    let report = load::run(&s).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!((report.requests, report.errors), (5, 5));
}

#[tokio::test]
async fn a_zero_chunk_interval_sends_whole_streams_back_to_back() {
    let addr = mock::spawn(0, MockConfig { chunk_interval: Duration::ZERO, ..fast_mock() }).await.unwrap();
    let mut s = spec(addr, Pacing::Closed { concurrency: 1 }, true);
    s.chunk_interval = Duration::ZERO;
    let report = load::run(&s).await.unwrap();
    assert!(report.requests > 10, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.lost_chunks, 0, "{report:?}");
    assert_eq!(report.stalls, 0, "no stall check without an interval: {report:?}");
}

#[tokio::test]
async fn the_byte_relay_carries_requests_and_streams_unchanged() {
    let addr = relay::spawn(0, mock::spawn(0, fast_mock()).await.unwrap()).await.unwrap();
    let report = load::run(&spec(addr, Pacing::Closed { concurrency: 2 }, false)).await.unwrap();
    assert!(report.requests > 10, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    let pacing = Pacing::Streams { streams: 3, ramp: Duration::ZERO };
    let report = load::run(&spec(addr, pacing, true)).await.unwrap();
    assert_eq!((report.requests, report.errors, report.lost_chunks), (3, 0, 0), "{report:?}");
    assert_eq!(report.chunk_gap.count, 3 * 7);
}

#[tokio::test]
async fn the_byte_relay_closes_the_client_when_the_upstream_is_gone() {
    use tokio::io::AsyncReadExt;
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = gone.local_addr().unwrap();
    drop(gone);
    let addr = relay::spawn(0, upstream).await.unwrap();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the client must see the connection end: {read:?}");
}
