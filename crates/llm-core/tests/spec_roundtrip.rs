//! Every chat and embedding example in OpenAI's official OpenAPI spec deserializes into our types
//! and serializes back without losing a field.

use llm_core::testkit::test_data_dir;
use llm_core::{ChatChunk, ChatRequest, ChatResponse, Embedding, EmbeddingRequest, EmbeddingResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `null` and an absent key mean the same in the spec (`nullable`), so both sides drop them.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

fn assert_roundtrip<T: DeserializeOwned + Serialize>(what: &str, original: &Value) {
    let typed: T = serde_json::from_value(original.clone())
        .unwrap_or_else(|e| panic!("{what}: does not parse: {e}\n{original:#}"));
    let back = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(strip_nulls(back), strip_nulls(original.clone()), "{what}: fields lost or changed");
}

/// Doc examples sometimes abbreviate with `....` lines and leave trailing commas; drop both.
fn parse_example(text: &str) -> Value {
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("...")).collect();
    let joined = kept.join("\n");
    let mut cleaned = String::with_capacity(joined.len());
    for (i, c) in joined.char_indices() {
        let next = joined[i + c.len_utf8()..].trim_start().chars().next();
        if c == ',' && matches!(next, Some(']' | '}')) {
            continue;
        }
        cleaned.push(c);
    }
    serde_json::from_str(&cleaned)
        .unwrap_or_else(|e| panic!("example is not JSON after cleanup: {e}\n{cleaned}"))
}

fn curl_body(curl: &str) -> Value {
    let start = curl.find("-d '").expect("curl example with -d") + 4;
    let end = curl[start..].rfind('\'').expect("closing quote") + start;
    parse_example(&curl[start..end])
}

fn spec() -> Value {
    let path = test_data_dir(env!("CARGO_MANIFEST_DIR")).join("specs/openai-openapi.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .expect("spec is JSON")
}

fn examples(op: &Value) -> Vec<Value> {
    match &op["x-oaiMeta"]["examples"] {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![op["x-oaiMeta"]["examples"].clone()],
        _ => vec![],
    }
}

fn stream_lines(text: &str) -> Vec<Value> {
    text.split("\n\n").map(str::trim).filter(|l| l.starts_with('{')).map(parse_example).collect()
}

#[test]
fn chat_examples_roundtrip() {
    let spec = spec();
    let (mut requests, mut responses, mut chunks) = (0, 0, 0);
    for ex in examples(&spec["paths"]["/chat/completions"]["post"]) {
        let title = ex["title"].as_str().unwrap_or("chat").to_owned();
        assert_roundtrip::<ChatRequest>(
            &format!("request `{title}`"),
            &curl_body(ex["request"]["curl"].as_str().expect("curl")),
        );
        requests += 1;
        let response = ex["response"].as_str().expect("response text");
        if title == "Streaming" {
            for line in stream_lines(response) {
                assert_roundtrip::<ChatChunk>(&format!("chunk of `{title}`"), &line);
                chunks += 1;
            }
        } else {
            assert_roundtrip::<ChatResponse>(&format!("response `{title}`"), &parse_example(response));
            responses += 1;
        }
    }
    let schemas = &spec["components"]["schemas"];
    assert_roundtrip::<ChatResponse>(
        "CreateChatCompletionResponse example",
        &parse_example(
            schemas["CreateChatCompletionResponse"]["x-oaiMeta"]["example"].as_str().expect("example"),
        ),
    );
    for line in stream_lines(
        schemas["CreateChatCompletionStreamResponse"]["x-oaiMeta"]["example"].as_str().expect("example"),
    ) {
        assert_roundtrip::<ChatChunk>("CreateChatCompletionStreamResponse example", &line);
        chunks += 1;
    }
    let list =
        parse_example(schemas["ChatCompletionList"]["x-oaiMeta"]["example"].as_str().expect("example"));
    for item in list["data"].as_array().expect("data") {
        assert_roundtrip::<ChatResponse>("ChatCompletionList item", item);
        responses += 1;
    }
    assert!(
        requests >= 5 && responses >= 5 && chunks >= 4,
        "too few examples found: {requests}/{responses}/{chunks}"
    );
}

#[test]
fn embedding_examples_roundtrip() {
    let spec = spec();
    let exs = examples(&spec["paths"]["/embeddings"]["post"]);
    assert!(!exs.is_empty());
    for ex in exs {
        assert_roundtrip::<EmbeddingRequest>(
            "embedding request",
            &curl_body(ex["request"]["curl"].as_str().expect("curl")),
        );
        assert_roundtrip::<EmbeddingResponse>(
            "embedding response",
            &parse_example(ex["response"].as_str().expect("response")),
        );
    }
    assert_roundtrip::<Embedding>(
        "Embedding example",
        &parse_example(
            spec["components"]["schemas"]["Embedding"]["x-oaiMeta"]["example"].as_str().expect("example"),
        ),
    );
}
