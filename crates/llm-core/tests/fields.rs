//! Every modelled field is parsed into its typed slot (not left in `extra`) and unknown fields
//! survive a round trip.

use llm_core::*;
use serde_json::{Value, json};

fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> T {
    let t: T = serde_json::from_value(v.clone()).expect("parses");
    assert_eq!(&serde_json::to_value(&t).expect("serializes"), v, "round trip changed the JSON");
    t
}

#[test]
fn full_chat_request() {
    let v = json!({
        "model": "anthropic/claude-sonnet-4-5",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "cached", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
                {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}},
                {"type": "file", "file": {"file_id": "file-123"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}], "audio": {"id": "au_1"}}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}},
        "reasoning_effort": "high",
        "n": 2,
        "stop": ["\n\n", "END"],
        "seed": 7,
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 100,
        "max_completion_tokens": 200,
        "frequency_penalty": 0.1,
        "presence_penalty": -0.1,
        "logprobs": true,
        "top_logprobs": 3,
        "stream": true,
        "stream_options": {"include_usage": true, "include_obfuscation": false},
        "user": "u-1",
        "metadata": {"team": "search"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "logit_bias": {"50256": -100}
    });
    // "content": null is written back as absent, so compare without it.
    let mut expected = v.clone();
    expected["messages"][3].as_object_mut().unwrap().remove("content");
    let req: ChatRequest = serde_json::from_value(v).unwrap();
    assert_eq!(serde_json::to_value(&req).unwrap(), expected);

    assert_eq!(req.messages[0].role, Role::Developer);
    let MessageContent::Parts(parts) = req.messages[2].content.as_ref().unwrap() else { panic!("parts") };
    assert!(matches!(&parts[1], ContentPart::ImageUrl(p) if p.image_url.detail.as_deref() == Some("high")));
    assert!(matches!(&parts[2], ContentPart::InputAudio(p) if p.input_audio.format == "wav"));
    assert!(matches!(&parts[3], ContentPart::File(p) if p.file.filename.as_deref() == Some("a.pdf")));
    let MessageContent::Parts(sys) = req.messages[1].content.as_ref().unwrap() else { panic!("parts") };
    assert!(matches!(&sys[0], ContentPart::Text(t) if t.extra.contains_key("cache_control")));
    assert_eq!(req.messages[3].tool_calls.as_ref().unwrap()[0].function.arguments, "{\"a\":1}");
    assert_eq!(req.messages[4].tool_call_id.as_deref(), Some("call_1"));
    assert!(req.messages[5].extra.contains_key("audio"));
    assert!(matches!(req.tool_choice, Some(ToolChoice::Named(ref n)) if n.function.name == "f"));
    assert!(
        matches!(req.response_format, Some(ResponseFormat::JsonSchema { ref json_schema }) if json_schema.strict == Some(true))
    );
    assert_eq!(req.reasoning_effort, Some(ReasoningEffort::High));
    assert_eq!(req.stop_sequences(), ["\n\n", "END"]);
    assert_eq!(req.output_token_limit(), Some(200));
    assert!(req.is_stream());
    assert_eq!(req.stream_options.as_ref().unwrap().include_usage, Some(true));
    assert_eq!(req.extra.keys().collect::<Vec<_>>(), ["thinking", "logit_bias"]);
}

#[test]
fn tool_choice_and_response_format_forms() {
    for mode in ["none", "auto", "required"] {
        let tc: ToolChoice = roundtrip(&json!(mode));
        assert!(matches!(tc, ToolChoice::Mode(_)));
    }
    let _: ResponseFormat = roundtrip(&json!({"type": "text"}));
    let _: ResponseFormat = roundtrip(&json!({"type": "json_object"}));
    let one: Stop = roundtrip(&json!("x"));
    assert_eq!(one, Stop::One("x".into()));
    assert!(serde_json::from_value::<ToolChoice>(json!("sometimes")).is_err());
}

