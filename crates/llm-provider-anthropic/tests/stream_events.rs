//! The stream parser on synthetic event sequences: thinking, errors, odd inputs.

use bytes::Bytes;
use futures_util::StreamExt;
use llm_core::sse::SseEvent;
use llm_core::{ChatChunk, ErrorKind, FinishReason, LlmError, StreamAccumulator};
use llm_provider_anthropic::{StreamParser, chunk_stream};
use serde_json::{Value, json};

fn frame(data: &Value) -> String {
    format!("event: {}\ndata: {}\n\n", data["type"].as_str().unwrap_or("x"), data)
}

async fn run(events: &[Value], tail: &str) -> Vec<Result<ChatChunk, LlmError>> {
    let mut body: String = events.iter().map(frame).collect();
    body.push_str(tail);
    let pieces = vec![Ok::<_, std::io::Error>(Bytes::from(body))];
    chunk_stream(futures_util::stream::iter(pieces)).collect().await
}

fn start() -> Value {
    json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 1}}})
}

fn stop(reason: &str) -> [Value; 2] {
    [
        json!({"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": 30}}),
        json!({"type": "message_stop"}),
    ]
}

fn ok_chunks(items: &[Result<ChatChunk, LlmError>]) -> Vec<&ChatChunk> {
    items.iter().map(|i| i.as_ref().unwrap_or_else(|e| panic!("unexpected error {e}"))).collect()
}

#[tokio::test]
async fn thinking_is_reasoning_content_and_the_signed_block_is_kept() {
    let mut events = vec![
        start(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "think."}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBsig=="}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "opaque"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "42"}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "citations_delta", "citation": {}}}),
        json!({"type": "content_block_stop", "index": 2}),
    ];
    events.extend(stop("end_turn"));
    let items = run(&events, "").await;
    let chunks = ok_chunks(&items);
    let mut acc = StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    let res = acc.finish();
    assert_eq!(res.choices[0].message.reasoning_content.as_deref(), Some("Let me think."));
    assert_eq!(res.text().as_deref(), Some("42"));
    let blocks: Vec<Value> = chunks
        .iter()
        .filter_map(|c| c.choices[0].delta.extra.get("thinking_blocks"))
        .flat_map(|b| b.as_array().unwrap().clone())
        .collect();
    assert_eq!(
        blocks,
        vec![
            json!({"type": "thinking", "thinking": "Let me think.", "signature": "EqQBsig=="}),
            json!({"type": "redacted_thinking", "data": "opaque"}),
        ]
    );
    let u = res.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (130, 30, 160));
    assert_eq!((u.cached_tokens(), u.cache_creation_tokens()), (100, 20));
}

#[tokio::test]
async fn error_event_mid_stream_is_the_last_item() {
    let events = [
        start(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "never"}}),
    ];
    let items = run(&events, "").await;
    assert_eq!(items.len(), 3, "role, text, error: {items:?}");
    let err = items[2].as_ref().unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::ServiceUnavailable);
    assert!(err.is_retryable());
    assert_eq!(err.message(), "Overloaded");
}

#[tokio::test]
async fn other_error_events_map_by_type() {
    for (kind, want) in [
        ("rate_limit_error", ErrorKind::RateLimited { retry_after: None }),
        ("api_error", ErrorKind::Upstream { status: 500 }),
        ("invalid_request_error", ErrorKind::BadRequest),
        ("something_new", ErrorKind::Upstream { status: 500 }),
    ] {
        let items =
            run(&[start(), json!({"type": "error", "error": {"type": kind, "message": "m"}})], "").await;
        assert_eq!(items.last().unwrap().as_ref().unwrap_err().kind(), &want, "{kind}");
    }
}

