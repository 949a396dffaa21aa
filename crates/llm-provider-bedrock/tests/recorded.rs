//! Every real Bedrock recording in shared/test-data/recorded/amazon-bedrock: Converse bodies
//! (`*.json`) through `parse_converse`, and ConverseStream events (`*.chunks.txt`, one decoded
//! event per line) encoded as binary frames and replayed through the decoder, the parser and
//! the HTTP provider. Expected values are computed from the recordings themselves.

mod common;

use bytes::Bytes;
use common::{frames_of_recording, provider, recorded, stream_response};
use futures_util::StreamExt;
use llm_core::{
    ChatMessage, ChatRequest, ChatResponse, FinishReason, LlmRequest, ProviderService, StreamAccumulator,
    Usage,
};
use llm_provider_bedrock::eventstream::{EventStreamDecoder, Frame};
use llm_provider_bedrock::{StreamParser, chunk_stream, finish_reason, parse_converse};
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

/// What a stream recording says, read straight from its JSON lines.
#[derive(Debug, Default)]
struct Expected {
    text: String,
    reasoning: String,
    /// (block index, id, name, argument text)
    tools: Vec<(u64, String, String, String)>,
    finish: Option<FinishReason>,
    usage: Option<(u64, u64)>,
}

fn expected_from_lines(text: &str) -> Expected {
    let mut e = Expected::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(start) = v.pointer("/contentBlockStart") {
            if let Some(tool) = start.pointer("/start/toolUse") {
                e.tools.push((
                    start["contentBlockIndex"].as_u64().unwrap(),
                    tool["toolUseId"].as_str().unwrap().to_owned(),
                    tool["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
        }
        if let Some(delta) = v.pointer("/contentBlockDelta") {
            let idx = delta["contentBlockIndex"].as_u64().unwrap();
            if let Some(t) = delta.pointer("/delta/text").and_then(Value::as_str) {
                e.text.push_str(t);
            }
            if let Some(t) = delta.pointer("/delta/reasoningContent/text").and_then(Value::as_str) {
                e.reasoning.push_str(t);
            }
            if let Some(t) = delta.pointer("/delta/toolUse/input").and_then(Value::as_str) {
                e.tools.iter_mut().find(|tool| tool.0 == idx).unwrap().3.push_str(t);
            }
        }
        if let Some(reason) = v.pointer("/messageStop/stopReason").and_then(Value::as_str) {
            e.finish = Some(finish_reason(reason));
        }
        if let Some(u) = v.pointer("/metadata/usage") {
            e.usage = Some((u["inputTokens"].as_u64().unwrap(), u["outputTokens"].as_u64().unwrap()));
        }
    }
    for tool in &mut e.tools {
        if tool.3.is_empty() {
            tool.3 = "{}".into();
        }
    }
    e
}

fn check(name: &str, res: &ChatResponse, want: &Expected) {
    let msg = &res.choices[0].message;
    assert_eq!(msg.text().unwrap_or_default(), want.text, "{name}: text");
    assert_eq!(msg.reasoning_content.clone().unwrap_or_default(), want.reasoning, "{name}: reasoning");
    let calls = msg.tool_calls.clone().unwrap_or_default();
    assert_eq!(calls.len(), want.tools.len(), "{name}: tool calls");
    for (got, (_, id, fname, args)) in calls.iter().zip(&want.tools) {
        assert_eq!((&got.id, &got.function.name), (id, fname), "{name}: call identity");
        let got_args: Value = serde_json::from_str(&got.function.arguments).unwrap();
        let want_args: Value = serde_json::from_str(args).unwrap();
        assert_eq!(got_args, want_args, "{name}: arguments");
    }
    assert_eq!(res.choices[0].finish_reason, want.finish, "{name}: finish reason");
    let usage = res.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens));
    assert_eq!(usage, want.usage, "{name}: usage");
}

async fn replay(frames: &[Frame], split: impl Fn(&[u8]) -> Vec<Bytes>) -> ChatResponse {
    let bytes: Vec<u8> = frames.iter().flat_map(|f| f.encode().to_vec()).collect();
    let pieces: Vec<Result<Bytes, std::io::Error>> = split(&bytes).into_iter().map(Ok).collect();
    let stream = chunk_stream(futures_util::stream::iter(pieces), StreamParser::new("id", "m", 0));
    let items: Vec<_> = stream.collect::<Vec<_>>().await;
    let mut acc = StreamAccumulator::new();
    for item in &items {
        acc.push(item.as_ref().unwrap_or_else(|e| panic!("error item {e}")));
    }
    acc.finish()
}

#[tokio::test]
async fn every_stream_recording_replays_through_the_binary_framing() {
    let recordings = recorded(".chunks.txt");
    assert!(recordings.len() >= 12, "all stream recordings found: {}", recordings.len());
    for (name, text) in recordings {
        let frames = frames_of_recording(&text);
        let want = expected_from_lines(&text);
        // Whole, then one byte at a time.
        check(&name, &replay(&frames, |b| vec![Bytes::copy_from_slice(b)]).await, &want);
        check(
            &name,
            &replay(&frames, |b| b.iter().map(|x| Bytes::copy_from_slice(&[*x])).collect()).await,
            &want,
        );
    }
}

#[test]
fn the_reasoning_recording_keeps_the_signature() {
    let text = recorded(".chunks.txt")
        .into_iter()
        .find(|(n, _)| n == "amazon-bedrock-reasoning.chunks.txt")
        .unwrap()
        .1;
    let mut parser = StreamParser::new("id", "m", 0);
    let mut blocks = Vec::new();
    for frame in frames_of_recording(&text) {
        for chunk in parser.on_frame(&frame).unwrap() {
            for choice in &chunk.choices {
                if let Some(Value::Array(b)) = choice.delta.extra.get("thinking_blocks") {
                    blocks.extend(b.clone());
                }
            }
        }
    }
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0]["signature"].as_str().unwrap().starts_with("Ep0CCkgICxAB"));
    assert!(blocks[0]["thinking"].as_str().unwrap().ends_with("So there are 3 r's."));
}

