//! Parser tests over every real Gemini recording in `shared/test-data/recorded/google/`
//! (from github.com/vercel/ai `packages/google/src/__fixtures__/`, Apache-2.0; see
//! `shared/test-data/SOURCES.md`). Bodies are served as `generateContent` answers and streams
//! replayed as `alt=sse` through the mock upstream, one `data:` event per recorded line.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer, test_data_dir};
use llm_core::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, ErrorKind, FinishReason, LlmError, LlmRequest,
    ProviderService, StreamAccumulator,
};
use llm_provider_gemini::Gemini;
use serde_json::{Value, json};
use tower::ServiceExt;

fn recordings() -> PathBuf {
    test_data_dir(env!("CARGO_MANIFEST_DIR")).join("recorded/google")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(recordings().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn service(server: &MockServer) -> llm_core::BoxLlmService {
    ProviderService::new(Gemini::new().with_api_key("k").with_base_url(server.url())).boxed()
}

fn request(stream: bool) -> LlmRequest {
    LlmRequest::chat(
        ChatRequest::new("gemini-3-pro-preview", vec![ChatMessage::user("q")]).with_stream(stream),
    )
}

/// The recorded lines as `alt=sse` events, one network chunk each.
fn sse_chunks(lines: &str) -> Vec<(Duration, Bytes)> {
    lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| (Duration::ZERO, Bytes::from(format!("data: {l}\n\n"))))
        .collect()
}

async fn complete(name: &str) -> Result<ChatResponse, LlmError> {
    let server = MockServer::start().await;
    server.push(MockResponse::bytes(200, read(name)).with_header("content-type", "application/json"));
    service(&server).oneshot(request(false)).await?.into_chat()
}

async fn stream_items(response: MockResponse) -> Vec<Result<ChatChunk, LlmError>> {
    let server = MockServer::start().await;
    server.push(response);
    let stream = service(&server).oneshot(request(true)).await.unwrap().into_chat_stream().unwrap();
    tokio::time::timeout(Duration::from_secs(10), stream.collect()).await.expect("the stream ends")
}

async fn streamed(name: &str) -> (Vec<ChatChunk>, ChatResponse) {
    let items = stream_items(MockResponse::sse(sse_chunks(&read(name)))).await;
    let chunks: Vec<ChatChunk> =
        items.into_iter().map(|i| i.unwrap_or_else(|e| panic!("{name}: error item {e}"))).collect();
    let mut acc = StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    (chunks, acc.finish())
}

fn usage_of(res: &ChatResponse) -> (u64, u64, u64, u64) {
    let u = res.usage.as_ref().expect("usage");
    (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.reasoning_tokens())
}

fn calls_of(res: &ChatResponse) -> Vec<(String, String, Value)> {
    res.choices[0]
        .message
        .tool_calls
        .iter()
        .flatten()
        .map(|c| {
            let args = serde_json::from_str(&c.function.arguments).expect("arguments are JSON");
            (c.id.clone(), c.function.name.clone(), args)
        })
        .collect()
}

/// Every file in the folder is exercised by a test below: a new recording fails this test
/// until it gets expectations.
#[test]
fn every_recording_is_covered() {
    let covered = [
        "google-429-retry-info.json",
        "google-reasoning-gemini3.chunks.txt",
        "google-reasoning-gemini3.json",
        "google-reasoning.chunks.txt",
        "google-reasoning.json",
        "google-stream-no-args-tool-call.chunks.txt",
        "google-stream-tool-call-arguments.chunks.txt",
        "google-stream-tool-call-array-arguments-missing-terminal-function-call.chunks.txt",
        "google-text.chunks.txt",
        "google-text.json",
        "google-tool-call-gemini3.chunks.txt",
        "google-tool-call-gemini3.json",
        "google-tool-call.chunks.txt",
        "google-tool-call.json",
        "google-vertex-stream-tool-call-arguments-nested.1.chunks.txt",
    ];
    let mut present: Vec<String> = std::fs::read_dir(recordings())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(present, covered);
}

const BREAKDOWN: &str = "Here is the breakdown: st**r**awbe**rr**y.";

#[tokio::test]
async fn text_bodies() {
    for (name, text, usage) in [
        ("google-text.json", "There are **3** r's in strawberry.\n\n", (9, 28 + 244, 281, 244)),
        ("google-reasoning.json", "There are **3** \"r\"s in strawberry.\n\n", (9, 29 + 282, 320, 282)),
        (
            "google-reasoning-gemini3.json",
            "There are **3** \"r\"s in strawberry.\n\n",
            (9, 29 + 258, 296, 258),
        ),
    ] {
        let res = complete(name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(res.text().unwrap(), format!("{text}{BREAKDOWN}"), "{name}");
        assert_eq!(res.choices[0].finish_reason, Some(FinishReason::Stop), "{name}");
        assert_eq!(res.model, "gemini-3-pro-preview", "{name}");
        assert_eq!(usage_of(&res), usage, "{name}");
        assert!(res.choices[0].message.tool_calls.is_none(), "{name}");
    }
    let res = complete("google-text.json").await.unwrap();
    assert_eq!(res.id, "Un6LacrVMcjUxs0PmJfWoQc");
}

#[tokio::test]
async fn tool_call_bodies_keep_thought_signatures() {
    for (name, usage, sig_start) in [
        ("google-tool-call.json", (29, 15 + 893, 937, 893), "EskgCsYgAb4"),
        ("google-tool-call-gemini3.json", (29, 15 + 1801, 1845, 1801), "Eqo+Cqc+Ab4"),
    ] {
        let res = complete(name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            calls_of(&res),
            vec![("call_0".to_owned(), "weather".to_owned(), json!({"location": "San Francisco"}))],
            "{name}"
        );
        assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ToolCalls), "{name}");
        assert!(res.choices[0].message.content.is_none(), "{name}: no text");
        assert_eq!(usage_of(&res), usage, "{name}");
        let call = &res.choices[0].message.tool_calls.as_ref().unwrap()[0];
        let sig = call.extra["extra_content"]["google"]["thought_signature"].as_str().unwrap();
        assert!(sig.starts_with(sig_start), "{name}: {sig}");
    }
}

