//! Request bodies for a matrix of chat requests, checked field by field against the official
//! `GenerateContentRequest` schema of Google's Vertex AI v1 discovery document
//! (`shared/test-data/specs/vertex-aiplatform.v1.json.gz`, from google-api-python-client,
//! Apache-2.0). Every emitted field must exist in the schema (recursively through `$ref`s), with
//! the right JSON type, a valid enum value and an in-range integer.
//!
//! The Vertex schema is close to the Gemini API's. Known difference: Vertex's `Schema` accepts
//! `additionalProperties`, which the Gemini API rejects in `parameters`, so it is never emitted.

use std::io::Read;
use std::sync::OnceLock;

use llm_core::testkit::test_data_dir;
use llm_core::{
    ChatMessage, ChatRequest, ContentPart, FunctionCall, MessageContent, ReasoningEffort, ResponseFormat,
    Stop, Tool, ToolCall, ToolChoice,
};
use llm_provider_gemini::build_generate_content_request;
use serde_json::{Value, json};

const PREFIX: &str = "GoogleCloudAiplatformV1";

fn schemas() -> &'static serde_json::Map<String, Value> {
    static SCHEMAS: OnceLock<serde_json::Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let path = test_data_dir(env!("CARGO_MANIFEST_DIR")).join("specs/vertex-aiplatform.v1.json.gz");
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut text = String::new();
        flate2::read::GzDecoder::new(file).read_to_string(&mut text).expect("a gzip JSON document");
        let doc: Value = serde_json::from_str(&text).expect("discovery JSON");
        doc["schemas"].as_object().expect("schemas").clone()
    })
}

/// Checks `value` against the discovery property schema `schema`; pushes problems to `errors`.
fn check(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str) {
        return check_object(value, name, path, errors);
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let ok = match ty {
        "any" => true,
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => match format {
            "int32" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "uint32" => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
            _ => value.is_i64() || value.is_u64(),
        },
        // 64-bit integers are strings in discovery JSON; Google's parser accepts numbers too.
        "string" if matches!(format, "int64" | "uint64") => {
            value.is_string() || value.is_i64() || value.is_u64()
        }
        "string" => {
            let in_enum = match (value.as_str(), schema.get("enum").and_then(Value::as_array)) {
                (Some(s), Some(allowed)) => allowed.iter().any(|a| a == s),
                _ => true,
            };
            if value.is_string() && !in_enum {
                errors.push(format!("{path}: {value} is not one of {}", schema["enum"]));
            }
            value.is_string()
        }
        "array" => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(item, &schema["items"], &format!("{path}[{i}]"), errors);
                }
                true
            }
            None => false,
        },
        "object" => match value.as_object() {
            Some(map) => {
                if let Some(values) = schema.get("additionalProperties") {
                    for (k, v) in map {
                        check(v, values, &format!("{path}.{k}"), errors);
                    }
                }
                true
            }
            None => false,
        },
        other => {
            errors.push(format!("{path}: unknown schema type {other}"));
            true
        }
    };
    if !ok {
        errors.push(format!("{path}: {value} is not a valid {ty} ({format})"));
    }
}

fn check_object(value: &Value, name: &str, path: &str, errors: &mut Vec<String>) {
    let Some(schema) = schemas().get(name) else {
        return errors.push(format!("{path}: schema {name} is missing from the document"));
    };
    let Some(map) = value.as_object() else {
        return errors.push(format!("{path}: {value} is not an object ({name})"));
    };
    let properties = &schema["properties"];
    for (key, v) in map {
        match properties.get(key) {
            Some(p) => check(v, p, &format!("{path}.{key}"), errors),
            None => errors.push(format!("{path}.{key}: no such field in {name}")),
        }
    }
}

fn assert_valid(label: &str, request: &ChatRequest) -> Value {
    let body = build_generate_content_request(request).unwrap_or_else(|e| panic!("{label}: {e}"));
    let mut errors = Vec::new();
    check_object(&body, &format!("{PREFIX}GenerateContentRequest"), "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{label}: body does not match GenerateContentRequest:\n{}\n{body:#}",
        errors.join("\n")
    );
    body
}

