//! No input makes the adapter panic or end a stream silently: arbitrary bytes, arbitrary event
//! sequences with wrongly typed fields, and arbitrary strings in requests.

use bytes::Bytes;
use futures_util::StreamExt;
use llm_core::{
    ChatChunk, ChatMessage, ChatRequest, ContentPart, ErrorKind, FunctionCall, LlmError, MessageContent,
    Role, ToolCall,
};
use llm_provider_anthropic::{TranslateOptions, chunk_stream, from_messages_response, to_messages_request};
use proptest::prelude::*;
use serde_json::{Value, json};

fn run(body: Vec<u8>, split: usize) -> Vec<Result<ChatChunk, LlmError>> {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        body.chunks(split.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(chunk_stream(futures_util::stream::iter(pieces)).collect())
}

/// Errors only as the last item; an input without `message_stop` always ends with one.
fn check_items(body: &[u8], items: &[Result<ChatChunk, LlmError>]) {
    if let Some(pos) = items.iter().position(Result::is_err) {
        assert_eq!(pos, items.len() - 1, "an error item must be the last");
    }
    let has_stop = body.windows(12).any(|w| w == b"message_stop");
    if !has_stop {
        assert!(matches!(items.last(), Some(Err(_))), "no message_stop, yet no error item: {items:?}");
    }
}

fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!("x")),
        Just(json!({})),
        Just(json!([])),
        Just(json!(u64::MAX)),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    let types = prop::sample::select(vec![
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
        "unknown_event",
    ]);
    let block_types =
        prop::sample::select(vec!["text", "thinking", "redacted_thinking", "tool_use", "image", "x"]);
    let delta_types = prop::sample::select(vec![
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "signature_delta",
        "citations_delta",
        "y",
    ]);
    let index = prop_oneof![Just(json!(0)), Just(json!(1)), Just(json!(2)), field_value()];
    (types, block_types, delta_types, index, field_value(), "[{}\\[\\]\",:a-z ]{0,8}").prop_map(
        |(t, bt, dt, index, odd, text)| match t {
            "message_start" => json!({"type": t, "message": {"id": "m", "model": "c", "usage": {"input_tokens": odd}}}),
            "content_block_start" => json!({"type": t, "index": index,
                "content_block": {"type": bt, "text": text, "thinking": text, "id": "t", "name": "f", "input": odd}}),
            "content_block_delta" => json!({"type": t, "index": index,
                "delta": {"type": dt, "text": text, "partial_json": text, "thinking": text, "signature": odd}}),
            "content_block_stop" => json!({"type": t, "index": index}),
            "message_delta" => json!({"type": t, "delta": {"stop_reason": odd}, "usage": {"output_tokens": odd}}),
            "error" => json!({"type": t, "error": {"type": odd, "message": text}}),
            _ => json!({"type": t, "extra": odd}),
        },
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_end_silently(body in prop::collection::vec(any::<u8>(), 0..400), split in 1usize..50) {
        let items = run(body.clone(), split);
        check_items(&body, &items);
    }

    #[test]
    fn arbitrary_event_sequences_never_panic(events in prop::collection::vec(event(), 0..25), split in 1usize..64) {
        let body: Vec<u8> = events
            .iter()
            .flat_map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")).into_bytes())
            .collect();
        let items = run(body.clone(), split);
        check_items(&body, &items);
        for item in items.iter().filter_map(|i| i.as_ref().ok()) {
            prop_assert_eq!(item.choices.len(), 1);
        }
    }

    #[test]
    fn arbitrary_message_bodies_never_panic(content in prop::collection::vec(event(), 0..5), odd in field_value()) {
        let body = json!({"type": "message", "id": "m", "model": "c", "content": content,
                          "stop_reason": odd, "usage": {"input_tokens": 1}});
        let _ = from_messages_response(body.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_strings_in_requests_never_panic(s in ".{0,40}", t in "(data:|https://)?[a-z/;,+=]{0,20}") {
        let mut assistant = ChatMessage::assistant(s.clone());
        assistant.tool_calls = Some(vec![ToolCall {
            id: s.clone(), kind: "function".into(),
            function: FunctionCall { name: s.clone(), arguments: s.clone() }, extra: Default::default(),
        }]);
        let mut user = ChatMessage::user("");
        user.content = Some(MessageContent::Parts(vec![ContentPart::image_url(t.clone()), ContentPart::text(s.clone())]));
        let mut tool = ChatMessage::tool(s.clone(), s.clone());
        tool.role = Role::Tool;
        let req = ChatRequest::new(s.clone(), vec![user, assistant, tool]);
        match to_messages_request(&req, &TranslateOptions::new()) {
            Ok(out) => prop_assert!(out.body["max_tokens"].as_u64().is_some()),
            Err(e) => prop_assert_eq!(e.kind(), &ErrorKind::BadRequest),
        }
    }
}