#[tokio::test]
async fn a_tool_call_with_its_signature_goes_back_to_gemini() {
    let res = complete("google-tool-call.json").await.unwrap();
    let assistant = res.choices[0].message.clone();
    let history = vec![ChatMessage::user("weather?"), assistant, ChatMessage::tool("call_0", "sunny")];
    let body = llm_provider_gemini::build_generate_content_request(&ChatRequest::new(
        "gemini-3-pro-preview",
        history,
    ))
    .unwrap();
    let part = &body["contents"][1]["parts"][0];
    assert_eq!(part["functionCall"], json!({"name": "weather", "args": {"location": "San Francisco"}}));
    assert!(part["thoughtSignature"].as_str().unwrap().starts_with("EskgCsYgAb4"));
    assert_eq!(body["contents"][2]["parts"][0]["functionResponse"]["name"], "weather");
}

#[tokio::test]
async fn the_recorded_429_maps_to_rate_limited_with_retry_info() {
    let server = MockServer::start().await;
    server.push(MockResponse::bytes(429, read("google-429-retry-info.json")));
    let err = service(&server).oneshot(request(false)).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::RateLimited { retry_after: Some(Duration::from_secs_f64(34.4)) });
    assert_eq!(err.message(), "You exceeded your current quota, please check your plan.");
    assert_eq!(err.code(), Some("RESOURCE_EXHAUSTED"));
    // The body's RetryInfo wins over a Retry-After header; streamed calls map the same way.
    server.push(MockResponse::bytes(429, read("google-429-retry-info.json")).with_header("retry-after", "1"));
    let err = service(&server).oneshot(request(true)).await.expect_err("an error before the stream");
    assert_eq!(err.retry_after(), Some(Duration::from_secs_f64(34.4)));
}