#[test]
fn every_converse_recording_parses() {
    let recordings = recorded(".json");
    assert!(recordings.len() >= 11, "all Converse recordings found: {}", recordings.len());
    for (name, text) in recordings {
        let body: Value = serde_json::from_str(&text).unwrap();
        let res = parse_converse(text.as_bytes(), "m", "id", 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        let content = body.pointer("/output/message/content").unwrap().as_array().unwrap();
        let want_text: String = content.iter().filter_map(|b| b["text"].as_str()).collect();
        assert_eq!(res.text().unwrap_or_default(), want_text, "{name}: text");
        let uses: Vec<&Value> = content.iter().filter_map(|b| b.get("toolUse")).collect();
        let calls = res.choices[0].message.tool_calls.clone().unwrap_or_default();
        assert_eq!(calls.len(), uses.len(), "{name}: tool calls");
        for (call, tool) in calls.iter().zip(uses) {
            assert_eq!(call.id, tool["toolUseId"].as_str().unwrap(), "{name}");
            assert_eq!(call.function.name, tool["name"].as_str().unwrap(), "{name}");
            assert_eq!(
                serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
                tool["input"],
                "{name}"
            );
        }
        assert_eq!(
            res.choices[0].finish_reason,
            Some(finish_reason(body["stopReason"].as_str().unwrap())),
            "{name}: finish"
        );
        let u = &body["usage"];
        let cache = u["cacheReadInputTokens"].as_u64().unwrap_or(0)
            + u["cacheWriteInputTokens"].as_u64().unwrap_or(0);
        let usage = res.usage.clone().unwrap();
        assert_eq!(usage.prompt_tokens, u["inputTokens"].as_u64().unwrap() + cache, "{name}: prompt tokens");
        assert_eq!(usage.completion_tokens, u["outputTokens"].as_u64().unwrap(), "{name}: completion tokens");
        assert_eq!(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, "{name}: total");
    }
}

#[test]
fn the_reasoning_body_keeps_text_signature_and_cache_fields() {
    let text = recorded(".json").into_iter().find(|(n, _)| n == "amazon-bedrock-reasoning.json").unwrap().1;
    let res = parse_converse(text.as_bytes(), "m", "id", 0).unwrap();
    let msg = &res.choices[0].message;
    assert!(msg.reasoning_content.as_deref().unwrap().starts_with("Let me count the r's"));
    let blocks = msg.extra["thinking_blocks"].as_array().unwrap();
    assert!(blocks[0]["signature"].as_str().unwrap().starts_with("EvYBCkgICxAB"));
    let usage = res.usage.unwrap();
    assert_eq!(*usage, Usage::new(51, 78).with_cached_tokens(0).with_cache_creation_tokens(0));
}

#[tokio::test]
async fn every_stream_recording_replays_through_the_http_provider() {
    for (name, text) in recorded(".chunks.txt") {
        let server = llm_core::testkit::MockServer::start().await;
        server.push(stream_response(&frames_of_recording(&text)));
        let svc = ProviderService::new(provider(&server.url())).boxed();
        let req =
            ChatRequest::new("anthropic.claude-3-5-sonnet-20241022-v2:0", vec![ChatMessage::user("hi")])
                .with_stream(true);
        let stream = svc.oneshot(LlmRequest::chat(req)).await.unwrap().into_chat_stream().unwrap();
        let res = llm_core::collect_stream(stream).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&name, &res, &expected_from_lines(&text));
        assert_eq!(
            server.requests()[0].path,
            "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream",
            "{name}"
        );
    }
}

fn all_recorded_frames() -> Vec<Frame> {
    recorded(".chunks.txt").iter().flat_map(|(_, t)| frames_of_recording(t)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any split of the real frames decodes to the same frames.
    #[test]
    fn any_split_of_real_frames_decodes_the_same(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let frames = all_recorded_frames();
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.encode().to_vec()).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut decoder = EventStreamDecoder::new();
        let mut out = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([bytes.len()]) {
            decoder.push(&bytes[start..end]);
            start = end;
            while let Some(frame) = decoder.next_frame().unwrap() {
                out.push(frame);
            }
        }
        decoder.finish().unwrap();
        prop_assert_eq!(out, frames);
    }

    /// A corrupted byte anywhere in a real frame is a decode error, never a panic or a wrong frame.
    #[test]
    fn a_corrupted_byte_is_rejected(which in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let frames = all_recorded_frames();
        let frame = &frames[which.index(frames.len())];
        let mut bytes = frame.encode().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        let mut decoder = EventStreamDecoder::new();
        decoder.push(&bytes);
        let result = decoder.next_frame();
        // A corrupted length may leave the decoder waiting for more bytes; then the end is a truncation.
        match result {
            Err(_) => {}
            Ok(None) => prop_assert!(decoder.finish().is_err()),
            Ok(Some(f)) => prop_assert!(false, "corruption at {} accepted: {:?}", i, f),
        }
    }
}
