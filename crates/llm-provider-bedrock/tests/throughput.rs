//! Decoder and parser throughput over the real recorded frames, split into 1 KiB network reads.
//! Ignored by default; run with
//! `cargo test -p llm-provider-bedrock --all-features --test throughput -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use common::{frames_of_recording, recorded};
use llm_provider_bedrock::StreamParser;
use llm_provider_bedrock::eventstream::EventStreamDecoder;

#[test]
#[ignore = "a measurement, not a check"]
fn decode_and_parse_throughput() {
    let frames: Vec<_> = recorded(".chunks.txt").iter().flat_map(|(_, t)| frames_of_recording(t)).collect();
    let one: Vec<u8> = frames.iter().flat_map(|f| f.encode().to_vec()).collect();
    let rounds = 500;
    let started = Instant::now();
    let mut chunks = 0usize;
    for _ in 0..rounds {
        let mut decoder = EventStreamDecoder::new();
        let mut parser = StreamParser::new("id", "m", 0);
        for piece in one.chunks(1024) {
            decoder.push(piece);
            while let Some(frame) = decoder.next_frame().unwrap() {
                chunks += parser.on_frame(&frame).map(|c| c.len()).unwrap_or(0);
            }
        }
    }
    let elapsed = started.elapsed();
    let bytes = one.len() * rounds;
    println!(
        "{} frames, {:.1} MiB in {:?}: {:.1} MiB/s, {:.0} frames/s, {chunks} chunks",
        frames.len() * rounds,
        bytes as f64 / 1048576.0,
        elapsed,
        bytes as f64 / 1048576.0 / elapsed.as_secs_f64(),
        (frames.len() * rounds) as f64 / elapsed.as_secs_f64()
    );
    assert!(chunks > 0);
}
