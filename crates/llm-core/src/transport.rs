//! The HTTP client provider crates send their requests with (feature `transport`).
//!
//! By default, [`Transport`] sends `https://` requests with hyper-util's pooled client (rustls
//! with the webpki roots, HTTP/1.1 and HTTP/2 by ALPN) and plain `http://` ones (local model
//! servers, sidecars, in-cluster endpoints) with a lean HTTP/1.1 pool of its own, which hands a
//! connection back when the response body ends instead of spawning a task per request to do it.
//! Both use `TCP_NODELAY`, a 10 s connect timeout and the pool settings of
//! [`POOL_IDLE_TIMEOUT`](crate::POOL_IDLE_TIMEOUT) and
//! [`POOL_MAX_IDLE_PER_HOST`](crate::POOL_MAX_IDLE_PER_HOST). Or it is a reqwest client: the
//! caller's, or one with the same settings when the environment names a proxy.
//!
//! hyper-util's client is what reqwest wraps; calling it directly skips reqwest's per-request
//! URL re-parsing, redirect layer and request wrapping (≈ 25,000 instructions of the gateway's
//! ≈ 206,000 per proxied request, measured with callgrind). Neither default client follows
//! redirects or knows proxies, so a process with `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` set
//! (either case) keeps reqwest.
//!
//! The transport sets no overall time limit: callers bound [`Transport::send`] and the body
//! reads with their own deadline (e.g. `tokio::time::timeout_at`).
//!
//! ```no_run
//! use bytes::Bytes;
//! use llm_core::transport::Transport;
//! # async fn run() -> Result<(), llm_core::transport::TransportError> {
//! let transport = Transport::from_env(); // clones share one connection pool
//! let request = http::Request::get("https://api.example.com/v1/models").body(Bytes::new()).unwrap();
//! let response = transport.send(request).await?;
//! let status = response.status();
//! let body: Bytes = response.into_body().bytes().await?;
//! # let _ = (status, body);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_core::stream::BoxStream;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::error::Elapsed;
use tokio::time::{Instant, Sleep};

use crate::LlmError;

/// How long a new connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The proxy variables reqwest honours (either case); any of them set keeps reqwest.
const PROXY_VARS: &[&str] =
    &["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

mod plain;

type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The default clients: the lean HTTP/1.1 pool for `http://` URLs, hyper-util's for `https://`.
struct HyperClients {
    plain: plain::PlainPool,
    tls: HyperClient,
}

/// The client requests go out on: hyper-util's or reqwest's. Clones share one connection pool.
///
/// `Debug` names only which client it is.
#[derive(Clone)]
pub struct Transport(Inner);

#[derive(Clone)]
enum Inner {
    /// The lean HTTP/1.1 pool and hyper-util's pooled client (behind an `Arc`: the client holds
    /// its settings inline, over 300 bytes).
    Hyper(Arc<HyperClients>),
    /// A reqwest client: the caller's, or the default one when a proxy is configured.
    Reqwest(reqwest::Client),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Inner::Hyper(_) => "Transport::Hyper",
            Inner::Reqwest(_) => "Transport::Reqwest",
        })
    }
}

