//! The HTTP/1.1 connection pool for plain `http://` upstreams (local model servers, sidecars,
//! in-cluster endpoints).
//!
//! hyper-util's pooled client costs a proxied request a spawned task (to hand the connection
//! back once the response head has arrived and the body is still unread), a connector clone
//! and a race between checkout and connect. Here a request takes the newest idle connection to
//! its host (or opens one), and the response body hands the connection back when it ends: no
//! task, no race. A body dropped before its end (stream parsers stop at the last event, before
//! the chunked terminator arrives) leaves a task to read the rest: if only the end follows, within
//! a second, the connection is pooled again; otherwise it is closed (hyper-util closes it always,
//! so every stream opened a new connection).
//!
//! Idle connections are dropped after [`POOL_IDLE_TIMEOUT`](crate::POOL_IDLE_TIMEOUT) and beyond
//! [`POOL_MAX_IDLE_PER_HOST`](crate::POOL_MAX_IDLE_PER_HOST) per host; a request that a reused
//! connection closed before taking it goes out again on another one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http_body::Body;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{CONNECT_TIMEOUT, ErrorInner, TransportError};

type Sender = SendRequest<Full<Bytes>>;

/// The pool: one entry per `host:port`, and the task that closes idle connections.
pub(super) struct PlainPool {
    inner: Arc<PoolInner>,
}

impl Default for PlainPool {
    fn default() -> Self {
        Self::new(crate::POOL_IDLE_TIMEOUT)
    }
}

struct PoolInner {
    hosts: Mutex<HashMap<Box<str>, Arc<Host>>>,
    /// How long a connection may stay idle.
    idle_timeout: Duration,
    /// Whether the task evicting idle connections runs.
    reaping: std::sync::atomic::AtomicBool,
}

/// One upstream `host:port`: where to connect, its `Host` header and its idle connections.
struct Host {
    name: Box<str>,
    port: u16,
    header: HeaderValue,
    /// Oldest first; requests take the newest.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// A connection lent to a response body, returned to its host when the body ends.
pub(super) struct Lent {
    sender: Sender,
    host: Arc<Host>,
}

impl std::fmt::Debug for Lent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lent")
    }
}

impl Lent {
    /// Hands the connection back for the next request to the same host.
    pub(super) fn give_back(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut idle = lock(&self.host.idle);
        if idle.len() < crate::POOL_MAX_IDLE_PER_HOST {
            idle.push(Idle { sender: self.sender, since: Instant::now() });
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PlainPool {
    /// A pool closing connections idle for `idle_timeout`.
    pub(super) fn new(idle_timeout: Duration) -> Self {
        let inner = PoolInner { hosts: Mutex::default(), idle_timeout, reaping: Default::default() };
        Self { inner: Arc::new(inner) }
    }

    /// Sends `request` (an absolute `http://` URL) on a pooled connection; the response body
    /// carries the connection back when it ends.
    pub(super) async fn send(
        &self,
        mut request: http::Request<Bytes>,
    ) -> Result<(http::Response<hyper::body::Incoming>, Option<Lent>), TransportError> {
        let host = self.host(request.uri())?;
        self.keep_reaping();
        let origin_form =
            request.uri().path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(origin_form);
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, host.header.clone());
        }
        let mut request = request.map(Full::new);
        loop {
            let (mut sender, reused) = match host.checkout(self.inner.idle_timeout).await {
                Some(sender) => (sender, true),
                None => (host.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let lent = Lent { sender, host: Arc::clone(&host) };
                    if response.body().is_end_stream() {
                        lent.give_back();
                        return Ok((response, None));
                    }
                    return Ok((response, Some(lent)));
                }
                Err(mut e) => match e.take_message() {
                    // The connection closed before the request went out: try another.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(TransportError(ErrorInner::Http(e.into_error()))),
                },
            }
        }
    }

    /// The entry for `uri`'s `host:port`, made on first use.
    fn host(&self, uri: &Uri) -> Result<Arc<Host>, TransportError> {
        let authority = uri.authority().ok_or(TransportError(ErrorInner::NoHost))?;
        let mut hosts = lock(&self.inner.hosts);
        if let Some(host) = hosts.get(authority.as_str()) {
            return Ok(Arc::clone(host));
        }
        let name = authority.host();
        if name.is_empty() {
            return Err(TransportError(ErrorInner::NoHost));
        }
        let port = authority.port_u16().unwrap_or(80);
        let header = if port == 80 { name.to_owned() } else { format!("{name}:{port}") };
        let host = Arc::new(Host {
            name: name.trim_start_matches('[').trim_end_matches(']').into(),
            port,
            header: HeaderValue::try_from(header).map_err(|_| TransportError(ErrorInner::NoHost))?,
            idle: Mutex::new(Vec::new()),
        });
        hosts.insert(authority.as_str().into(), Arc::clone(&host));
        Ok(host)
    }

    /// Starts the task that closes connections idle for longer than the idle timeout, unless it
    /// runs: once per pool, and again when the runtime it ran on has shut down.
    fn keep_reaping(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.reaping.load(Ordering::Relaxed) || self.inner.reaping.swap(true, Ordering::AcqRel) {
            return;
        }
        let reaping = Reaping(Arc::downgrade(&self.inner));
        tokio::spawn(reap(reaping, self.inner.idle_timeout));
    }

    /// How many idle connections the pool holds for `authority` (`host:port`).
    #[cfg(test)]
    pub(super) fn idle(&self, authority: &str) -> usize {
        lock(&self.inner.hosts).get(authority).map_or(0, |host| lock(&host.idle).len())
    }
}

/// Every `timeout / 4`, closes the connections idle for longer than `timeout` and forgets the
/// hosts with neither idle connections nor requests under way.
async fn reap(reaping: Reaping, timeout: Duration) {
    let mut tick = tokio::time::interval(timeout / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = reaping.0.upgrade() else { return };
        let now = Instant::now();
        lock(&pool.hosts).retain(|_, host| {
            let mut idle = lock(&host.idle);
            idle.retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < timeout);
            !idle.is_empty() || Arc::strong_count(host) > 1
        });
    }
}