#[tokio::test]
async fn text_streams() {
    for (name, text, usage) in [
        (
            "google-text.chunks.txt",
            "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y",
            (9, 23 + 185, 217, 185),
        ),
        (
            "google-reasoning.chunks.txt",
            "There are **3** \"r\"s in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
            (9, 29 + 256, 294, 256),
        ),
        (
            "google-reasoning-gemini3.chunks.txt",
            "There are **3** \"r\"s in strawberry.\n\nSt**r**awbe**rr**y",
            (9, 23 + 302, 334, 302),
        ),
    ] {
        let (chunks, res) = streamed(name).await;
        assert_eq!(chunks[0].choices[0].delta.role, Some(llm_core::Role::Assistant), "{name}: role first");
        let text_chunks = chunks
            .iter()
            .filter(|c| c.choices.iter().any(|ch| ch.delta.content.as_deref().is_some_and(|t| !t.is_empty())))
            .count();
        assert_eq!(text_chunks, 2, "{name}: one chunk per text event");
        assert_eq!(res.text().unwrap(), text, "{name}");
        assert_eq!(res.choices[0].finish_reason, Some(FinishReason::Stop), "{name}");
        assert_eq!(usage_of(&res), usage, "{name}");
        assert_eq!(res.model, "gemini-3-pro-preview", "{name}");
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty() && last.usage.is_some(), "{name}: usage comes last, alone");
    }
}

#[tokio::test]
async fn whole_tool_calls_stream_as_one_delta_each() {
    for (name, usage) in [
        ("google-tool-call.chunks.txt", (29, 15 + 45, 89, 45)),
        ("google-tool-call-gemini3.chunks.txt", (29, 15 + 804, 848, 804)),
    ] {
        let (chunks, res) = streamed(name).await;
        let deltas: Vec<_> = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .flat_map(|ch| ch.delta.tool_calls.iter().flatten())
            .collect();
        assert_eq!(deltas.len(), 1, "{name}");
        assert_eq!((deltas[0].index, deltas[0].id.as_deref()), (0, Some("call_0")), "{name}");
        assert_eq!(
            calls_of(&res),
            vec![("call_0".to_owned(), "weather".to_owned(), json!({"location": "San Francisco"}))],
            "{name}"
        );
        assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ToolCalls), "{name}");
        assert_eq!(usage_of(&res), usage, "{name}");
    }
}

#[tokio::test]
async fn no_argument_calls_and_thoughts_in_a_stream() {
    let (chunks, res) = streamed("google-stream-no-args-tool-call.chunks.txt").await;
    let reasoning = res.choices[0].message.reasoning_content.as_deref().unwrap();
    assert!(reasoning.starts_with("**Processing User Requests**"), "{reasoning}");
    assert!(res.choices[0].message.content.is_none(), "thoughts are not content");
    let names = |id: &str, name: &str, args: Value| (id.to_owned(), name.to_owned(), args);
    assert_eq!(
        calls_of(&res),
        vec![
            names("call_0", "read_theme", json!({})),
            names("call_1", "read_screen", json!({"id": "A"})),
            names("call_2", "read_screen", json!({"id": "B"})),
            names("call_3", "read_screen", json!({"id": "C"})),
        ]
    );
    let indexes: Vec<u32> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|ch| ch.delta.tool_calls.iter().flatten())
        .map(|d| d.index)
        .collect();
    assert_eq!(indexes, [0, 1, 2, 3], "one delta per call");
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(usage_of(&res), (249, 58 + 183, 490, 183));
}