impl Transport {
    /// The default transport, reading the proxy variables through `lookup`: hyper-util, unless
    /// `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` (either case) is set and not blank, or TLS
    /// cannot be set up; then reqwest with the same connection settings.
    ///
    /// ```
    /// use llm_core::transport::Transport;
    /// let proxied = |name: &str| (name == "HTTPS_PROXY").then(|| "http://proxy:3128".to_owned());
    /// assert!(Transport::default_with_env(&proxied).is_reqwest());
    /// assert!(!Transport::default_with_env(&|_| None).is_reqwest());
    /// ```
    pub fn default_with_env(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let proxied = PROXY_VARS.iter().any(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()));
        if proxied {
            return Self::reqwest(reqwest_client());
        }
        match hyper_client() {
            Some(tls) => Self(Inner::Hyper(Arc::new(HyperClients { plain: Default::default(), tls }))),
            None => Self::reqwest(reqwest_client()),
        }
    }

    /// [`default_with_env`](Self::default_with_env) over the process environment.
    pub fn from_env() -> Self {
        Self::default_with_env(&|name| std::env::var(name).ok())
    }

    /// Sends requests with `client` (its proxies, timeouts and redirect policy apply).
    pub fn reqwest(client: reqwest::Client) -> Self {
        Self(Inner::Reqwest(client))
    }

    /// Whether requests go through reqwest (a proxy is configured or the caller gave a client).
    pub fn is_reqwest(&self) -> bool {
        matches!(self.0, Inner::Reqwest(_))
    }

    /// Sends `request` and returns the response head with its still unread body. Any status is
    /// a response; only failures below HTTP are errors.
    pub async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<UpstreamBody>, TransportError> {
        match &self.0 {
            Inner::Hyper(clients) if request.uri().scheme() == Some(&http::uri::Scheme::HTTP) => {
                let (response, lent) = clients.plain.send(request).await?;
                Ok(response.map(|body| UpstreamBody::hyper(body, lent)))
            }
            Inner::Hyper(clients) => {
                let response = clients
                    .tls
                    .request(request.map(Full::new))
                    .await
                    .map_err(|e| TransportError(ErrorInner::Client(e)))?;
                Ok(response.map(|body| UpstreamBody::hyper(body, None)))
            }
            Inner::Reqwest(client) => {
                let request = reqwest::Request::try_from(request).map_err(TransportError::reqwest)?;
                let response = client.execute(request).await.map_err(TransportError::reqwest)?;
                Ok(http::Response::from(response).map(|b| UpstreamBody(BodyInner::Reqwest(b))))
            }
        }
    }
}

impl From<reqwest::Client> for Transport {
    fn from(client: reqwest::Client) -> Self {
        Self::reqwest(client)
    }
}

fn hyper_client() -> Option<HyperClient> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_webpki_roots(provider).ok()?;
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.enforce_http(false);
    let connector = https.https_or_http().enable_all_versions().wrap_connector(http);
    Some(
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(crate::POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(crate::POOL_MAX_IDLE_PER_HOST)
            .build(connector),
    )
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(crate::POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(crate::POOL_MAX_IDLE_PER_HOST)
        .build()
        .unwrap_or_default()
}

/// A response body from either client, read as an [`http_body::Body`] or whole with
/// [`bytes`](Self::bytes).
#[derive(Debug)]
pub struct UpstreamBody(BodyInner);

#[derive(Debug)]
enum BodyInner {
    /// From hyper, read until `ended`; a body from the plain pool lends its connection, to hand
    /// back when the body ends.
    Hyper {
        body: hyper::body::Incoming,
        ended: bool,
        lent: Option<plain::Lent>,
    },
    /// A body handed to [`finish_in_background`] on drop.
    Gone,
    Reqwest(reqwest::Body),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        match &mut self.get_mut().0 {
            BodyInner::Hyper { body, ended, lent } => {
                let frame = Pin::new(&mut *body).poll_frame(cx);
                let end = match &frame {
                    Poll::Pending => false,
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    Poll::Ready(None | Some(Err(_))) => true,
                };
                if end {
                    *ended = true;
                    // A plain-pool connection is free for the next request, unless it failed.
                    let failed = matches!(frame, Poll::Ready(Some(Err(_))));
                    if let Some(lent) = lent.take()
                        && !failed
                    {
                        lent.give_back();
                    }
                }
                frame.map_err(|e| TransportError(ErrorInner::Body(e)))
            }
            BodyInner::Gone => Poll::Ready(None),
            BodyInner::Reqwest(body) => Pin::new(body).poll_frame(cx).map_err(TransportError::reqwest),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyInner::Hyper { body, .. } => body.is_end_stream(),
            BodyInner::Reqwest(body) => body.is_end_stream(),
            BodyInner::Gone => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyInner::Hyper { body, .. } => body.size_hint(),
            BodyInner::Reqwest(body) => body.size_hint(),
            BodyInner::Gone => SizeHint::with_exact(0),
        }
    }
}

impl Drop for UpstreamBody {
    /// A body dropped before its end (a stream parser stops at its last event, before the
    /// chunked body's terminator has been read) may still be at its end: if nothing but the end
    /// follows, its connection serves another request instead of closing.
    fn drop(&mut self) {
        if let BodyInner::Hyper { ended: false, .. } = self.0
            && let BodyInner::Hyper { body, lent, .. } = std::mem::replace(&mut self.0, BodyInner::Gone)
        {
            finish_in_background(body, lent);
        }
    }
}

