//! SSE decoder properties and the recorded OpenAI streams.

use llm_core::sse::{SseDecoder, SseEvent, encode_event};
use llm_core::testkit::test_data_dir;
use llm_core::{ChatChunk, FinishReason, StreamAccumulator};
use proptest::prelude::*;

fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points.into_iter().chain([bytes.len()]) {
        dec.feed(&bytes[last..p]).expect("within limits");
        last = p;
        while let Some(e) = dec.next_event() {
            out.push(e);
        }
    }
    while let Some(e) = dec.finish().expect("within limits") {
        out.push(e);
    }
    out
}

fn recorded_streams() -> Vec<(String, Vec<u8>)> {
    let dir = test_data_dir(env!("CARGO_MANIFEST_DIR")).join("recorded/openai");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 7, "expected the recorded OpenAI streams in {}", dir.display());
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read(&p).expect("read"))).collect()
}

#[test]
fn recorded_openai_streams_decode_parse_and_accumulate() {
    for (name, bytes) in recorded_streams() {
        let events = decode_in_pieces(&bytes, &[]);
        assert!(events.last().is_some_and(SseEvent::is_done), "{name}: ends with [DONE]");
        let mut acc = StreamAccumulator::new();
        let mut finished = false;
        for e in &events[..events.len() - 1] {
            let raw: serde_json::Value = serde_json::from_str(&e.data).expect("JSON event");
            let chunk: ChatChunk =
                serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("{name}: {err}: {}", e.data));
            let mut back = serde_json::to_value(&chunk).expect("serializes");
            strip_nulls(&mut back);
            let mut raw_clean = raw.clone();
            strip_nulls(&mut raw_clean);
            assert_eq!(back, raw_clean, "{name}: chunk round trip");
            finished |= chunk.choices.iter().any(|c| c.finish_reason.is_some());
            acc.push(&chunk);
        }
        assert!(finished, "{name}: a finish_reason was seen");
        let res = acc.finish();
        for choice in &res.choices {
            if choice.finish_reason == Some(FinishReason::ToolCalls) {
                for call in choice.message.tool_calls.as_ref().expect("tool calls") {
                    serde_json::from_str::<serde_json::Value>(&call.function.arguments)
                        .unwrap_or_else(|e| panic!("{name}: reassembled arguments are not JSON: {e}"));
                    assert!(call.id.starts_with("call_"), "{name}: id kept");
                }
            }
        }
    }
}

fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any split of a recorded stream yields the same events.
    #[test]
    fn any_split_of_a_recorded_stream_gives_the_same_events(file in 0usize..7, cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let streams = recorded_streams();
        let (_, bytes) = &streams[file % streams.len()];
        prop_assert_eq!(decode_in_pieces(bytes, &cuts), decode_in_pieces(bytes, &[]));
    }

    /// Any split of an encoded stream with CRLF/CR line ends and multi-byte text yields the events.
    #[test]
    fn any_split_of_encoded_events(
        datas in proptest::collection::vec("[a-zé🌍 \n{}\":]{0,12}", 1..6),
        crlf in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let events: Vec<SseEvent> = datas.iter().map(|d| SseEvent { event: Some("e".into()), data: d.clone(), ..Default::default() }).collect();
        let mut bytes: Vec<u8> = events.iter().flat_map(|e| encode_event(e).to_vec()).collect();
        if crlf {
            bytes = String::from_utf8(bytes).unwrap().replace('\n', "\r\n").into_bytes();
        }
        prop_assert_eq!(decode_in_pieces(&bytes, &cuts), events);
    }

    /// Arbitrary bytes never panic, and splitting them never changes the result.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), cuts in proptest::collection::vec(any::<usize>(), 0..10)) {
        let whole = decode_in_pieces(&bytes, &[]);
        prop_assert_eq!(decode_in_pieces(&bytes, &cuts), whole);
    }
}

/// Every chunk of every recorded OpenAI stream (ids, models, usage, tool calls, extras) comes out
/// of the stream encoder byte for byte as `encode_json` writes it.
#[test]
fn the_chunk_encoder_writes_what_encode_json_writes() {
    use llm_core::sse::{ChunkEncoder, encode_json};
    let mut chunks = 0;
    for (name, bytes) in recorded_streams() {
        let mut encoder = ChunkEncoder::new();
        let events = decode_in_pieces(&bytes, &[]);
        for event in events.iter().filter(|e| !e.is_done()) {
            let Ok(chunk) = serde_json::from_str::<ChatChunk>(&event.data) else { continue };
            assert_eq!(encoder.encode(&chunk).unwrap(), encode_json(&chunk).unwrap(), "{name}");
            chunks += 1;
        }
    }
    assert!(chunks > 50, "only {chunks} chunks");
}

proptest! {
    /// Any fields, and a stream whose repeated fields change midway, encode as `encode_json` does.
    #[test]
    fn the_chunk_encoder_follows_changes(
        ids in proptest::collection::vec("[a-z\"\\\\é😀\\n]{0,8}", 1..4),
        model in "[a-z0-9\"\\\\\\u{1}-]{0,12}",
        created in any::<u64>(),
        content in proptest::option::of(".{0,16}"),
        fingerprint in proptest::option::of("[a-z_0-9]{0,8}"),
        extra_key in "[a-z_\"]{1,6}",
    ) {
        use llm_core::sse::{ChunkEncoder, encode_json};
        let mut encoder = ChunkEncoder::new();
        for (i, id) in ids.iter().enumerate() {
            let mut chunk = ChatChunk::new(id.clone(), model.clone(), created.wrapping_add(i as u64 % 2));
            let mut value = serde_json::json!({
                "id": id, "object": "chat.completion.chunk", "created": chunk.created, "model": model,
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}],
                "system_fingerprint": fingerprint,
            });
            value[&extra_key] = serde_json::json!({"nested": [1, "two", null]});
            if let Ok(parsed) = serde_json::from_value::<ChatChunk>(value) {
                chunk = parsed;
            }
            prop_assert_eq!(encoder.encode(&chunk).unwrap(), encode_json(&chunk).unwrap());
        }
    }
}