/// The reaper's hold on its pool; when the task ends (the pool is gone, or its runtime shut
/// down), the pool's next request starts another.
struct Reaping(Weak<PoolInner>);

impl Drop for Reaping {
    fn drop(&mut self) {
        if let Some(pool) = self.0.upgrade() {
            pool.reaping.store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

impl Host {
    /// The newest idle connection still open, idle for less than `timeout` and ready for a
    /// request, if any.
    async fn checkout(&self, timeout: Duration) -> Option<Sender> {
        loop {
            let Idle { mut sender, since } = lock(&self.idle).pop()?;
            if sender.is_closed() || since.elapsed() >= timeout {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Opens a connection (`TCP_NODELAY`, within the connect timeout) and starts its task.
    async fn connect(&self) -> Result<Sender, TransportError> {
        let connect = TcpStream::connect((&*self.name, self.port));
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(TransportError(ErrorInner::Connect(e))),
            Err(_) => {
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
                return Err(TransportError(ErrorInner::Connect(e)));
            }
        };
        stream.set_nodelay(true).map_err(|e| TransportError(ErrorInner::Connect(e)))?;
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream)).await.map_err(|e| TransportError(ErrorInner::Http(e)))?;
        // The connection's errors reach the request or body reading it; the task just ends.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::sync::mpsc;

    use super::*;
    use crate::transport::{Transport, UpstreamBody};

    /// What [`server`] does after answering a request.
    #[derive(Clone, Copy)]
    enum After {
        /// Keeps the connection for the next request.
        KeepOpen,
        /// Closes it (without saying so in the answer).
        Close,
    }

    /// A server answering every request with `answer`, counting the connections it accepts and
    /// reporting each request's head (its lines up to the blank one) and each closed connection.
    async fn server(
        answer: &'static [u8],
        after: After,
    ) -> (u16, Arc<AtomicUsize>, mpsc::UnboundedReceiver<Vec<String>>, mpsc::UnboundedReceiver<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (heads, head_rx) = mpsc::unbounded_channel();
        let (closed, closed_rx) = mpsc::unbounded_channel();
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (heads, closed) = (heads.clone(), closed.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let mut head = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if !line.is_empty() {
                            head.push(line);
                            continue;
                        }
                        let _ = heads.send(std::mem::take(&mut head));
                        if write.write_all(answer).await.is_err() || matches!(after, After::Close) {
                            break;
                        }
                    }
                    let _ = closed.send(());
                });
            }
        });
        (port, accepted, head_rx, closed_rx)
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";

    async fn get(pool: &PlainPool, url: &str) -> (http::Response<hyper::body::Incoming>, Option<Lent>) {
        pool.send(http::Request::get(url).body(Bytes::new()).unwrap()).await.unwrap()
    }

