//! Recorded OpenAI streams (`shared/test-data/recorded/openai/*.sse`) and the response examples
//! of the official spec (`specs/openai-openapi.json`) parse, keep unknown fields, and stream
//! through the HTTP adapter chunk by chunk.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use llm_core::sse::SseDecoder;
use llm_core::testkit::{MockResponse, MockServer, test_data_dir};
use llm_core::{ChatMessage, ChatRequest, LlmRequest, StreamAccumulator};
use llm_provider_openai::OpenAi;
use llm_provider_openai::wire::{
    StreamEvent, parse_chat_response, parse_embedding_response, parse_model_list, parse_stream_data,
};
use serde_json::Value;
use tower::ServiceExt;

fn recordings() -> Vec<(String, Vec<u8>)> {
    let dir = test_data_dir(env!("CARGO_MANIFEST_DIR")).join("recorded/openai");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sse"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "expected the recorded OpenAI streams in {}", dir.display());
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Drops `null` members (the types omit absent optionals when serializing).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn events(bytes: &[u8]) -> Vec<String> {
    let mut decoder = SseDecoder::new();
    decoder.feed(bytes).unwrap();
    let mut out = Vec::new();
    while let Some(e) = decoder.next_event() {
        out.push(e.data);
    }
    while let Some(e) = decoder.finish().unwrap() {
        out.push(e.data);
    }
    out
}

/// What the stream should add up to, computed from the raw JSON without the crate's types:
/// per choice, the text, the refusal and the tool calls' `(id, name, arguments)` by index.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    text: Vec<String>,
    refusal: Vec<String>,
    calls: Vec<Vec<(String, String, String)>>,
    usage: Option<Value>,
}

fn expected(raw: &[Value]) -> Expected {
    let mut want = Expected::default();
    for chunk in raw {
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            want.usage = Some(u.clone());
        }
        for choice in chunk["choices"].as_array().unwrap() {
            let i = choice["index"].as_u64().unwrap() as usize;
            if want.text.len() <= i {
                want.text.resize(i + 1, String::new());
                want.refusal.resize(i + 1, String::new());
                want.calls.resize(i + 1, Vec::new());
            }
            let delta = &choice["delta"];
            want.text[i].push_str(delta["content"].as_str().unwrap_or(""));
            want.refusal[i].push_str(delta["refusal"].as_str().unwrap_or(""));
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let k = call["index"].as_u64().unwrap() as usize;
                let calls = &mut want.calls[i];
                if calls.len() <= k {
                    calls.resize(k + 1, Default::default());
                }
                calls[k].0.push_str(call["id"].as_str().unwrap_or(""));
                calls[k].1.push_str(call["function"]["name"].as_str().unwrap_or(""));
                calls[k].2.push_str(call["function"]["arguments"].as_str().unwrap_or(""));
            }
        }
    }
    want
}

fn check(name: &str, response: &llm_core::ChatResponse, want: &Expected) {
    assert_eq!(response.choices.len(), want.text.len(), "{name}: choices");
    for (i, choice) in response.choices.iter().enumerate() {
        let m = &choice.message;
        assert_eq!(m.text().unwrap_or_default(), want.text[i], "{name}: text of choice {i}");
        assert_eq!(m.refusal.clone().unwrap_or_default(), want.refusal[i], "{name}: refusal of choice {i}");
        let calls: Vec<_> = m
            .tool_calls
            .iter()
            .flatten()
            .map(|c| (c.id.clone(), c.function.name.clone(), c.function.arguments.clone()))
            .collect();
        assert_eq!(calls, want.calls[i], "{name}: tool calls of choice {i}");
        for (_, _, args) in &calls {
            serde_json::from_str::<Value>(args).unwrap_or_else(|e| panic!("{name}: arguments {args:?}: {e}"));
        }
    }
    let usage = response.usage.as_ref().map(|u| serde_json::to_value(u).unwrap());
    assert_eq!(usage, want.usage, "{name}: usage");
}

#[test]
fn recorded_chunks_parse_losslessly() {
    for (name, bytes) in recordings() {
        let data = events(&bytes);
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{name}");
        let mut raw = Vec::new();
        let mut acc = StreamAccumulator::new();
        for d in &data[..data.len() - 1] {
            let original: Value = serde_json::from_str(d).unwrap();
            let chunk = match parse_stream_data(d).unwrap_or_else(|e| panic!("{name}: {e}")) {
                StreamEvent::Chunk(c) => c,
                other => panic!("{name}: unexpected {other:?}"),
            };
            assert_eq!(
                without_nulls(&serde_json::to_value(&*chunk).unwrap()),
                without_nulls(&original),
                "{name}: round trip"
            );
            acc.push(&chunk);
            raw.push(original);
        }
        assert_eq!(parse_stream_data("[DONE]").unwrap(), StreamEvent::Done);
        check(&name, &acc.finish(), &expected(&raw));
    }
}

