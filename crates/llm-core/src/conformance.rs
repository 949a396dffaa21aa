//! The conformance suite every provider adapter runs against a mock upstream.
//!
//! A provider crate implements [`Fixture`] (how to build its service for a base URL, and how its
//! upstream spells a text answer, a stream, streamed tool calls and errors) and calls [`run`]
//! from a test. The suite checks what every adapter must get right, in the common types:
//!
//! - a non-streamed text answer with usage and finish reason;
//! - a streamed text answer, delivered in several chunks, with the final usage;
//! - two tool calls streamed in fragments, reassembled exactly and kept apart;
//! - error statuses mapped to the right [`ErrorKind`] (with `retry-after` on 429), a
//!   context-window error recognised from the body, and bad JSON as [`ErrorKind::Decode`];
//! - a stream cut off mid-way (connection reset), or ending cleanly before the upstream's end
//!   marker, surfacing as an error item, not a silent end;
//! - the connections of a burst of concurrent requests kept for the next burst, not closed and
//!   opened again (each reopened upstream connection costs a TCP and a TLS handshake).
//!
//! ```no_run
//! use llm_core::conformance::{Fixture, ToolCallScript};
//! use llm_core::testkit::MockResponse;
//! use llm_core::{BoxLlmService, Usage};
//! struct MyFixture;
//! impl Fixture for MyFixture {
//!     fn service(&self, base_url: &str) -> BoxLlmService { unimplemented!() }
//!     fn text_response(&self, text: &str, usage: &Usage) -> MockResponse { unimplemented!() }
//!     fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse { unimplemented!() }
//!     fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse { unimplemented!() }
//!     fn error_response(&self, status: u16, message: &str) -> MockResponse { unimplemented!() }
//!     fn context_window_error(&self) -> MockResponse { unimplemented!() }
//! }
//! # async fn t() {
//! llm_core::conformance::run(&MyFixture).await;
//! # }
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use tower::ServiceExt;

use crate::testkit::{MockResponse, MockServer};
use crate::{
    BoxLlmService, ChatMessage, ChatRequest, ChatResponse, ErrorKind, FinishReason, LlmError, LlmRequest,
    Tool, Usage, collect_stream,
};

/// One tool call the upstream streams: its id, function name and argument text in fragments.
#[derive(Debug, Clone)]
pub struct ToolCallScript {
    /// The call id.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The argument JSON text, split as the upstream sends it.
    pub argument_fragments: Vec<String>,
}

impl ToolCallScript {
    /// The whole argument text.
    pub fn arguments(&self) -> String {
        self.argument_fragments.concat()
    }
}

/// What a provider crate supplies to run the suite.
pub trait Fixture: Send + Sync {
    /// The service under test, sending to `base_url` (the mock server) with a test key.
    fn service(&self, base_url: &str) -> BoxLlmService;

    /// The model name put in requests.
    fn model(&self) -> String {
        "test-model".to_owned()
    }

    /// The upstream's complete answer `text` with `usage` and a natural stop.
    fn text_response(&self, text: &str, usage: &Usage) -> MockResponse;

    /// The upstream's stream of `pieces` (one event each, so the stream can be cut after any),
    /// a natural stop, and `usage` at the end.
    fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse;

    /// The upstream's stream of `calls`, fragments interleaved as the upstream would send them,
    /// ending with a tool-calls stop.
    fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse;

    /// The upstream's error answer with `status` and `message`, in its own body format.
    fn error_response(&self, status: u16, message: &str) -> MockResponse;

    /// The upstream's answer to a prompt longer than the context window.
    fn context_window_error(&self) -> MockResponse;

    /// A 200 answer whose body is not valid for the upstream (default: truncated JSON).
    fn malformed_response(&self) -> MockResponse {
        MockResponse::bytes(200, "{\"id\": \"x\", \"choices\": [")
            .with_header("content-type", "application/json")
    }
}

