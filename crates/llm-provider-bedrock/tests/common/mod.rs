//! Helpers shared by the integration tests: encoding recorded events as event-stream frames
//! and building providers against a mock upstream.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use llm_core::testkit::MockResponse;
use llm_provider_bedrock::eventstream::Frame;
use llm_provider_bedrock::{AwsCredentials, Bedrock, BedrockConfig};
use serde_json::Value;

pub const EVENTSTREAM: &str = "application/vnd.amazon.eventstream";

/// The recorded Bedrock folder.
pub fn recorded_dir() -> PathBuf {
    llm_core::testkit::test_data_dir(env!("CARGO_MANIFEST_DIR")).join("recorded/amazon-bedrock")
}

/// Every recorded file with `suffix`, sorted, as (name, contents).
pub fn recorded(suffix: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(recorded_dir())
        .expect("the recorded Bedrock folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .map(|n| {
            let text = std::fs::read_to_string(recorded_dir().join(&n)).expect("readable recording");
            (n, text)
        })
        .collect();
    out.sort();
    out
}

/// A decoded event as one line of a `*.chunks.txt` recording, `{"<eventType>": {...}}`, as a frame.
pub fn frame_of(event: &Value) -> Frame {
    let obj = event.as_object().expect("an event object");
    assert_eq!(obj.len(), 1, "one key per event: {event}");
    let (event_type, payload) = obj.iter().next().expect("one key");
    Frame::event(event_type, payload.to_string().into_bytes())
}

/// The frames of a `*.chunks.txt` recording.
pub fn frames_of_recording(text: &str) -> Vec<Frame> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| frame_of(&serde_json::from_str(l).expect("a JSON line")))
        .collect()
}

/// A streamed mock answer sending each frame as its own chunk.
pub fn stream_response(frames: &[Frame]) -> MockResponse {
    let chunks: Vec<(Duration, Bytes)> = frames.iter().map(|f| (Duration::ZERO, f.encode())).collect();
    MockResponse::sse(chunks).with_header("content-type", EVENTSTREAM)
}

pub fn event(event_type: &str, payload: Value) -> Frame {
    Frame::event(event_type, payload.to_string().into_bytes())
}

pub fn credentials() -> AwsCredentials {
    AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
}

/// A SigV4-authenticated provider for the mock at `base_url`.
pub fn provider(base_url: &str) -> Bedrock {
    Bedrock::new(
        BedrockConfig::new().with_region("us-east-1").with_endpoint(base_url).with_credentials(credentials()),
    )
    .expect("a provider")
}
