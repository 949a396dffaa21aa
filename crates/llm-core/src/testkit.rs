//! A programmable mock HTTP/1.1 upstream on 127.0.0.1 for provider tests.
//!
//! Responses are scripted in order ([`MockServer::push`]) with a fallback
//! ([`MockServer::set_default`]); each can be JSON, raw bytes, a server-sent-event stream with
//! per-chunk delays, a connection reset, or a hang. Every request is recorded.
//!
//! ```
//! use llm_core::testkit::{MockResponse, MockServer};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let server = MockServer::start().await;
//! server.push(MockResponse::json(200, serde_json::json!({"ok": true})));
//! let body = reqwest::Client::new().post(format!("{}/v1/x", server.url()))
//!     .body("hi").send().await.unwrap().text().await.unwrap();
//! assert_eq!(body, r#"{"ok":true}"#);
//! assert_eq!(server.requests()[0].path, "/v1/x");
//! assert_eq!(&server.requests()[0].body[..], b"hi");
//! # });
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, e.g. `/v1/chat/completions?x=1`.
    pub path: String,
    /// Header names (lower-cased) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug, Clone)]
enum Body {
    Full(Bytes),
    Chunks { chunks: Vec<(Duration, Bytes)>, reset_at_end: bool },
    Reset,
    Hang,
}

/// A scripted response.
#[derive(Debug, Clone)]
pub struct MockResponse {
    status: u16,
    headers: Vec<(String, String)>,
    delay: Duration,
    body: Body,
}

impl MockResponse {
    /// A JSON body with `status`.
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Self::bytes(status, serde_json::to_vec(&value).unwrap_or_default())
            .with_header("content-type", "application/json")
    }

    /// A raw body with `status` (no content type).
    pub fn bytes(status: u16, body: impl Into<Bytes>) -> Self {
        Self { status, headers: Vec::new(), delay: Duration::ZERO, body: Body::Full(body.into()) }
    }

    /// A `text/event-stream` body sent chunk by chunk (chunked transfer encoding, flushed after
    /// each), each chunk after its delay.
    pub fn sse(chunks: Vec<(Duration, Bytes)>) -> Self {
        Self {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            delay: Duration::ZERO,
            body: Body::Chunks { chunks, reset_at_end: false },
        }
    }

    /// An event stream of `data: <json>` events without delay; pass `done` to end with `[DONE]`.
    pub fn sse_json(events: &[serde_json::Value], done: bool) -> Self {
        let mut chunks: Vec<(Duration, Bytes)> =
            events.iter().map(|e| (Duration::ZERO, crate::sse::encode_json(e).unwrap_or_default())).collect();
        if done {
            chunks.push((Duration::ZERO, Bytes::from_static(crate::sse::DONE_FRAME)));
        }
        Self::sse(chunks)
    }

    /// Accepts the request, then resets the connection without answering.
    pub fn reset() -> Self {
        Self { status: 0, headers: Vec::new(), delay: Duration::ZERO, body: Body::Reset }
    }

    /// Accepts the request and never answers.
    pub fn hang() -> Self {
        Self { status: 0, headers: Vec::new(), delay: Duration::ZERO, body: Body::Hang }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Waits `delay` before sending the status line.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// For a streamed body: keeps the first `n` chunks, then resets the connection (a stream cut
    /// off mid-way). Other bodies are unchanged.
    pub fn cut_after(mut self, n: usize) -> Self {
        if let Body::Chunks { chunks, reset_at_end } = &mut self.body {
            chunks.truncate(n);
            *reset_at_end = true;
        }
        self
    }

    /// For a streamed body: keeps the first `n` chunks, then ends the body cleanly (a stream that
    /// stops before the upstream's end marker). Other bodies are unchanged.
    pub fn end_after(mut self, n: usize) -> Self {
        if let Body::Chunks { chunks, .. } = &mut self.body {
            chunks.truncate(n);
        }
        self
    }

    /// Sets the delay before every streamed chunk.
    pub fn with_chunk_interval(mut self, interval: Duration) -> Self {
        if let Body::Chunks { chunks, .. } = &mut self.body {
            for c in chunks.iter_mut() {
                c.0 = interval;
            }
        }
        self
    }
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<MockResponse>,
    default: Option<MockResponse>,
    requests: Vec<RecordedRequest>,
    connections: usize,
}