fn request(fixture: &dyn Fixture, stream: bool) -> LlmRequest {
    let req = ChatRequest::new(fixture.model(), vec![ChatMessage::user("Say hello")]).with_max_tokens(32);
    LlmRequest::chat(req.with_stream(stream))
}

async fn call(
    fixture: &dyn Fixture,
    server: &MockServer,
    req: LlmRequest,
) -> Result<crate::LlmResponse, LlmError> {
    let svc = fixture.service(&server.url());
    tokio::time::timeout(Duration::from_secs(10), svc.oneshot(req))
        .await
        .unwrap_or_else(|_| panic!("conformance: the service did not answer within 10 s"))
}

async fn chat_stream(
    fixture: &dyn Fixture,
    server: &MockServer,
    req: LlmRequest,
) -> Result<ChatResponse, LlmError> {
    let stream = call(fixture, server, req).await?.into_chat_stream()?;
    tokio::time::timeout(Duration::from_secs(10), collect_stream(stream))
        .await
        .unwrap_or_else(|_| panic!("conformance: the stream did not end within 10 s"))
}

fn usage() -> Usage {
    Usage::new(11, 7)
}

fn assert_usage(got: Option<&Usage>, what: &str) {
    let got = got.unwrap_or_else(|| panic!("conformance ({what}): no usage in the response"));
    assert_eq!(
        (got.prompt_tokens, got.completion_tokens, got.total_tokens),
        (11, 7, 18),
        "conformance ({what}): usage"
    );
}

/// A non-streamed text answer keeps text, usage and finish reason.
pub async fn non_streamed_text(fixture: &dyn Fixture) {
    let server = MockServer::start().await;
    server.push(fixture.text_response("Hello, world!", &usage()));
    let res = call(fixture, &server, request(fixture, false))
        .await
        .unwrap_or_else(|e| panic!("conformance (text): unexpected error {e}"))
        .into_chat()
        .expect("a complete chat response");
    assert_eq!(res.text().as_deref(), Some("Hello, world!"), "conformance (text): text");
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::Stop), "conformance (text): finish_reason");
    assert_usage(res.usage.as_deref(), "text");
    assert_eq!(server.request_count(), 1, "conformance (text): exactly one upstream request");
}

/// A streamed answer arrives in several chunks and ends with the usage.
pub async fn streamed_text_with_usage(fixture: &dyn Fixture) {
    let server = MockServer::start().await;
    let pieces = ["Hel", "lo, ", "wor", "ld!"];
    server.push(fixture.text_stream(&pieces, &usage()));
    let stream = call(fixture, &server, request(fixture, true))
        .await
        .unwrap_or_else(|e| panic!("conformance (stream): unexpected error {e}"))
        .into_chat_stream()
        .expect("a chat stream");
    let chunks: Vec<_> = stream.collect().await;
    let mut acc = crate::StreamAccumulator::new();
    let mut content_chunks = 0;
    for c in &chunks {
        let c = c.as_ref().unwrap_or_else(|e| panic!("conformance (stream): error item {e}"));
        content_chunks +=
            c.choices.iter().filter(|ch| ch.delta.content.as_deref().is_some_and(|t| !t.is_empty())).count();
        acc.push(c);
    }
    assert!(
        content_chunks >= pieces.len(),
        "conformance (stream): text must arrive piece by piece, got {content_chunks} chunks"
    );
    let res = acc.finish();
    assert_eq!(res.text().as_deref(), Some("Hello, world!"), "conformance (stream): text");
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::Stop), "conformance (stream): finish_reason");
    assert_usage(res.usage.as_deref(), "stream");
}