/// How long a body dropped before its end may take to end before its connection is closed.
const FINISH_WITHIN: Duration = Duration::from_secs(1);

/// Reads what is left of a body its reader dropped early, on a task of its own: when the body
/// ends within [`FINISH_WITHIN`] with no more data (a stream's last event was read, only the end
/// of the chunked framing was not), the connection goes back to its pool (`lent`'s, or
/// hyper-util's, which watches the body end); any data (the reader gave up on an answer still
/// coming), an error or the time limit closes it.
fn finish_in_background(body: hyper::body::Incoming, lent: Option<plain::Lent>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        let mut body = body;
        let rest = async {
            loop {
                match body.frame().await {
                    None => return true,
                    Some(Ok(frame)) if frame.data_ref().is_none_or(|data| data.is_empty()) => {}
                    Some(_) => return false,
                }
            }
        };
        if let (Ok(true), Some(lent)) = (tokio::time::timeout(FINISH_WITHIN, rest).await, lent) {
            lent.give_back();
        }
    });
}

impl UpstreamBody {
    /// A body from hyper; `lent` when its connection came from the plain pool.
    fn hyper(body: hyper::body::Incoming, lent: Option<plain::Lent>) -> Self {
        Self(BodyInner::Hyper { ended: body.is_end_stream(), body, lent })
    }

    /// Reads the whole body.
    pub async fn bytes(self) -> Result<Bytes, TransportError> {
        Ok(self.collect().await?.to_bytes())
    }

    /// Reads the whole body before `deadline` (without one, as long as it takes).
    pub async fn bytes_before(self, deadline: Option<Instant>) -> Result<Bytes, BodyReadError> {
        match within(deadline, self.bytes()).await {
            Err(_) => Err(BodyReadError::DeadlinePassed),
            Ok(result) => result.map_err(BodyReadError::Transport),
        }
    }

    /// The body's data as it arrives, every read before `deadline` (one timer for the whole
    /// stream). A failed read or the passed deadline is the last item, as `to_error` maps it:
    /// stream parsers pass an [`LlmError`] from the body on as it is.
    ///
    /// ```no_run
    /// # async fn demo(body: llm_core::transport::UpstreamBody) {
    /// use futures_util::StreamExt;
    /// use llm_core::transport::BodyReadError;
    /// use llm_core::{ErrorKind, LlmError};
    /// let deadline = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(30));
    /// let mut data = body.into_stream(deadline, |e| match e {
    ///     BodyReadError::DeadlinePassed => LlmError::new(ErrorKind::Timeout, "too slow"),
    ///     BodyReadError::Transport(e) => LlmError::new(ErrorKind::Transport, "cut off").with_source(e),
    /// });
    /// while let Some(bytes) = data.next().await { /* … */ }
    /// # }
    /// ```
    pub fn into_stream(
        self,
        deadline: Option<Instant>,
        to_error: fn(BodyReadError) -> LlmError,
    ) -> BoxStream<'static, Result<Bytes, LlmError>> {
        let timer = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
        Box::pin(DeadlineBody { body: self, timer, to_error, done: false })
    }
}

/// Whether `uri` is one a transport can send to: absolute `http://` or `https://` with a host.
///
/// ```
/// use llm_core::transport::is_http_url;
/// assert!(is_http_url(&"https://api.example.com/v1".parse().unwrap()));
/// assert!(!is_http_url(&"ftp://files.example.com".parse().unwrap()));
/// assert!(!is_http_url(&"/v1/messages".parse().unwrap()));
/// ```
pub fn is_http_url(uri: &http::Uri) -> bool {
    matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
}

/// Waits for `future` until `deadline` (without one, as long as it takes).
pub async fn within<F: Future>(deadline: Option<Instant>, future: F) -> Result<F::Output, Elapsed> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, future).await,
        None => Ok(future.await),
    }
}

/// Why reading a body before a deadline failed.
#[derive(Debug)]
pub enum BodyReadError {
    /// The deadline passed first.
    DeadlinePassed,
    /// The connection failed.
    Transport(TransportError),
}

