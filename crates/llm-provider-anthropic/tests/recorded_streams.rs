//! The stream parser over every real recorded Messages API stream in
//! `shared/test-data/recorded/anthropic/*.sse` (from anthropic-sdk-python's test fixtures, MIT;
//! see `shared/test-data/SOURCES.md`), replayed whole and split at every few bytes.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::StreamExt;
use llm_core::{ChatChunk, ChatResponse, ErrorKind, FinishReason, LlmError, Role, StreamAccumulator};
use llm_provider_anthropic::chunk_stream;

fn recorded_dir() -> PathBuf {
    llm_core::testkit::test_data_dir(env!("CARGO_MANIFEST_DIR")).join("recorded/anthropic")
}

fn read(name: &str) -> Vec<u8> {
    let path = recorded_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Replays `bytes` split into pieces of `piece` bytes (0 = whole).
async fn replay(bytes: &[u8], piece: usize) -> Vec<Result<ChatChunk, LlmError>> {
    let pieces: Vec<Result<Bytes, std::io::Error>> = if piece == 0 {
        vec![Ok(Bytes::copy_from_slice(bytes))]
    } else {
        bytes.chunks(piece).map(|c| Ok(Bytes::copy_from_slice(c))).collect()
    };
    chunk_stream(futures_util::stream::iter(pieces)).collect().await
}

/// The items with `created` cleared, rendered for comparison across replays.
fn render(items: &[Result<ChatChunk, LlmError>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Ok(c) => {
                let mut c = c.clone();
                c.created = 0;
                serde_json::to_string(&c).unwrap()
            }
            Err(e) => format!("error {:?}: {}", e.kind(), e.message()),
        })
        .collect()
}

/// Replays the file in several splits, checks they all agree, and returns the items.
async fn replay_all_splits(name: &str) -> Vec<Result<ChatChunk, LlmError>> {
    let bytes = read(name);
    let whole = replay(&bytes, 0).await;
    for piece in [1, 2, 7, 64] {
        let split = replay(&bytes, piece).await;
        assert_eq!(render(&split), render(&whole), "{name}: split every {piece} bytes differs");
    }
    whole
}

fn collect_ok(name: &str, items: &[Result<ChatChunk, LlmError>]) -> ChatResponse {
    let mut acc = StreamAccumulator::new();
    for item in items {
        match item {
            Ok(c) => acc.push(c),
            Err(e) => panic!("{name}: unexpected error item {e}"),
        }
    }
    acc.finish()
}

fn assert_role_first(name: &str, items: &[Result<ChatChunk, LlmError>]) {
    let first = items.first().unwrap_or_else(|| panic!("{name}: no items")).as_ref().expect("first item ok");
    assert_eq!(first.choices[0].delta.role, Some(Role::Assistant), "{name}: role chunk first");
}

fn assert_final_chunk(name: &str, items: &[Result<ChatChunk, LlmError>], reason: FinishReason) {
    let last = items.last().unwrap().as_ref().expect("last item ok");
    assert_eq!(last.choices[0].finish_reason, Some(reason), "{name}: finish reason in the last chunk");
    assert!(last.usage.is_some(), "{name}: usage in the last chunk");
}

#[tokio::test]
async fn basic_text() {
    let name = "basic_response.sse";
    let items = replay_all_splits(name).await;
    assert_role_first(name, &items);
    assert_final_chunk(name, &items, FinishReason::Stop);
    let texts: Vec<_> =
        items.iter().filter_map(|i| i.as_ref().ok()?.choices[0].delta.content.clone()).collect();
    assert_eq!(texts, ["", "Hello", " there", "!"], "text forwarded piece by piece");
    let res = collect_ok(name, &items);
    assert_eq!(res.id, "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK");
    assert_eq!(res.model, "claude-3-opus-latest");
    assert_eq!(res.text().as_deref(), Some("Hello there!"));
    let u = res.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (11, 6, 17));
}