#[test]
fn response_and_chunk_keep_unknown_fields() {
    let r: ChatResponse = roundtrip(&json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "reasoning_content": "hmm", "annotations": []},
                     "finish_reason": "end_turn_custom", "provider_specific": 1}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4, "cache_creation_tokens": 2, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 3}, "cost": 0.1},
        "x_vendor": {"a": 1}
    }));
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Other("end_turn_custom".into())));
    assert_eq!(r.choices[0].message.reasoning_content.as_deref(), Some("hmm"));
    let u = r.usage.unwrap();
    assert_eq!((u.cached_tokens(), u.cache_creation_tokens(), u.reasoning_tokens()), (4, 2, 3));
    assert!(r.extra.contains_key("x_vendor"));

    let c: ChatChunk = roundtrip(&json!({
        "id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}]}, "finish_reason": "tool_calls"}],
        "obfuscation": "abc"
    }));
    assert_eq!(c.choices[0].delta.tool_calls.as_ref().unwrap()[0].index, 1);
    assert_eq!(c.extra["obfuscation"], "abc");
}

#[test]
fn embeddings_float_and_base64() {
    let r: EmbeddingResponse = roundtrip(&json!({
        "object": "list", "model": "m",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292]},
                 {"object": "embedding", "index": 1, "embedding": "AACAPwAAAEA="}],
        "usage": {"prompt_tokens": 8, "total_tokens": 8}
    }));
    assert!(matches!(r.data[0].embedding, EmbeddingVector::Float(ref v) if v[0] == 0.0023064255));
    assert!(matches!(r.data[1].embedding, EmbeddingVector::Base64(_)));
    let req: EmbeddingRequest = roundtrip(
        &json!({"model": "m", "input": [[1, 2], [3]], "encoding_format": "base64", "dimensions": 64}),
    );
    assert_eq!(req.input, EmbeddingInput::TokenBatches(vec![vec![1, 2], vec![3]]));
    assert_eq!(req.encoding_format, Some(EncodingFormat::Base64));
}

#[test]
fn usage_accumulates() {
    let mut a = Usage::new(10, 2).with_cached_tokens(3);
    a.accumulate(
        &Usage::new(5, 1).with_cached_tokens(1).with_reasoning_tokens(1).with_cache_creation_tokens(4),
    );
    assert_eq!((a.prompt_tokens, a.completion_tokens, a.total_tokens), (15, 3, 18));
    assert_eq!((a.cached_tokens(), a.cache_creation_tokens(), a.reasoning_tokens()), (4, 4, 1));
}

#[test]
fn model_ids() {
    let id = ModelId::parse("bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap();
    assert_eq!(id.provider(), Some("bedrock"));
    assert_eq!(id.model(), "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
    for bad in ["", "/gpt-4o", "openai/", "gpt 4o", "a\nb"] {
        assert!(ModelId::parse(bad).is_err(), "{bad:?}");
    }
    let parsed: ModelId = serde_json::from_value(json!("azure/my-deploy")).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), json!("azure/my-deploy"));
    assert!(serde_json::from_value::<ModelId>(json!("")).is_err());
}

#[test]
fn message_content_is_a_string_or_parts_and_says_so_otherwise() {
    let text: ChatMessage = serde_json::from_value(json!({"role": "user", "content": "hi"})).unwrap();
    assert_eq!(text.content, Some(MessageContent::Text("hi".into())));
    let parts: ChatMessage =
        serde_json::from_value(json!({"role": "user", "content": [{"type": "text", "text": "hi"}]})).unwrap();
    assert!(matches!(parts.content, Some(MessageContent::Parts(ref p)) if p.len() == 1));
    // Inside a struct with unknown fields kept (buffered by serde) and straight from text.
    let err =
        serde_json::from_value::<ChatMessage>(json!({"role": "user", "content": 7, "x": 1})).unwrap_err();
    assert!(err.to_string().contains("a string or an array of content parts"), "{err}");
    let err = serde_json::from_str::<MessageContent>("{\"text\": \"hi\"}").unwrap_err();
    assert!(err.to_string().contains("a string or an array of content parts"), "{err}");
    let err = serde_json::from_str::<MessageContent>("[{\"type\": \"text\"}]").unwrap_err();
    assert!(err.to_string().contains("missing field `text`"), "{err}");
}

#[test]
fn a_chunk_stays_small_because_every_stream_layer_moves_it() {
    // 576 bytes with `Usage` inline; each layer of a stream moves every chunk by value.
    let size = std::mem::size_of::<ChatChunk>();
    assert!(size <= 256, "ChatChunk is {size} bytes");
}

#[test]
fn a_response_stays_small_because_every_layer_moves_it() {
    let size = std::mem::size_of::<ChatResponse>();
    assert!(size <= 256, "ChatResponse is {size} bytes");
}