fn parts(parts: Vec<ContentPart>) -> ChatMessage {
    let mut m = ChatMessage::user("");
    m.content = Some(MessageContent::Parts(parts));
    m
}

fn part(v: Value) -> ContentPart {
    serde_json::from_value(v).unwrap()
}

fn weather_tools() -> Vec<Tool> {
    vec![
        Tool::function(
            "get_weather",
            "Weather in a city",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "additionalProperties": false,
                "$defs": {"Unit": {"type": "string", "enum": ["c", "f"], "description": "unit"}},
                "properties": {
                    "city": {"type": "string", "minLength": 1, "maxLength": 80},
                    "unit": {"$ref": "#/$defs/Unit"},
                    "days": {"type": ["integer", "null"], "minimum": 1, "maximum": 14, "exclusiveMaximum": 15},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 0, "maxItems": 5, "uniqueItems": true},
                    "where": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}}, "required": ["lat", "lon"]}]},
                    "verbose": {"type": "boolean", "default": false, "examples": [true]},
                    "mode": {"const": "fast"}
                },
                "required": ["city"]
            }),
        ),
        Tool::function("now", "The time", json!({"type": "object", "properties": {}})),
    ]
}

fn assistant_calls() -> ChatMessage {
    let mut m = ChatMessage::assistant("Let me check.");
    m.tool_calls = Some(vec![
        ToolCall {
            id: "call_a".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris","tags":["x"]}"#.into(),
            },
            extra: serde_json::from_value(
                json!({"extra_content": {"google": {"thought_signature": "c2ln"}}}),
            )
            .unwrap(),
        },
        ToolCall {
            id: "call_b".into(),
            kind: "function".into(),
            function: FunctionCall { name: "now".into(), arguments: String::new() },
            extra: Default::default(),
        },
    ]);
    m
}

fn matrix() -> Vec<(&'static str, ChatRequest)> {
    let base = |messages| ChatRequest::new("gemini-2.5-flash", messages);
    let mut cases = vec![
        ("plain text", base(vec![ChatMessage::user("Hi")])),
        (
            "system, developer and merged turns",
            base(vec![
                ChatMessage::system("Be brief."),
                ChatMessage::new(llm_core::Role::Developer, "Answer in French."),
                ChatMessage::user("Hi"),
                ChatMessage::user("Still there?"),
                ChatMessage::assistant("Oui."),
                ChatMessage::assistant("Toujours."),
                ChatMessage::user("Bye"),
            ]),
        ),
        (
            "multimodal parts",
            base(vec![parts(vec![
                ContentPart::text("Describe these"),
                ContentPart::image_url("data:image/jpeg;base64,/9j/4AAQ"),
                ContentPart::image_url("https://example.com/photo.png"),
                ContentPart::image_url("gs://bucket/scan.pdf"),
                part(json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}})),
                part(json!({"type": "file", "file": {"file_data": "JVBERi0=", "filename": "a.pdf"}})),
                part(
                    json!({"type": "file", "file": {"file_id": "https://generativelanguage.googleapis.com/v1beta/files/abc", "filename": "notes.txt"}}),
                ),
                part(json!({"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}})),
            ])]),
        ),
        (
            "tool round trip",
            base(vec![
                ChatMessage::user("Weather in Paris and the time?"),
                assistant_calls(),
                ChatMessage::tool("call_a", r#"{"temp": 21, "sky": "clear"}"#),
                ChatMessage::tool("call_b", "12:00"),
            ])
            .with_tools(weather_tools()),
        ),
        ("every sampling parameter", {
            let mut r = base(vec![ChatMessage::user("Hi")]);
            r.temperature = Some(0.7);
            r.top_p = Some(0.9);
            r.extra.insert("top_k".into(), json!(40));
            r.max_tokens = Some(256);
            r.stop = Some(Stop::Many(vec!["END".into(), "STOP".into()]));
            r.n = Some(2);
            r.seed = Some(1 << 40);
            r.presence_penalty = Some(0.5);
            r.frequency_penalty = Some(-0.5);
            r.logprobs = Some(true);
            r.top_logprobs = Some(3);
            r.response_format = Some(ResponseFormat::JsonObject);
            r.extra.insert(
                "safety_settings".into(),
                json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]),
            );
            r.extra.insert("cached_content".into(), json!("cachedContents/abc"));
            r
        }),
        ("json schema output", {
            let mut r = base(vec![ChatMessage::user("A person")]);
            r.max_completion_tokens = Some(100);
            r.response_format = Some(serde_json::from_value(json!({"type": "json_schema", "json_schema": {
                    "name": "person", "strict": true, "schema": {"type": "object", "additionalProperties": false,
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "format": "int32"},
                    "emails": {"type": "array", "items": {"type": "string", "format": "email"}}},
                    "required": ["name", "age"]}}})).unwrap());
            r
        }),
        ("anthropic-style thinking extra", {
            let mut r = base(vec![ChatMessage::user("Think")]);
            r.extra.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": 2048}));
            r
        }),
    ];
    for effort in [
        ReasoningEffort::None,
        ReasoningEffort::Minimal,
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
        ReasoningEffort::Xhigh,
    ] {
        let mut r = base(vec![ChatMessage::user("Think")]);
        r.reasoning_effort = Some(effort);
        cases.push(("reasoning effort", r));
    }
    for choice in [
        json!("auto"),
        json!("none"),
        json!("required"),
        json!({"type": "function", "function": {"name": "now"}}),
    ] {
        let mut r = base(vec![ChatMessage::user("Time?")]).with_tools(weather_tools());
        r.tool_choice = Some(serde_json::from_value::<ToolChoice>(choice).unwrap());
        cases.push(("tool choice", r));
    }
    cases
}