#[tokio::test]
async fn tool_use_fragments_are_forwarded_exactly() {
    let name = "tool_use_response.sse";
    let items = replay_all_splits(name).await;
    assert_role_first(name, &items);
    assert_final_chunk(name, &items, FinishReason::ToolCalls);
    let deltas: Vec<_> = items
        .iter()
        .flat_map(|i| i.as_ref().unwrap().choices[0].delta.tool_calls.clone().unwrap_or_default())
        .collect();
    assert_eq!(deltas[0].index, 0);
    assert_eq!(deltas[0].id.as_deref(), Some("toolu_01NRLabsLyVHZPKxbKvkfSMn"));
    assert_eq!(deltas[0].kind.as_deref(), Some("function"));
    assert_eq!(deltas[0].function.as_ref().unwrap().name.as_deref(), Some("get_weather"));
    let fragments: Vec<_> =
        deltas[1..].iter().map(|d| d.function.as_ref().unwrap().arguments.clone().unwrap()).collect();
    assert_eq!(fragments, ["{\"locati", "on\": \"P", "ar", "is\"}"], "fragments as received");
    assert!(deltas[1..].iter().all(|d| d.id.is_none() && d.index == 0));
    let res = collect_ok(name, &items);
    assert_eq!(res.text().as_deref(), Some("I'll check the current weather in Paris for you."));
    let calls = res.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.arguments, r#"{"location": "Paris"}"#, "exact JSON text");
    let u = res.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (377, 65));
    assert_eq!((u.cached_tokens(), u.cache_creation_tokens()), (0, 0));
    assert_eq!(u.prompt_tokens_details.as_ref().unwrap().cached_tokens, Some(0), "cache fields reported");
}

#[tokio::test]
async fn refusal_is_content_filter() {
    let name = "refusal_response.sse";
    let items = replay_all_splits(name).await;
    assert_final_chunk(name, &items, FinishReason::ContentFilter);
    let last = items.last().unwrap().as_ref().unwrap();
    assert_eq!(last.choices[0].extra["stop_details"]["category"], "cyber", "stop_details kept");
    let res = collect_ok(name, &items);
    assert_eq!(res.text().as_deref().unwrap_or(""), "");
    let u = res.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (20, 0));
}

#[tokio::test]
async fn incomplete_tool_json_ends_with_an_error_item() {
    let name = "incomplete_partial_json_response.sse";
    let items = replay_all_splits(name).await;
    assert_role_first(name, &items);
    let (last, head) = items.split_last().unwrap();
    let err = last.as_ref().expect_err("the last item is an error");
    assert_eq!(*err.kind(), ErrorKind::Decode);
    assert!(err.message().contains("make_file") && err.message().contains("max_tokens"), "{}", err.message());
    assert!(head.iter().all(Result::is_ok), "only the last item is an error");
    let res = collect_ok(name, head);
    assert!(res.text().unwrap().starts_with("I'll create a comprehensive tax guide"));
    let args = &res.choices[0].message.tool_calls.as_ref().unwrap()[0].function.arguments;
    assert!(args.starts_with("{\"filename\": \"taxes.txt\""), "the fragments so far were forwarded: {args}");
    assert_eq!(res.choices[0].finish_reason, None, "no normal finish before the error");
}

#[tokio::test]
async fn unknown_block_types_are_skipped() {
    for (name, input_tokens) in
        [("compaction_response.sse", 30), ("fallback_response.sse", 25), ("fallback_credit_response.sse", 25)]
    {
        let items = replay_all_splits(name).await;
        assert_role_first(name, &items);
        assert_final_chunk(name, &items, FinishReason::Stop);
        let res = collect_ok(name, &items);
        assert_eq!(res.text().as_deref(), Some("Hello there!"), "{name}");
        let u = res.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (input_tokens, 8), "{name}");
    }
}

/// Every recorded stream parses without a panic, and each one is covered by a test above.
#[tokio::test]
async fn every_recorded_stream_is_covered() {
    let covered = [
        "basic_response.sse",
        "compaction_response.sse",
        "fallback_credit_response.sse",
        "fallback_response.sse",
        "incomplete_partial_json_response.sse",
        "refusal_response.sse",
        "tool_use_response.sse",
    ];
    let mut names: Vec<String> = std::fs::read_dir(recorded_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sse"))
        .collect();
    names.sort();
    assert!(names.len() >= covered.len(), "recorded streams missing: {names:?}");
    for name in &names {
        let items = replay_all_splits(name).await;
        assert!(!items.is_empty(), "{name}: no items");
        assert!(covered.contains(&name.as_str()), "{name}: a new recording needs its own expectations");
    }
}

/// Each recording cut before its end (at every event boundary and mid-event) ends with an error.
#[tokio::test]
async fn every_recording_cut_short_ends_with_an_error() {
    let needle = b"event: message_stop";
    let mut checked = 0;
    for entry in std::fs::read_dir(recorded_dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let stop = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{}: no message_stop", path.display()));
        checked += 1;
        for cut in [stop, stop / 2, stop / 3 + 5] {
            let items = replay(&bytes[..cut], 0).await;
            assert!(
                matches!(items.last(), Some(Err(_))),
                "{}: cut at {cut} must end with an error item",
                path.display()
            );
        }
    }
    assert!(checked >= 7, "only {checked} recordings checked");
}
