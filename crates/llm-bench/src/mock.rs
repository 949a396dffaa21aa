//! A fast mock OpenAI upstream: precomputed bodies, no parsing beyond one byte search.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How the mock answers.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Delay before a non-streaming answer (zero: answer at once).
    pub delay: Duration,
    /// Number of token chunks in a streamed answer.
    pub chunks: usize,
    /// Pause between two streamed token chunks.
    pub chunk_interval: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self { delay: Duration::ZERO, chunks: 64, chunk_interval: Duration::from_millis(20) }
    }
}

/// The precomputed pieces the mock sends.
#[derive(Debug, Clone)]
pub struct MockBodies {
    /// The non-streaming chat completion body (about 1.4 KB).
    pub completion: Bytes,
    /// The first SSE frame, carrying the assistant role.
    pub role_chunk: Bytes,
    /// One SSE frame per token chunk.
    pub token_chunks: Vec<Bytes>,
    /// The final SSE frame with `finish_reason` and usage.
    pub usage_chunk: Bytes,
}

/// The content of token chunk `index` (every token is distinct so losses are countable).
pub fn token_text(index: usize) -> String {
    format!("tok{index} ")
}

impl MockBodies {
    /// Builds the bodies for `chunks` token chunks.
    ///
    /// ```
    /// let bodies = llm_bench::mock::MockBodies::new(64);
    /// assert!((1300..1600).contains(&bodies.completion.len()));
    /// assert_eq!(bodies.token_chunks.len(), 64);
    /// ```
    pub fn new(chunks: usize) -> Self {
        let content = "The quick brown fox jumps over the lazy dog. ".repeat(22);
        let completion = serde_json::json!({
            "id": "chatcmpl-bench0000000000000000000000",
            "object": "chat.completion",
            "created": 1_764_000_000u64,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_bench",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content.trim_end(), "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 12, "completion_tokens": 220, "total_tokens": 232}
        });
        let frame = |delta: serde_json::Value, finish: Option<&str>, usage: Option<serde_json::Value>| {
            let mut chunk = serde_json::json!({
                "id": "chatcmpl-bench0000000000000000000000",
                "object": "chat.completion.chunk",
                "created": 1_764_000_000u64,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            });
            if let Some(usage) = usage {
                chunk["usage"] = usage;
            }
            Bytes::from(format!("data: {chunk}\n\n"))
        };
        Self {
            completion: Bytes::from(completion.to_string()),
            role_chunk: frame(serde_json::json!({"role": "assistant", "content": ""}), None, None),
            token_chunks: (0..chunks)
                .map(|i| frame(serde_json::json!({"content": token_text(i)}), None, None))
                .collect(),
            usage_chunk: frame(
                serde_json::json!({}),
                Some("stop"),
                Some(
                    serde_json::json!({"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}),
                ),
            ),
        }
    }
}

/// The SSE terminator.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

type MockBody = BoxBody<Bytes, Infallible>;

/// Whether a JSON request body asks for a stream (`"stream":true`, with or without a space).
pub fn wants_stream(body: &[u8]) -> bool {
    let Some(pos) = find(body, b"\"stream\"") else { return false };
    let rest = &body[pos + 8..];
    let rest = rest.iter().skip_while(|b| b.is_ascii_whitespace() || **b == b':').copied();
    rest.take(4).eq(b"true".iter().copied())
}

/// Position of `needle` in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn answer(
    req: Request<Incoming>,
    config: Arc<MockConfig>,
    bodies: Arc<MockBodies>,
) -> Result<Response<MockBody>, Infallible> {
    let not_found = req.uri().path() != "/v1/chat/completions";
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    if not_found {
        let mut resp =
            Response::new(Full::new(Bytes::from_static(b"{\"error\":{\"message\":\"not found\"}}")).boxed());
        *resp.status_mut() = http::StatusCode::NOT_FOUND;
        return Ok(resp);
    }
    if wants_stream(&body) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        tokio::spawn(async move {
            let mut frames = Vec::with_capacity(bodies.token_chunks.len() + 3);
            frames.push(bodies.role_chunk.clone());
            frames.extend(bodies.token_chunks.iter().cloned());
            // A zero interval sends the chunks back to back (tokio's interval refuses a zero period).
            let mut ticker = (!config.chunk_interval.is_zero()).then(|| {
                let mut ticker = tokio::time::interval(config.chunk_interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker
            });
            if tx.send(Ok(Frame::data(frames[0].clone()))).await.is_err() {
                return;
            }
            if let Some(ticker) = &mut ticker {
                ticker.tick().await;
            }
            for frame in &frames[1..] {
                if let Some(ticker) = &mut ticker {
                    ticker.tick().await;
                }
                if tx.send(Ok(Frame::data(frame.clone()))).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Ok(Frame::data(bodies.usage_chunk.clone()))).await;
            let _ = tx.send(Ok(Frame::data(Bytes::from_static(DONE)))).await;
        });
        let resp = Response::builder()
            .header(http::header::CONTENT_TYPE, "text/event-stream")
            .header(http::header::CACHE_CONTROL, "no-cache")
            .body(BodyExt::boxed(ChannelBody { rx }));
        return Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())));
    }
    if !config.delay.is_zero() {
        tokio::time::sleep(config.delay).await;
    }
    let resp = Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(bodies.completion.clone()).boxed());
    Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())))
}

/// A response body fed by a channel: each frame is flushed as it arrives.
struct ChannelBody<T> {
    rx: tokio::sync::mpsc::Receiver<T>,
}

impl<T> hyper::body::Body for ChannelBody<Result<Frame<Bytes>, T>> {
    type Data = Bytes;
    type Error = T;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, T>>> {
        self.rx.poll_recv(cx)
    }
}

/// Serves the mock on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, config: MockConfig) -> std::io::Result<()> {
    let config = Arc::new(config);
    let bodies = Arc::new(MockBodies::new(config.chunks));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (config, bodies) = (config.clone(), bodies.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, config.clone(), bodies.clone()));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Binds 127.0.0.1:`port` (0: any free port) and serves the mock in a background task.
pub async fn spawn(port: u16, config: MockConfig) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, config));
    Ok(addr)
}