/// The mock upstream. Stops (and drops every connection) when dropped.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: watch::Sender<bool>,
}

impl MockServer {
    /// Starts a server on an ephemeral port of 127.0.0.1. Unscripted requests get a 500 JSON error.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0 for the mock server");
        let addr = listener.local_addr().expect("mock server address");
        let state = Arc::new(Mutex::new(State::default()));
        let (shutdown, rx) = watch::channel(false);
        let accept_state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut stop = rx.clone();
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        accept_state.lock().unwrap_or_else(|e| e.into_inner()).connections += 1;
                        let state = Arc::clone(&accept_state);
                        let mut stop = rx.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = stop.changed() => {}
                                _ = serve_connection(stream, state) => {}
                            }
                        });
                    }
                }
            }
        });
        Self { addr, state, shutdown }
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a response for the next unanswered request.
    pub fn push(&self, response: MockResponse) {
        self.lock().script.push_back(response);
    }

    /// The response for requests once the queue is empty.
    pub fn set_default(&self, response: MockResponse) {
        self.lock().default = Some(response);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    /// How many connections were accepted (requests on a kept-alive connection share one).
    pub fn connection_count(&self) -> usize {
        self.lock().connections
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::with_capacity(8192);
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else { return };
        let response = {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.requests.push(request);
            s.script.pop_front().or_else(|| s.default.clone()).unwrap_or_else(|| {
                MockResponse::json(500, serde_json::json!({"error": {"message": "mock server: no scripted response", "type": "mock"}}))
            })
        };
        if !write_response(&mut stream, response).await {
            return;
        }
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<RecordedRequest> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = req.parse(buf) {
            let method = req.method.unwrap_or("").to_owned();
            let path = req.path.unwrap_or("").to_owned();
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            let len = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < head_len + len {
                if read_more(stream, buf).await == 0 {
                    return None;
                }
            }
            let body = Bytes::copy_from_slice(&buf[head_len..head_len + len]);
            buf.drain(..head_len + len);
            return Some(RecordedRequest { method, path, headers, body });
        }
        if read_more(stream, buf).await == 0 {
            return None;
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            n
        }
        Err(_) => 0,
    }
}

/// Writes one response; `false` when the connection must close.
async fn write_response(stream: &mut TcpStream, response: MockResponse) -> bool {
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    let reason =
        http::StatusCode::from_u16(response.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason);
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match response.body {
        Body::Reset => {
            let _ = stream.set_zero_linger();
            false
        }
        Body::Hang => {
            std::future::pending::<()>().await;
            false
        }
        Body::Full(body) => {
            head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            let mut out = head.into_bytes();
            out.extend_from_slice(&body);
            stream.write_all(&out).await.is_ok()
        }
        Body::Chunks { chunks, reset_at_end } => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            for (delay, data) in chunks {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if data.is_empty() {
                    continue;
                }
                let mut frame = format!("{:x}\r\n", data.len()).into_bytes();
                frame.extend_from_slice(&data);
                frame.extend_from_slice(b"\r\n");
                if stream.write_all(&frame).await.is_err() || stream.flush().await.is_err() {
                    return false;
                }
            }
            if reset_at_end {
                let _ = stream.set_zero_linger();
                return false;
            }
            stream.write_all(b"0\r\n\r\n").await.is_ok()
        }
    }
}

/// The shared test-data folder (`shared/test-data`: recorded streams, API specs, pricing).
///
/// Taken from `LLM_TEST_DATA` when set, else found as `shared/test-data` beside one of the
/// folders above the calling crate. Panics with a clear message when it is missing: tests that
/// need recorded data must not pass without it.
pub fn test_data_dir(manifest_dir: &str) -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("LLM_TEST_DATA") {
        return dir.into();
    }
    std::path::Path::new(manifest_dir)
        .ancestors()
        .map(|a| a.join("shared/test-data"))
        .find(|p| p.join("SOURCES.md").is_file())
        .unwrap_or_else(|| {
            panic!("test data not found: set LLM_TEST_DATA to the shared/test-data folder (searched above {manifest_dir})")
        })
}