/// Two tool calls streamed in fragments come out whole, exact and apart.
pub async fn streamed_tool_calls(fixture: &dyn Fixture) {
    let server = MockServer::start().await;
    let calls = vec![
        ToolCallScript {
            id: "call_1".into(),
            name: "get_weather".into(),
            argument_fragments: vec![
                "{\"ci".into(),
                "ty\": \"Par".into(),
                "is\", \"unit\"".into(),
                ": \"c\"}".into(),
            ],
        },
        ToolCallScript {
            id: "call_2".into(),
            name: "get_time".into(),
            argument_fragments: vec!["{\"tz\":".into(), " \"Europe/Paris\"}".into()],
        },
    ];
    server.push(fixture.tool_call_stream(&calls));
    let mut req = request(fixture, true);
    if let crate::Operation::Chat(chat) = &mut req.operation {
        chat.tools = Some(vec![
            Tool::function(
                "get_weather",
                "Weather in a city",
                serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}),
            ),
            Tool::function(
                "get_time",
                "Time in a zone",
                serde_json::json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
            ),
        ]);
    }
    let res = chat_stream(fixture, &server, req)
        .await
        .unwrap_or_else(|e| panic!("conformance (tool calls): unexpected error {e}"));
    let got = res.choices[0].message.tool_calls.clone().unwrap_or_default();
    assert_eq!(got.len(), 2, "conformance (tool calls): two calls, got {got:?}");
    for (want, got) in calls.iter().zip(&got) {
        assert_eq!(got.id, want.id, "conformance (tool calls): id");
        assert_eq!(got.function.name, want.name, "conformance (tool calls): name");
        let want_args: serde_json::Value =
            serde_json::from_str(&want.arguments()).expect("valid script JSON");
        let got_args: serde_json::Value = serde_json::from_str(&got.function.arguments).unwrap_or_else(|e| {
            panic!("conformance (tool calls): arguments {:?} are not JSON: {e}", got.function.arguments)
        });
        assert_eq!(got_args, want_args, "conformance (tool calls): arguments");
    }
    assert_eq!(
        res.choices[0].finish_reason,
        Some(FinishReason::ToolCalls),
        "conformance (tool calls): finish_reason"
    );
}

/// Error statuses map to the right kinds; 429 keeps its `retry-after`.
pub async fn error_statuses(fixture: &dyn Fixture) {
    type Case = (u16, fn(&ErrorKind) -> bool, &'static str);
    let cases: Vec<Case> = vec![
        (400, |k| *k == ErrorKind::BadRequest, "BadRequest"),
        (401, |k| *k == ErrorKind::Authentication, "Authentication"),
        (403, |k| *k == ErrorKind::PermissionDenied, "PermissionDenied"),
        (404, |k| *k == ErrorKind::NotFound, "NotFound"),
        (
            429,
            |k| *k == ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(3)) },
            "RateLimited(3 s)",
        ),
        (500, |k| *k == ErrorKind::Upstream { status: 500 }, "Upstream(500)"),
        (503, |k| *k == ErrorKind::ServiceUnavailable, "ServiceUnavailable"),
    ];
    for (status, check, want) in cases {
        for stream in [false, true] {
            let server = MockServer::start().await;
            let mut resp = fixture.error_response(status, "something is wrong");
            if status == 429 {
                resp = resp.with_header("retry-after", "3");
            }
            server.push(resp);
            let err = match call(fixture, &server, request(fixture, stream)).await {
                Ok(r) if stream => match r.into_chat_stream() {
                    Ok(mut s) => match s.next().await {
                        Some(Err(e)) => e,
                        other => panic!("conformance (status {status}): expected an error, got {other:?}"),
                    },
                    Err(e) => e,
                },
                Ok(r) => panic!("conformance (status {status}): expected an error, got {r:?}"),
                Err(e) => e,
            };
            assert!(
                check(err.kind()),
                "conformance (status {status}, stream {stream}): want {want}, got {:?}",
                err.kind()
            );
            assert!(
                err.message().contains("something is wrong"),
                "conformance (status {status}): upstream message kept, got {:?}",
                err.message()
            );
        }
    }
}