/// [`UpstreamBody::into_stream`]'s stream.
struct DeadlineBody {
    body: UpstreamBody,
    timer: Option<Pin<Box<Sleep>>>,
    to_error: fn(BodyReadError) -> LlmError,
    done: bool,
}

impl Stream for DeadlineBody {
    type Item = Result<Bytes, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err((this.to_error)(BodyReadError::Transport(e)))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
        if let Some(timer) = &mut this.timer
            && timer.as_mut().poll(cx).is_ready()
        {
            this.done = true;
            return Poll::Ready(Some(Err((this.to_error)(BodyReadError::DeadlinePassed))));
        }
        Poll::Pending
    }
}

/// Why a request or a body read failed below HTTP. Its message and `Debug` name no URL and no
/// header.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransportError(ErrorInner);

#[derive(Debug, thiserror::Error)]
enum ErrorInner {
    /// hyper-util could not send the request or read the response head.
    #[error(transparent)]
    Client(hyper_util::client::legacy::Error),
    /// The plain pool could not open a connection.
    #[error("could not connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The plain pool could not send the request or read the response head.
    #[error(transparent)]
    Http(hyper::Error),
    /// The URL names no usable host.
    #[error("the URL names no usable host")]
    NoHost,
    /// hyper failed while reading the body.
    #[error(transparent)]
    Body(hyper::Error),
    /// reqwest failed (its error keeps no URL).
    #[error(transparent)]
    Reqwest(reqwest::Error),
}

impl TransportError {
    fn reqwest(e: reqwest::Error) -> Self {
        Self(ErrorInner::Reqwest(e.without_url()))
    }

    /// Whether the request could not be built (an unusable URL).
    pub fn is_builder(&self) -> bool {
        match &self.0 {
            ErrorInner::Reqwest(e) => e.is_builder(),
            ErrorInner::NoHost => true,
            _ => false,
        }
    }

    /// Whether no connection could be opened.
    pub fn is_connect(&self) -> bool {
        match &self.0 {
            ErrorInner::Client(e) => e.is_connect(),
            ErrorInner::Reqwest(e) => e.is_connect(),
            ErrorInner::Connect(_) => true,
            _ => false,
        }
    }

