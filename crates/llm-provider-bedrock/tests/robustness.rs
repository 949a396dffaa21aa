//! Arbitrary upstream input never panics: random bytes through the decoder, random events
//! through the stream parser, random JSON through the Converse parser.

use llm_core::ErrorKind;
use llm_provider_bedrock::eventstream::{EventStreamDecoder, Frame};
use llm_provider_bedrock::{StreamParser, parse_converse};
use proptest::prelude::*;
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z_ ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("text".to_owned()),
                    Just("toolUse".to_owned()),
                    Just("input".to_owned()),
                    Just("delta".to_owned()),
                    Just("contentBlockIndex".to_owned()),
                    Just("reasoningContent".to_owned()),
                    Just("signature".to_owned()),
                    Just("start".to_owned()),
                    Just("usage".to_owned()),
                    Just("stopReason".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512), split in 0usize..512) {
        let mut decoder = EventStreamDecoder::new();
        let split = split.min(bytes.len());
        decoder.push(&bytes[..split]);
        let _ = decoder.next_frame();
        decoder.push(&bytes[split..]);
        while let Ok(Some(_)) = decoder.next_frame() {}
        let _ = decoder.finish();
    }

    #[test]
    fn random_events_never_panic_the_parser(
        events in prop::collection::vec((prop_oneof![
            Just("messageStart"), Just("contentBlockStart"), Just("contentBlockDelta"),
            Just("contentBlockStop"), Just("messageStop"), Just("metadata"), Just("other")
        ], arb_json()), 0..12)
    ) {
        let mut parser = StreamParser::new("id", "m", 0);
        for (event_type, payload) in &events {
            let frame = Frame::event(event_type, payload.to_string().into_bytes());
            if parser.on_frame(&frame).is_err() {
                break;
            }
        }
        let _ = parser.finish();
    }

    #[test]
    fn random_json_never_panics_the_converse_parser(value in arb_json()) {
        let body = json!({"output": {"message": {"content": [value.clone()]}}, "stopReason": value.clone(), "usage": value});
        let _ = parse_converse(body.to_string().as_bytes(), "m", "id", 0);
    }
}

#[test]
fn a_converse_body_without_output_is_a_decode_error() {
    let err = parse_converse(br#"{"stopReason":"end_turn"}"#, "m", "id", 0).unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Decode);
    let err = parse_converse(b"[1,2", "m", "id", 0).unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Decode);
}

#[test]
fn error_messages_carry_their_code_and_unknown_message_types_are_errors() {
    let mut parser = StreamParser::new("id", "m", 0);
    let frame = Frame {
        headers: vec![
            (":message-type".into(), llm_provider_bedrock::eventstream::HeaderValue::String("error".into())),
            (
                ":error-code".into(),
                llm_provider_bedrock::eventstream::HeaderValue::String("InternalFailure".into()),
            ),
            (":error-message".into(), llm_provider_bedrock::eventstream::HeaderValue::String("boom".into())),
        ],
        payload: Default::default(),
    };
    let err = parser.on_frame(&frame).unwrap_err();
    assert_eq!(err.message(), "boom");
    assert_eq!(err.code(), Some("InternalFailure"));
    assert!(parser.finish().is_err(), "no messageStop yet");
}
