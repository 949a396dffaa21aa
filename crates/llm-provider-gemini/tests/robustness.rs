//! No input makes the parsers panic or loop: every prefix of every recorded line, garbage
//! bytes, and hostile argument paths give chunks or a typed error.

use llm_core::testkit::test_data_dir;
use llm_provider_gemini::{StreamParser, error_from_response, parse_generate_content_response};
use proptest::prelude::*;

fn recorded_lines() -> Vec<String> {
    let dir = test_data_dir(env!("CARGO_MANIFEST_DIR")).join("recorded/google");
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if path.extension().is_some_and(|e| e == "json") {
            lines.push(text);
        } else {
            lines.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        }
    }
    lines
}

#[test]
fn every_prefix_of_every_recording_is_handled() {
    let mut outcomes = [0usize; 2];
    for line in recorded_lines() {
        // Every cut of short lines; about 60 cuts spread over long ones (keeps the test fast).
        let step = (line.len() / 60).max(1);
        for cut in (0..=line.len()).step_by(step).filter(|i| line.is_char_boundary(*i)) {
            let prefix = &line[..cut];
            let mut parser = StreamParser::new("m");
            outcomes[usize::from(parser.push_event(prefix).is_ok())] += 1;
            let _ = parser.finish();
            let _ = parse_generate_content_response(prefix.as_bytes(), "m");
            let _ = error_from_response(429, &http::HeaderMap::new(), prefix.as_bytes());
        }
    }
    // Most prefixes are truncated JSON (errors); whole lines parse.
    assert!(outcomes[0] > outcomes[1] && outcomes[1] > 0, "{outcomes:?}");
}

proptest! {
    #[test]
    fn arbitrary_events_never_panic(data in ".{0,300}") {
        let mut parser = StreamParser::new("m");
        let _ = parser.push_event(&data);
        let _ = parser.finish();
        let _ = parse_generate_content_response(data.as_bytes(), "m");
    }

    #[test]
    fn arbitrary_argument_paths_never_panic(path in "[$.\\[\\]'a-z0-9]{0,24}", value in ".{0,8}") {
        let mut parser = StreamParser::new("m");
        let start = r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","willContinue":true}}]}}]}"#;
        parser.push_event(start).unwrap();
        let piece = serde_json::json!({"candidates":[{"content":{"parts":[{"functionCall":{
            "partialArgs":[{"jsonPath": path, "stringValue": value}]}}]},"finishReason":"STOP"}]});
        if let Ok(chunks) = parser.push_event(&piece.to_string()) {
            let args = chunks.iter().flat_map(|c| &c.choices).flat_map(|c| c.delta.tool_calls.iter().flatten())
                .filter_map(|t| t.function.as_ref()?.arguments.clone()).next();
            let args = args.expect("the call is emitted");
            prop_assert!(serde_json::from_str::<serde_json::Value>(&args).is_ok());
        }
    }
}
