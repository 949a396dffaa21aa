//! A rough throughput measurement (ignored by default; debug builds are slow, so the numbers only
//! show that parsing stays linear):
//! `cargo test -p llm-provider-anthropic --test throughput -- --ignored --nocapture`

use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;

fn body(deltas: usize) -> Vec<u8> {
    let mut out = String::new();
    let mut push = |v: serde_json::Value| {
        out.push_str(&format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap()))
    };
    push(
        json!({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 1}}}),
    );
    push(
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
    );
    push(
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\": \""}}),
    );
    for _ in 0..deltas {
        push(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "abcdefghij"}}),
        );
    }
    push(
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"}"}}),
    );
    push(json!({"type": "content_block_stop", "index": 0}));
    push(
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}),
    );
    push(json!({"type": "message_stop"}));
    out.into_bytes()
}

#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn stream_parsing_throughput() {
    for deltas in [10_000, 100_000] {
        let bytes = body(deltas);
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            bytes.chunks(1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let started = Instant::now();
        let items: Vec<_> =
            llm_provider_anthropic::chunk_stream(futures_util::stream::iter(pieces)).collect().await;
        let elapsed = started.elapsed();
        assert!(items.iter().all(Result::is_ok));
        println!(
            "{deltas} deltas, {} KiB: {:?} ({:.1} MiB/s, {:.2} µs/event)",
            bytes.len() / 1024,
            elapsed,
            bytes.len() as f64 / 1048576.0 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / deltas as f64
        );
    }
}