/// The recordings contain parallel tool calls (two calls kept apart by index) and several choices.
#[test]
fn recordings_cover_parallel_calls_and_choices() {
    let all: Vec<Expected> = recordings()
        .iter()
        .map(|(_, b)| {
            expected(
                &events(b)
                    .iter()
                    .filter(|d| *d != "[DONE]")
                    .map(|d| serde_json::from_str(d).unwrap())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    assert!(
        all.iter().any(|e| e.calls.first().is_some_and(|c| c.len() >= 2)),
        "a stream with parallel tool calls"
    );
    assert!(all.iter().any(|e| e.text.len() >= 2), "a stream with several choices");
    assert!(all.iter().any(|e| e.refusal.iter().any(|r| !r.is_empty())), "a refusal stream");
}

fn split(bytes: &[u8], size: usize) -> Vec<(Duration, Bytes)> {
    bytes.chunks(size).map(|c| (Duration::ZERO, Bytes::copy_from_slice(c))).collect()
}

async fn stream_through_http(
    bytes: &[u8],
    piece: usize,
) -> Vec<Result<llm_core::ChatChunk, llm_core::LlmError>> {
    let server = MockServer::start().await;
    server.push(MockResponse::sse(split(bytes, piece)));
    let svc =
        OpenAi::new().with_api_key("sk-test").with_base_url(format!("{}/v1", server.url())).into_service();
    let request = ChatRequest::new("gpt-4o", vec![ChatMessage::user("x")]).with_stream(true);
    let stream = svc.oneshot(LlmRequest::chat(request)).await.unwrap().into_chat_stream().unwrap();
    tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>()).await.expect("the stream ends")
}

#[tokio::test]
async fn recorded_streams_through_http_in_odd_pieces() {
    for (name, bytes) in recordings() {
        let raw: Vec<Value> = events(&bytes)
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        for piece in [7, 4096] {
            let items = stream_through_http(&bytes, piece).await;
            assert_eq!(items.len(), raw.len(), "{name}: one item per chunk");
            let mut acc = StreamAccumulator::new();
            for item in &items {
                acc.push(item.as_ref().unwrap_or_else(|e| panic!("{name}: {e}")));
            }
            check(&name, &acc.finish(), &expected(&raw));
        }
    }
}

#[tokio::test]
async fn recorded_stream_without_done_or_cut_ends_with_an_error() {
    let (name, bytes) = recordings().into_iter().next().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let without_done = text.replace("data: [DONE]", "");
    let items = stream_through_http(without_done.as_bytes(), 64).await;
    assert!(items[..items.len() - 1].iter().all(Result::is_ok), "{name}");
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(*err.kind(), llm_core::ErrorKind::Transport, "{name}: {err}");
    assert!(err.message().contains("[DONE]"));
    // Cut inside an event: the half event is not a chunk, the stream ends with an error.
    let cut = &text[..text.len() / 2];
    let items = stream_through_http(cut.as_bytes(), 64).await;
    assert!(items.last().unwrap().is_err(), "{name}: cut stream");
}

fn spec_examples(path: &str, method: &str) -> Vec<String> {
    let file = test_data_dir(env!("CARGO_MANIFEST_DIR")).join("specs/openai-openapi.json");
    let spec: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let examples = &spec["paths"][path][method]["x-oaiMeta"]["examples"];
    let list = match examples {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    list.iter().filter_map(|e| e["response"].as_str().map(str::to_owned)).collect()
}

#[test]
fn spec_chat_examples_parse_and_keep_unknown_fields() {
    let mut complete = 0;
    let mut chunks = 0;
    for example in spec_examples("/chat/completions", "post") {
        let value: Result<Value, _> = serde_json::from_str(&example);
        match value {
            Ok(value) => {
                let mut extended = value.clone();
                extended["brand_new_field"] = serde_json::json!({"kept": true});
                extended["choices"][0]["message"]["new_message_field"] = serde_json::json!(1);
                let parsed = parse_chat_response(extended.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("{example}: {e}"));
                assert_eq!(parsed.extra["brand_new_field"]["kept"], true);
                assert_eq!(parsed.choices[0].message.extra["new_message_field"], 1);
                let back = serde_json::to_value(&parsed).unwrap();
                assert_eq!(without_nulls(&back), without_nulls(&extended), "round trip");
                complete += 1;
            }
            Err(_) => {
                // The streaming example: chunks separated by blank lines, with a "...." elision.
                for piece in example.split("\n\n").map(str::trim).filter(|p| p.starts_with('{')) {
                    match parse_stream_data(piece).unwrap() {
                        StreamEvent::Chunk(c) => assert_eq!(c.object, "chat.completion.chunk"),
                        other => panic!("{other:?}"),
                    }
                    chunks += 1;
                }
            }
        }
    }
    assert!(complete >= 4 && chunks >= 3, "{complete} responses, {chunks} chunks");
}

/// The spec's examples are written for people: `....` lines elide values and leave trailing
/// commas (`1.0,\n]`). Removes both so the rest is JSON.
fn unelide(example: &str) -> String {
    let kept: Vec<&str> = example.lines().filter(|l| !l.trim_start().starts_with("....")).collect();
    let text = kept.join("\n");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            let rest: String = chars.clone().take_while(|c| c.is_whitespace()).collect();
            if matches!(chars.clone().nth(rest.chars().count()), Some(']' | '}')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[test]
fn spec_embedding_and_model_examples_parse() {
    let [embedding] = &spec_examples("/embeddings", "post")[..] else { panic!("one embeddings example") };
    let parsed = parse_embedding_response(unelide(embedding).as_bytes()).unwrap();
    assert_eq!(parsed.data.len(), 1);
    assert!(matches!(&parsed.data[0].embedding, llm_core::EmbeddingVector::Float(v) if v.len() == 3));
    assert_eq!(parsed.usage.prompt_tokens, 8);
    let [models] = &spec_examples("/models", "get")[..] else { panic!("one models example") };
    let list = parse_model_list(unelide(models).as_bytes()).unwrap();
    assert_eq!(list.data.len(), 3);
    assert_eq!(list.data[2].owned_by, "openai");
    assert_eq!(list.data[2].extra["shutdown_date"], "2026-10-23");
}