#[tokio::test]
async fn streamed_partial_arguments_are_reassembled() {
    let (_, res) = streamed("google-stream-tool-call-arguments.chunks.txt").await;
    assert_eq!(
        calls_of(&res),
        vec![
            ("call_0".to_owned(), "getWeather".to_owned(), json!({"location": "Boston"})),
            ("call_1".to_owned(), "getWeather".to_owned(), json!({"location": "San Francisco"})),
        ]
    );
    assert_eq!(usage_of(&res), (26, 23 + 132, 181, 132));

    let (_, res) =
        streamed("google-stream-tool-call-array-arguments-missing-terminal-function-call.chunks.txt").await;
    assert_eq!(
        calls_of(&res),
        vec![(
            "call_0".to_owned(),
            "writeItems".to_owned(),
            json!({"operations": [
                {"action": "add", "description": "Fresh red apple", "itemid": "apple_001", "price": 0.5},
                {"action": "add", "description": "Ripe yellow banana", "itemid": "banana_001", "price": 0.3}
            ]})
        )]
    );
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn nested_streamed_arguments_are_reassembled_exactly() {
    let (_, res) = streamed("google-vertex-stream-tool-call-arguments-nested.1.chunks.txt").await;
    let calls = calls_of(&res);
    assert_eq!(calls.len(), 1);
    let (_, name, args) = &calls[0];
    assert_eq!(name, "cookRecipe");
    let recipe = &args["recipe"];
    assert_eq!(recipe["name"], "Lasagna");
    let ingredients = recipe["ingredients"].as_array().unwrap();
    assert_eq!(ingredients.len(), 10);
    assert_eq!(ingredients[0], json!({"amount": "16 oz", "name": "Lasagna noodles"}));
    assert_eq!(ingredients[9], json!({"amount": "1/2 tsp", "name": "Pepper"}));
    let steps = recipe["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10);
    assert_eq!(steps[0], "Preheat oven to 375°F (190°C).");
    assert_eq!(steps[1], "Cook lasagna noodles according to package directions, drain and set aside.");
    assert_eq!(steps[4], "In a 9x13 baking dish, spread a thin layer of meat sauce.");
    assert_eq!(usage_of(&res), (31, 684 + 1026, 1741, 1026));
}

#[tokio::test]
async fn a_recorded_stream_without_its_finish_event_ends_in_an_error() {
    let text = read("google-text.chunks.txt");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let head = lines[..lines.len() - 1].join("\n");
    let items = stream_items(MockResponse::sse(sse_chunks(&head))).await;
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Transport, "{err}");
}

#[tokio::test]
async fn a_recorded_stream_cut_mid_way_ends_in_an_error() {
    let chunks = sse_chunks(&read("google-stream-tool-call-arguments.chunks.txt"));
    let items = stream_items(MockResponse::sse(chunks).cut_after(5)).await;
    assert!(matches!(items.last(), Some(Err(_))), "{items:?}");
    assert!(
        items
            .iter()
            .all(|i| i.as_ref().map_or(true, |c| c.choices.iter().all(|ch| ch.finish_reason.is_none()))),
        "no finish before the cut"
    );
}

#[tokio::test]
async fn a_mid_stream_error_event_ends_in_that_error() {
    let text = read("google-text.chunks.txt");
    let first = text.lines().next().unwrap();
    let error = r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
    let third = text.lines().nth(2).unwrap();
    let items = stream_items(MockResponse::sse(sse_chunks(&format!("{first}\n{error}\n{third}")))).await;
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::ServiceUnavailable);
    assert!(err.message().contains("overloaded"));
    assert!(items[..items.len() - 1].iter().all(Result::is_ok), "chunks before the error arrive");
    assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1, "nothing after the error");
}

#[tokio::test]
async fn events_split_across_network_chunks_parse_the_same() {
    let text = read("google-stream-no-args-tool-call.chunks.txt");
    let whole: String = text.lines().filter(|l| !l.is_empty()).map(|l| format!("data: {l}\n\n")).collect();
    let bytes = whole.into_bytes();
    let pieces: Vec<(Duration, Bytes)> =
        bytes.chunks(97).map(|c| (Duration::ZERO, Bytes::copy_from_slice(c))).collect();
    let items = stream_items(MockResponse::sse(pieces)).await;
    let mut acc = StreamAccumulator::new();
    for i in &items {
        acc.push(i.as_ref().unwrap());
    }
    let (_, reference) = streamed("google-stream-no-args-tool-call.chunks.txt").await;
    assert_eq!(calls_of(&acc.finish()), calls_of(&reference));
}

/// A streamed call keeps its thought signature, so the next turn can send it back to Gemini 3.
#[tokio::test]
async fn streamed_tool_calls_keep_thought_signatures() {
    let (_, res) = streamed("google-tool-call-gemini3.chunks.txt").await;
    let call = &res.choices[0].message.tool_calls.as_ref().expect("a tool call")[0];
    let sig = call.extra["extra_content"]["google"]["thought_signature"].as_str().expect("a signature");
    assert!(sig.starts_with("EpEgCo4gAb4+"), "{sig}");
}