/// A context-window error is recognised from the body.
pub async fn context_window(fixture: &dyn Fixture) {
    let server = MockServer::start().await;
    server.push(fixture.context_window_error());
    let err = call(fixture, &server, request(fixture, false))
        .await
        .expect_err("conformance (context window): an error");
    assert_eq!(*err.kind(), ErrorKind::ContextWindowExceeded, "conformance (context window): kind");
}

/// Bad JSON from upstream is a decode error, not a panic or an empty answer.
pub async fn malformed_body(fixture: &dyn Fixture) {
    let server = MockServer::start().await;
    server.push(fixture.malformed_response());
    let err =
        call(fixture, &server, request(fixture, false)).await.expect_err("conformance (bad JSON): an error");
    assert_eq!(*err.kind(), ErrorKind::Decode, "conformance (bad JSON): kind");
}

/// A stream cut off mid-way (connection reset after two events) ends with an error item.
pub async fn cut_stream(fixture: &dyn Fixture) {
    assert_stream_ends_in_error(fixture, "cut stream", |r| r.cut_after(2)).await;
}

/// A stream whose body ends cleanly after two events, before the upstream's end marker, ends
/// with an error item: a truncated answer must never pass for a complete one.
pub async fn stream_without_end_marker(fixture: &dyn Fixture) {
    assert_stream_ends_in_error(fixture, "stream without end marker", |r| r.end_after(2)).await;
}

async fn assert_stream_ends_in_error(
    fixture: &dyn Fixture,
    what: &str,
    truncate: fn(MockResponse) -> MockResponse,
) {
    let server = MockServer::start().await;
    server.push(truncate(fixture.text_stream(&["Hel", "lo", "!"], &usage())));
    let stream = call(fixture, &server, request(fixture, true))
        .await
        .unwrap_or_else(|e| panic!("conformance ({what}): the head should arrive, got {e}"))
        .into_chat_stream()
        .expect("a chat stream");
    let items: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .unwrap_or_else(|_| panic!("conformance ({what}): the stream must end"));
    assert!(
        matches!(items.last(), Some(Err(_))),
        "conformance ({what}): the last item must be an error, got {items:?}"
    );
}

/// The connections a burst of concurrent requests opened serve the next burst: an adapter whose
/// pool keeps too few idle connections closes the surplus and opens them again.
pub async fn burst_connections_are_reused(fixture: &dyn Fixture) {
    const BURST: usize = 100;
    let server = MockServer::start().await;
    // Slow enough that the whole burst is in flight at once, one connection per request.
    let answer = fixture.text_response("Hello", &usage()).with_delay(Duration::from_millis(300));
    server.set_default(answer);
    let svc = fixture.service(&server.url());
    for round in ["first", "second"] {
        let calls = (0..BURST).map(|_| {
            let svc = svc.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(10), svc.oneshot(request(fixture, false))).await
            }
        });
        for result in futures_util::future::join_all(calls).await {
            let answer = result.unwrap_or_else(|_| panic!("conformance (burst): no answer within 10 s"));
            answer.unwrap_or_else(|e| panic!("conformance (burst, {round}): {e}"));
        }
        // Let the last connections go back to the pool.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Never more than BURST requests were in flight; a pool that closed some of the first burst's
    // connections needs new ones for the second (a pool of 64 opens 136). A tenth more is allowed
    // for connections a loaded machine has not yet handed back to the pool.
    let opened = server.connection_count();
    assert!(
        opened <= BURST + BURST / 10,
        "conformance (burst): two bursts of {BURST} requests opened {opened} connections; the pool must keep a burst's connections"
    );
}

/// Runs every check; panics with a message naming the first that fails.
pub async fn run(fixture: &dyn Fixture) {
    non_streamed_text(fixture).await;
    streamed_text_with_usage(fixture).await;
    streamed_tool_calls(fixture).await;
    error_statuses(fixture).await;
    context_window(fixture).await;
    malformed_body(fixture).await;
    cut_stream(fixture).await;
    stream_without_end_marker(fixture).await;
    burst_connections_are_reused(fixture).await;
}