    async fn read_to_end(transport: &Transport, url: &str) -> Bytes {
        let request = http::Request::get(url).body(Bytes::new()).unwrap();
        transport.send(request).await.unwrap().into_body().bytes().await.unwrap()
    }

    fn hyper_transport() -> Transport {
        let transport = Transport::default_with_env(&|_| None);
        assert!(!transport.is_reqwest());
        transport
    }

    #[tokio::test]
    async fn requests_in_turn_share_one_connection() {
        let (port, accepted, mut heads, _) = server(OK, After::KeepOpen).await;
        let transport = hyper_transport();
        for _ in 0..5 {
            assert_eq!(read_to_end(&transport, &format!("http://127.0.0.1:{port}/v1/x?y=1")).await, "{}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // Origin-form request line and a `Host` header naming the port.
        let head = heads.recv().await.unwrap();
        assert_eq!(head[0], "GET /v1/x?y=1 HTTP/1.1");
        assert!(head.iter().any(|l| l.eq_ignore_ascii_case(&format!("host: 127.0.0.1:{port}"))), "{head:?}");
    }

    #[tokio::test]
    async fn a_connection_returns_when_its_body_ends_not_before() {
        let (port, accepted, _, _) = server(OK, After::KeepOpen).await;
        let pool = PlainPool::default();
        let url = format!("http://127.0.0.1:{port}/");
        let authority = format!("127.0.0.1:{port}");
        let (response, lent) = get(&pool, &url).await;
        assert_eq!(pool.idle(&authority), 0);
        let body = UpstreamBody::hyper(response.into_body(), lent);
        assert_eq!(body.bytes().await.unwrap(), "{}");
        assert_eq!(pool.idle(&authority), 1);
        let (response, lent) = get(&pool, &url).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // A body dropped before its end closes its connection: the next request opens one.
        drop((response, lent));
        assert_eq!(pool.idle(&authority), 0);
        let _ = get(&pool, &url).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A chunked answer: one event, then (after `gap`) `rest` and the terminator.
    async fn chunked_server(gap: Duration, rest: &'static str) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if !line.is_empty() {
                            continue;
                        }
                        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                        let first = "e\r\ndata: [DONE]\n\n\r\n";
                        if write.write_all(format!("{head}{first}").as_bytes()).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(gap).await;
                        let rest = if rest.is_empty() {
                            String::new()
                        } else {
                            format!("{:x}\r\n{rest}\r\n", rest.len())
                        };
                        if write.write_all(format!("{rest}0\r\n\r\n").as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    /// Reads a body's first frame only, as a stream parser stopping at its last event does.
    async fn read_first_frame_and_drop(transport: &Transport, url: &str) {
        let request = http::Request::get(url).body(Bytes::new()).unwrap();
        let mut body = transport.send(request).await.unwrap().into_body();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: [DONE]\n\n");
    }

    /// How many connections three requests open whose bodies are dropped after their first
    /// frame, when `rest` follows 20 ms later.
    async fn connections_for_three_dropped_bodies(rest: &'static str) -> usize {
        let (port, accepted) = chunked_server(Duration::from_millis(20), rest).await;
        let transport = hyper_transport();
        let url = format!("http://127.0.0.1:{port}/");
        for _ in 0..3 {
            read_first_frame_and_drop(&transport, &url).await;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        accepted.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_body_dropped_when_only_its_end_is_left_returns_its_connection() {
        assert_eq!(connections_for_three_dropped_bodies("").await, 1);
    }

    #[tokio::test]
    async fn a_body_dropped_with_data_left_closes_its_connection() {
        assert_eq!(connections_for_three_dropped_bodies("data: more").await, 3);
    }

    #[tokio::test]
    async fn hyper_util_bodies_dropped_when_only_their_end_is_left_keep_their_connection() {
        let (port, accepted) = chunked_server(Duration::from_millis(20), "").await;
        let client = crate::transport::hyper_client().unwrap();
        for _ in 0..3 {
            let request =
                http::Request::get(format!("http://127.0.0.1:{port}/")).body(Full::new(Bytes::new()));
            let response = client.request(request.unwrap()).await.unwrap();
            let mut body = UpstreamBody::hyper(response.into_body(), None);
            assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "data: [DONE]\n\n");
            drop(body);
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_that_does_not_end_in_time_closes_its_connection() {
        let (port, accepted) = chunked_server(Duration::from_millis(1500), "").await;
        let transport = hyper_transport();
        let url = format!("http://127.0.0.1:{port}/");
        read_first_frame_and_drop(&transport, &url).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        read_first_frame_and_drop(&transport, &url).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_empty_body_returns_its_connection_at_once() {
        let (port, accepted, _, _) = server(b"HTTP/1.1 204 No Content\r\n\r\n", After::KeepOpen).await;
        let transport = hyper_transport();
        for _ in 0..3 {
            let request = http::Request::get(format!("http://127.0.0.1:{port}/")).body(Bytes::new()).unwrap();
            // The body is never read.
            assert_eq!(transport.send(request).await.unwrap().status(), 204);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_not_reused() {
        let (port, accepted, _, mut closed) = server(OK, After::Close).await;
        let transport = hyper_transport();
        for round in 1..=3 {
            assert_eq!(read_to_end(&transport, &format!("http://127.0.0.1:{port}/")).await, "{}");
            closed.recv().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(accepted.load(Ordering::SeqCst), round);
        }
    }

    #[tokio::test]
    async fn idle_connections_close_after_the_idle_timeout() {
        let (port, _, _, mut closed) = server(OK, After::KeepOpen).await;
        let pool = PlainPool::new(Duration::from_millis(100));
        let authority = format!("127.0.0.1:{port}");
        let (response, lent) = get(&pool, &format!("http://{authority}/")).await;
        let body = UpstreamBody::hyper(response.into_body(), lent);
        body.collect().await.unwrap();
        assert_eq!(pool.idle(&authority), 1);
        tokio::time::timeout(Duration::from_secs(5), closed.recv()).await.unwrap().unwrap();
        assert_eq!(pool.idle(&authority), 0);
        assert!(lock(&pool.inner.hosts).is_empty(), "the idle host is forgotten");
    }

    #[test]
    fn a_pool_outliving_its_runtime_keeps_working_and_reaping() {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        // The server runs on a runtime of its own, for the whole test.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let (port, _, _, _) = server(OK, After::KeepOpen).await;
                port_tx.send(port).unwrap();
                std::future::pending::<()>().await
            })
        });
        let port = port_rx.recv().unwrap();
        let pool = PlainPool::new(Duration::from_millis(100));
        let authority = format!("127.0.0.1:{port}");
        let url = format!("http://{authority}/");
        for _ in 0..2 {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                // A connection pooled by the previous runtime died with it; this one opens
                // another and starts a reaper of its own, which closes it once idle.
                let (response, lent) = get(&pool, &url).await;
                let body = UpstreamBody::hyper(response.into_body(), lent);
                assert_eq!(body.bytes().await.unwrap(), "{}");
                assert_eq!(pool.idle(&authority), 1);
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(pool.idle(&authority), 0);
                // Pooled again, then left behind when this runtime ends.
                let (response, lent) = get(&pool, &url).await;
                let body = UpstreamBody::hyper(response.into_body(), lent);
                body.bytes().await.unwrap();
                assert_eq!(pool.idle(&authority), 1);
            });
        }
    }

    #[tokio::test]
    async fn host_names_and_ipv6_literals_connect() {
        let (port, _, mut heads, _) = server(OK, After::KeepOpen).await;
        let transport = hyper_transport();
        assert_eq!(read_to_end(&transport, &format!("http://localhost:{port}/")).await, "{}");
        let head = heads.recv().await.unwrap();
        assert!(head.iter().any(|l| l.eq_ignore_ascii_case(&format!("host: localhost:{port}"))), "{head:?}");
        // The default port is left out of `Host`, as a browser would.
        let pool = PlainPool::default();
        let err = pool.send(http::Request::get("http://127.0.0.1:80/").body(Bytes::new()).unwrap()).await;
        let header = lock(&pool.inner.hosts).get("127.0.0.1:80").map(|h| h.header.clone());
        assert_eq!(header.unwrap(), "127.0.0.1", "{err:?}");
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            eprintln!("skipping the IPv6 part: no IPv6 loopback here");
            return;
        };
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.is_empty() {
                    write.write_all(OK).await.unwrap();
                }
            }
        });
        assert_eq!(read_to_end(&transport, &format!("http://[::1]:{port}/")).await, "{}");
    }

    #[tokio::test]
    async fn a_url_without_a_host_is_a_builder_error() {
        let pool = PlainPool::default();
        let request = http::Request::get("/v1/models").body(Bytes::new()).unwrap();
        let err = pool.send(request).await.unwrap_err();
        assert!(err.is_builder(), "{err}");
    }
}
