//! Hot-path costs of the shared types: parsing and writing a chat request, a complete response and
//! a streamed chunk, and decoding an SSE stream.
//!
//! `cargo bench -p llm-core --bench wire`

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use llm_core::sse::SseDecoder;
use llm_core::{ChatChunk, ChatRequest, ChatResponse};

const REQUEST: &str = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the weather like in Boston today? Answer in one sentence."}],"tools":[{"type":"function","function":{"name":"get_current_weather","description":"Get the current weather in a given location","parameters":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}}}],"tool_choice":"auto","temperature":0.2,"max_tokens":256,"stream":true,"stream_options":{"include_usage":true},"user":"u-1"}"#;

const RESPONSE: &str = r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I assist you today?","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_44709d6fcb"}"#;

const CHUNK: &str = r#"{"id":"chatcmpl-ABfw4IfQfCCrcuybFm41wJyxjbkz7","object":"chat.completion.chunk","created":1727346172,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_5050236cbd","choices":[{"index":0,"delta":{"content":" sorry"},"logprobs":null,"finish_reason":null}]}"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("chat_request_parse", |b| {
        b.iter(|| serde_json::from_str::<ChatRequest>(black_box(REQUEST)).expect("parses"))
    });
    let request: ChatRequest = serde_json::from_str(REQUEST).expect("parses");
    g.bench_function("chat_request_write", |b| {
        b.iter(|| serde_json::to_vec(black_box(&request)).expect("writes"))
    });
    g.bench_function("chat_response_parse", |b| {
        b.iter(|| serde_json::from_str::<ChatResponse>(black_box(RESPONSE)).expect("parses"))
    });
    // An answer of about 1 KB of text, written by serde_json and by llm_core::json.
    let long: ChatResponse = serde_json::from_str(
        &RESPONSE.replace("Hello! How can I assist you today?", &"The quick brown fox. ".repeat(50)),
    )
    .expect("parses");
    g.bench_function("chat_response_write_1kb_serde_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&long)).expect("writes"))
    });
    g.bench_function("chat_response_write_1kb", |b| {
        b.iter(|| llm_core::json::to_vec(black_box(&long)).expect("writes"))
    });
    let text = "The quick brown fox. ".repeat(50);
    g.bench_function("str_1kb_serde_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&text)).expect("writes"))
    });
    g.bench_function("str_1kb", |b| b.iter(|| llm_core::json::to_vec(black_box(&text)).expect("writes")));
    g.bench_function("chat_chunk_parse", |b| {
        b.iter(|| serde_json::from_str::<ChatChunk>(black_box(CHUNK)).expect("parses"))
    });
    let chunk: ChatChunk = serde_json::from_str(CHUNK).expect("parses");
    g.bench_function("chat_chunk_write_sse", |b| {
        b.iter(|| llm_core::sse::encode_json(black_box(&chunk)).expect("writes"))
    });
    // The same chunk again, as the next chunk of a stream: id, object, created and model cached.
    let mut encoder = llm_core::sse::ChunkEncoder::new();
    g.bench_function("chat_chunk_write_sse_in_stream", |b| {
        b.iter(|| encoder.encode(black_box(&chunk)).expect("writes"))
    });
    let stream: Vec<u8> = (0..64).flat_map(|_| format!("data: {CHUNK}\n\n").into_bytes()).collect();
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("sse_decode_64_events", |b| {
        b.iter(|| {
            let mut d = SseDecoder::new();
            let mut n = 0;
            for piece in black_box(&stream).chunks(1400) {
                d.feed(piece).expect("valid");
                while d.next_event().is_some() {
                    n += 1;
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