#[tokio::test]
async fn truncated_streams_end_with_an_error() {
    let events = [
        start(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
    ];
    // Ends cleanly after an event, but without message_stop.
    let items = run(&events, "").await;
    assert_eq!(*items.last().unwrap().as_ref().unwrap_err().kind(), ErrorKind::Transport);
    // Ends in the middle of an event's JSON.
    let items = run(&events, "event: content_block_delta\ndata: {\"type\":\"content_blo").await;
    assert!(items.last().unwrap().is_err());
    // Even after a message_delta, a missing message_stop is an error.
    let mut with_delta = events.to_vec();
    with_delta.push(stop("end_turn")[0].clone());
    let items = run(&with_delta, "").await;
    assert!(items.last().unwrap().is_err());
    // An empty body.
    assert!(run(&[], "").await.last().unwrap().is_err());
}

#[tokio::test]
async fn a_body_error_is_a_transport_error_item() {
    let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(frame(&start()))),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")),
    ];
    let items: Vec<_> = chunk_stream(futures_util::stream::iter(pieces)).collect().await;
    assert!(items[0].is_ok());
    assert_eq!(*items[1].as_ref().unwrap_err().kind(), ErrorKind::Transport);
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn an_llm_error_from_the_body_is_passed_on_as_it_is() {
    let pieces: Vec<Result<Bytes, LlmError>> = vec![
        Ok(Bytes::from(frame(&start()))),
        Err(LlmError::new(ErrorKind::Timeout, "the deadline passed").with_code("deadline")),
    ];
    let items: Vec<_> = chunk_stream(futures_util::stream::iter(pieces)).collect().await;
    assert_eq!(items.len(), 2);
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(
        (err.kind(), err.message(), err.code()),
        (&ErrorKind::Timeout, "the deadline passed", Some("deadline"))
    );
}

#[tokio::test]
async fn unreadable_event_json_is_a_decode_error() {
    let items = run(&[start()], "event: content_block_delta\ndata: {not json}\n\n").await;
    assert_eq!(*items.last().unwrap().as_ref().unwrap_err().kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn tools_are_numbered_in_order_and_empty_input_is_an_empty_object() {
    let mut events = vec![
        start(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Sure."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "now", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "add", "input": {}}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"a\": 1,"}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": " \"b\": [2]}"}}),
        json!({"type": "content_block_stop", "index": 2}),
    ];
    events.extend(stop("tool_use"));
    let items = run(&events, "").await;
    let mut acc = StreamAccumulator::new();
    ok_chunks(&items).iter().for_each(|c| acc.push(c));
    let res = acc.finish();
    assert_eq!(res.text().as_deref(), Some("Sure."), "text in content_block_start is forwarded");
    let calls = res.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].id.as_str(), calls[0].function.name.as_str()), ("toolu_a", "now"));
    assert_eq!(calls[0].function.arguments, "{}");
    assert_eq!(
        (calls[1].id.as_str(), calls[1].function.arguments.as_str()),
        ("toolu_b", r#"{"a": 1, "b": [2]}"#)
    );
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn invalid_tool_json_at_block_stop_is_an_error() {
    let events = [
        start(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\": "}}),
        json!({"type": "content_block_stop", "index": 0}),
    ];
    let items = run(&events, "").await;
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Decode);
    assert!(err.message().contains("`f`"), "{}", err.message());
}

#[test]
fn pause_turn_and_late_usage_are_kept() {
    let mut parser = StreamParser::with_created(7);
    let mut out = Vec::new();
    for data in [
        json!({"type": "message_start", "message": {"id": "m", "model": "x", "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        json!({"type": "ping"}),
        json!({"type": "some_future_event", "x": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "pause_turn"},
               "usage": {"input_tokens": 5, "cache_read_input_tokens": 3, "output_tokens": 9}}),
        json!({"type": "message_stop"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "after stop"}}),
    ] {
        parser.push(&SseEvent::data(data.to_string()), &mut out).unwrap();
    }
    assert!(parser.finish().is_ok());
    assert_eq!(out.len(), 2, "role chunk and final chunk only: {out:?}");
    let last = &out[1];
    assert_eq!(last.created, 7);
    assert_eq!(last.choices[0].finish_reason, Some(FinishReason::Other("pause_turn".into())));
    let u = last.usage.as_ref().unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.cached_tokens()), (8, 9, 3));
}

#[test]
fn events_are_typed_by_their_data_or_their_name() {
    let mut parser = StreamParser::new();
    let mut out = Vec::new();
    let ev = SseEvent { event: Some("message_stop".into()), data: "{}".into(), ..Default::default() };
    parser.push(&ev, &mut out).unwrap();
    assert!(parser.is_done(), "an event named message_stop without a type field still ends the message");
}

#[tokio::test]
async fn server_tool_blocks_are_not_client_tool_calls() {
    let mut events = vec![
        start(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"query\": \"rust\"}"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Found it."}}),
        json!({"type": "content_block_delta", "index": 9, "delta": {"type": "input_json_delta", "partial_json": "{"}}),
        json!({"type": "content_block_stop", "index": 2}),
    ];
    events.extend(stop("end_turn"));
    let items = run(&events, "").await;
    let mut acc = StreamAccumulator::new();
    ok_chunks(&items).iter().for_each(|c| acc.push(c));
    let res = acc.finish();
    assert_eq!(res.text().as_deref(), Some("Found it."));
    assert!(res.choices[0].message.tool_calls.is_none());
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::Stop));
}