    /// Whether a transport-level timeout fired: the connect timeout (an I/O `TimedOut` among
    /// the error's causes), or any of a reqwest client's own timeouts.
    pub fn is_timeout(&self) -> bool {
        if let ErrorInner::Reqwest(e) = &self.0 {
            // `transparent` hands out the reqwest error's causes, not the error itself.
            return e.is_timeout();
        }
        if let ErrorInner::Connect(e) = &self.0 {
            return e.kind() == std::io::ErrorKind::TimedOut;
        }
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            {
                return true;
            }
            source = e.source();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: Vec<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn hyper_by_default_reqwest_behind_a_proxy() {
        assert!(!Transport::default_with_env(&env(vec![])).is_reqwest());
        assert!(!Transport::default_with_env(&env(vec![("HTTPS_PROXY", " ")])).is_reqwest());
        for name in PROXY_VARS {
            let transport = Transport::default_with_env(&env(vec![(*name, "http://proxy:3128")]));
            assert!(transport.is_reqwest(), "{name}");
        }
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_error_on_both_transports() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        for transport in [Transport::default_with_env(&env(vec![])), Transport::reqwest(reqwest_client())] {
            let request = http::Request::post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
                .body(Bytes::new())
                .unwrap();
            let err = transport.send(request).await.unwrap_err();
            assert!(err.is_connect(), "{transport:?}: {err}");
            assert!(!err.is_timeout() && !err.is_builder(), "{transport:?}: {err}");
        }
    }

    #[tokio::test]
    async fn https_urls_speak_tls() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 1];
            socket.read_exact(&mut first).await.unwrap();
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
            first[0]
        });
        let transport = Transport::default_with_env(&env(vec![]));
        let request =
            http::Request::get(format!("https://127.0.0.1:{port}/v1/models")).body(Bytes::new()).unwrap();
        let err = transport.send(request).await.unwrap_err();
        // A TLS handshake record (0x16), not a plain-text request, and no answer accepted from a
        // server that does not speak TLS.
        assert_eq!(server.await.unwrap(), 0x16);
        assert!(!err.is_builder(), "{err}");
    }

    /// A server that answers requests only once `burst` of them are waiting (so a burst holds
    /// `burst` connections at once), counting the connections it accepts.
    async fn counting_server(burst: usize) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let barrier = Arc::new(tokio::sync::Barrier::new(burst));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.is_empty() {
                            barrier.wait().await;
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                            if write.write_all(ok).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    #[tokio::test]
    async fn a_burst_of_connections_stays_pooled_for_the_next_burst() {
        const BURST: usize = 200;
        let (port, accepted) = counting_server(BURST).await;
        let transport = Transport::default_with_env(&env(vec![]));
        let burst = || {
            let calls = (0..BURST).map(|_| {
                let transport = transport.clone();
                async move {
                    let request =
                        http::Request::get(format!("http://127.0.0.1:{port}/")).body(Bytes::new()).unwrap();
                    let response = transport.send(request).await.unwrap();
                    response.into_body().bytes().await.unwrap()
                }
            });
            futures_util::future::join_all(calls)
        };
        burst().await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), BURST);
        // The connections go back to the pool as their bodies end; the next burst takes them
        // all and opens none (a pool keeping 64 would have closed 136).
        tokio::time::sleep(Duration::from_millis(50)).await;
        burst().await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), BURST);
    }

    #[tokio::test]
    async fn a_reqwest_timeout_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _silent = tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await
        });
        let client = reqwest::Client::builder().timeout(Duration::from_millis(50)).build().unwrap();
        let request = http::Request::get(format!("http://127.0.0.1:{port}/")).body(Bytes::new()).unwrap();
        let err = Transport::reqwest(client).send(request).await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(!err.is_connect(), "{err}");
    }

    /// A server that sends a chunked answer's head and first chunk, then nothing.
    async fn stalling_server() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = socket.read(&mut buf).await;
                    let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
                    let _ = socket.write_all(head).await;
                    std::future::pending::<()>().await
                });
            }
        });
        port
    }

    fn late(e: BodyReadError) -> LlmError {
        match e {
            BodyReadError::DeadlinePassed => LlmError::new(crate::ErrorKind::Timeout, "late"),
            BodyReadError::Transport(e) => LlmError::new(crate::ErrorKind::Transport, "cut").with_source(e),
        }
    }

    #[tokio::test]
    async fn the_deadline_ends_a_stalled_body_on_both_transports() {
        use futures_util::StreamExt;
        let port = stalling_server().await;
        for transport in [Transport::default_with_env(&env(vec![])), Transport::reqwest(reqwest_client())] {
            let get = || http::Request::get(format!("http://127.0.0.1:{port}/")).body(Bytes::new()).unwrap();
            let deadline = || Some(Instant::now() + Duration::from_millis(200));
            let body = transport.send(get()).await.unwrap().into_body();
            let items: Vec<_> = body.into_stream(deadline(), late).collect().await;
            assert_eq!(items.len(), 2, "{transport:?}: {items:?}");
            assert_eq!(items[0].as_ref().unwrap(), &Bytes::from_static(b"first"));
            assert_eq!(items[1].as_ref().unwrap_err().kind(), &crate::ErrorKind::Timeout);
            let body = transport.send(get()).await.unwrap().into_body();
            let err = body.bytes_before(deadline()).await.unwrap_err();
            assert!(matches!(err, BodyReadError::DeadlinePassed), "{transport:?}: {err:?}");
        }
    }

    #[tokio::test]
    async fn without_a_deadline_a_body_is_read_to_its_end() {
        use futures_util::StreamExt;
        let (port, _) = counting_server(1).await;
        let transport = Transport::default_with_env(&env(vec![]));
        let get = || http::Request::get(format!("http://127.0.0.1:{port}/")).body(Bytes::new()).unwrap();
        let body = transport.send(get()).await.unwrap().into_body();
        let items: Vec<_> = body.into_stream(None, late).collect().await;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().unwrap(), &Bytes::from_static(b"{}"));
        let body = transport.send(get()).await.unwrap().into_body();
        assert_eq!(body.bytes_before(None).await.unwrap(), Bytes::from_static(b"{}"));
    }
}