#[test]
fn every_request_in_the_matrix_matches_the_schema() {
    let cases = matrix();
    assert!(cases.len() >= 15);
    for (label, request) in &cases {
        assert_valid(label, request);
    }
}

#[test]
fn the_matrix_exercises_the_fields_it_claims() {
    let cases = matrix();
    let all: Vec<Value> = cases.iter().map(|(l, r)| assert_valid(l, r)).collect();
    let text = serde_json::to_string(&all).unwrap();
    for field in [
        "systemInstruction",
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "thoughtSignature",
        "functionDeclarations",
        "allowedFunctionNames",
        "stopSequences",
        "candidateCount",
        "responseSchema",
        "thinkingBudget",
        "includeThoughts",
        "responseLogprobs",
        "safetySettings",
        "cachedContent",
        "nullable",
        "anyOf",
    ] {
        assert!(text.contains(&format!("\"{field}\"")), "no case emits {field}");
    }
    for forbidden in
        ["additionalProperties", "$schema", "$defs", "$ref", "strict", "exclusiveMaximum", "uniqueItems"]
    {
        assert!(!text.contains(&format!("\"{forbidden}\"")), "{forbidden} must be stripped");
    }
}

/// The checker itself must catch what it claims to: unknown fields, wrong types, bad enums.
#[test]
fn the_checker_rejects_invalid_bodies() {
    for bad in [
        json!({"contents": [{"role": "user", "parts": [{"txt": "typo"}]}]}),
        json!({"contents": [{"role": "user", "parts": [{"text": 5}]}]}),
        json!({"generationConfig": {"seed": 1_u64 << 40}}),
        json!({"toolConfig": {"functionCallingConfig": {"mode": "REQUIRED"}}}),
        json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "additionalProperty": {}}}]}]}),
        json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}]}),
    ] {
        let mut errors = Vec::new();
        check_object(&bad, &format!("{PREFIX}GenerateContentRequest"), "$", &mut errors);
        assert!(!errors.is_empty(), "accepted {bad}");
    }
}
