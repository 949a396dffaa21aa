//! Request bodies for a test matrix, each checked field by field against the documented Messages
//! API request shape (`MessageCreateParams` and the content-block params of Anthropic's API
//! reference, as generated into the official SDKs: top-level fields, block types and their
//! fields, sources, tool and tool-choice shapes).

use llm_core::{
    ChatMessage, ChatRequest, ContentPart, ErrorKind, FileData, FilePart, FunctionCall, JsonSchemaFormat,
    LlmError, MessageContent, NamedFunction, NamedToolChoice, ReasoningEffort, ResponseFormat, Role, Stop,
    TextPart, Tool, ToolCall, ToolChoice, ToolChoiceMode,
};
use llm_provider_anthropic::{
    MessagesRequest, TranslateOptions, from_messages_response, to_messages_request,
};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------
// The documented shape.

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "cache_control",
    "container",
    "inference_geo",
    "metadata",
    "output_config",
    "service_tier",
    "stop_sequences",
    "system",
    "temperature",
    "thinking",
    "tool_choice",
    "tools",
    "top_k",
    "top_p",
    "stream",
];
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

fn obj<'a>(v: &'a Value, what: &str) -> &'a Map<String, Value> {
    v.as_object().unwrap_or_else(|| panic!("{what} must be an object, got {v}"))
}

fn keys_within(v: &Value, allowed: &[&str], what: &str) {
    for k in obj(v, what).keys() {
        assert!(allowed.contains(&k.as_str()), "{what}: undocumented field `{k}` in {v}");
    }
}

fn non_empty_str(v: &Value, what: &str) {
    assert!(v.as_str().is_some_and(|s| !s.is_empty()), "{what} must be a non-empty string, got {v}");
}

fn check_cache_control(b: &Value, what: &str) {
    if let Some(cc) = b.get("cache_control") {
        keys_within(cc, &["type", "ttl"], &format!("{what}.cache_control"));
        assert_eq!(cc["type"], "ephemeral", "{what}.cache_control.type");
    }
}

fn check_source(s: &Value, kinds: &[&str], what: &str) {
    let kind = s["type"].as_str().unwrap_or_default();
    assert!(kinds.contains(&kind), "{what}.source.type `{kind}` not one of {kinds:?}");
    match kind {
        "base64" => {
            keys_within(s, &["type", "media_type", "data"], what);
            non_empty_str(&s["data"], &format!("{what}.source.data"));
            non_empty_str(&s["media_type"], &format!("{what}.source.media_type"));
        }
        "url" => {
            keys_within(s, &["type", "url"], what);
            non_empty_str(&s["url"], &format!("{what}.source.url"));
        }
        "file" => {
            keys_within(s, &["type", "file_id"], what);
            non_empty_str(&s["file_id"], &format!("{what}.source.file_id"));
        }
        _ => unreachable!(),
    }
}

fn check_block(b: &Value, role: &str, what: &str) {
    check_cache_control(b, what);
    match b["type"].as_str().unwrap_or_default() {
        "text" => {
            keys_within(b, &["type", "text", "cache_control", "citations"], what);
            non_empty_str(&b["text"], &format!("{what}.text"));
        }
        "image" => {
            keys_within(b, &["type", "source", "cache_control"], what);
            check_source(&b["source"], &["base64", "url", "file"], what);
            if b["source"]["type"] == "base64" {
                let mt = b["source"]["media_type"].as_str().unwrap();
                assert!(IMAGE_TYPES.contains(&mt), "{what}: image media_type {mt}");
            }
        }
        "document" => {
            keys_within(b, &["type", "source", "cache_control", "citations", "context", "title"], what);
            check_source(&b["source"], &["base64", "url", "file"], what);
            if b["source"]["type"] == "base64" {
                assert_eq!(b["source"]["media_type"], "application/pdf", "{what}: PDF media type");
            }
        }
        "tool_use" => {
            assert_eq!(role, "assistant", "{what}: tool_use only in assistant turns");
            keys_within(b, &["type", "id", "name", "input", "cache_control"], what);
            non_empty_str(&b["id"], &format!("{what}.id"));
            non_empty_str(&b["name"], &format!("{what}.name"));
            obj(&b["input"], &format!("{what}.input"));
        }
        "tool_result" => {
            assert_eq!(role, "user", "{what}: tool_result only in user turns");
            keys_within(b, &["type", "tool_use_id", "content", "is_error", "cache_control"], what);
            non_empty_str(&b["tool_use_id"], &format!("{what}.tool_use_id"));
            match b.get("content") {
                None | Some(Value::String(_)) => {}
                Some(Value::Array(inner)) => {
                    for (i, c) in inner.iter().enumerate() {
                        let t = c["type"].as_str().unwrap_or_default();
                        assert!(["text", "image"].contains(&t), "{what}.content[{i}] type {t}");
                        check_block(c, role, &format!("{what}.content[{i}]"));
                    }
                }
                Some(other) => panic!("{what}.content must be a string or blocks, got {other}"),
            }
            if let Some(e) = b.get("is_error") {
                assert!(e.is_boolean(), "{what}.is_error");
            }
        }
        "thinking" => {
            assert_eq!(role, "assistant", "{what}: thinking only in assistant turns");
            keys_within(b, &["type", "thinking", "signature"], what);
            assert!(
                b["thinking"].is_string() && b["signature"].is_string(),
                "{what}: thinking and signature"
            );
        }
        "redacted_thinking" => {
            assert_eq!(role, "assistant", "{what}: redacted_thinking only in assistant turns");
            keys_within(b, &["type", "data"], what);
        }
        other => panic!("{what}: undocumented block type `{other}`"),
    }
}

/// Checks `body` against the documented request shape.
fn check_body(body: &Map<String, Value>) {
    let v = Value::Object(body.clone());
    keys_within(&v, TOP_LEVEL, "request");
    non_empty_str(&v["model"], "model");
    let max_tokens = v["max_tokens"].as_u64().expect("max_tokens is always present and an integer");
    assert!(max_tokens >= 1, "max_tokens >= 1");
    match v.get("system") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            for (i, b) in blocks.iter().enumerate() {
                assert_eq!(b["type"], "text", "system[{i}] must be a text block");
                check_block(b, "system", &format!("system[{i}]"));
            }
        }
        Some(other) => panic!("system must be a string or text blocks, got {other}"),
    }
    let messages = v["messages"].as_array().expect("messages is an array");
    let mut previous: Option<&str> = None;
    for (i, m) in messages.iter().enumerate() {
        keys_within(m, &["role", "content"], &format!("messages[{i}]"));
        let role = m["role"].as_str().unwrap_or_default();
        assert!(["user", "assistant"].contains(&role), "messages[{i}].role `{role}`");
        assert_ne!(previous, Some(role), "messages[{i}]: roles must alternate (consecutive turns merged)");
        previous = Some(role);
        match &m["content"] {
            Value::String(s) => assert!(!s.is_empty()),
            Value::Array(blocks) => {
                assert!(!blocks.is_empty(), "messages[{i}] has no content");
                for (j, b) in blocks.iter().enumerate() {
                    check_block(b, role, &format!("messages[{i}].content[{j}]"));
                }
                if role == "user" {
                    let first_other =
                        blocks.iter().position(|b| b["type"] != "tool_result").unwrap_or(blocks.len());
                    assert!(
                        blocks[first_other..].iter().all(|b| b["type"] != "tool_result"),
                        "messages[{i}]: tool_result blocks come first in a user turn"
                    );
                }
            }
            other => panic!("messages[{i}].content: {other}"),
        }
    }
    if let Some(tools) = v.get("tools") {
        for (i, t) in tools.as_array().expect("tools is an array").iter().enumerate() {
            keys_within(
                t,
                &["name", "description", "input_schema", "cache_control", "type"],
                &format!("tools[{i}]"),
            );
            non_empty_str(&t["name"], &format!("tools[{i}].name"));
            assert_eq!(t["input_schema"]["type"], "object", "tools[{i}].input_schema.type");
            check_cache_control(t, &format!("tools[{i}]"));
        }
    }
    if let Some(tc) = v.get("tool_choice") {
        keys_within(tc, &["type", "name", "disable_parallel_tool_use"], "tool_choice");
        let t = tc["type"].as_str().unwrap_or_default();
        assert!(["auto", "any", "tool", "none"].contains(&t), "tool_choice.type `{t}`");
        assert_eq!(tc.get("name").is_some(), t == "tool", "tool_choice.name iff type tool");
        if t == "none" {
            assert!(tc.get("disable_parallel_tool_use").is_none());
        }
        assert!(v.get("tools").is_some(), "tool_choice only with tools");
    }
    if let Some(th) = v.get("thinking") {
        match th["type"].as_str() {
            Some("enabled") => {
                keys_within(th, &["type", "budget_tokens"], "thinking");
                let budget = th["budget_tokens"].as_u64().expect("budget_tokens");
                assert!(
                    budget >= 1024 && budget < max_tokens,
                    "thinking budget {budget} vs max_tokens {max_tokens}"
                );
            }
            Some("disabled") => keys_within(th, &["type"], "thinking"),
            other => panic!("thinking.type {other:?}"),
        }
    }
    if let Some(m) = v.get("metadata") {
        keys_within(m, &["user_id"], "metadata");
    }
    if let Some(s) = v.get("stop_sequences") {
        assert!(s.as_array().unwrap().iter().all(Value::is_string), "stop_sequences are strings");
    }
    if let Some(oc) = v.get("output_config") {
        keys_within(oc, &["effort", "format"], "output_config");
        keys_within(&oc["format"], &["type", "schema"], "output_config.format");
        assert_eq!(oc["format"]["type"], "json_schema");
        obj(&oc["format"]["schema"], "output_config.format.schema");
    }
    if let Some(t) = v.get("temperature") {
        assert!(t.is_number());
    }
    if let Some(s) = v.get("service_tier") {
        assert!(["auto", "standard_only"].contains(&s.as_str().unwrap_or_default()), "service_tier {s}");
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn translate(req: &ChatRequest) -> MessagesRequest {
    let out = to_messages_request(req, &TranslateOptions::new())
        .unwrap_or_else(|e| panic!("translation failed: {e}"));
    check_body(&out.body);
    out
}

fn translate_err(req: &ChatRequest) -> LlmError {
    to_messages_request(req, &TranslateOptions::new()).expect_err("an error")
}

fn req(messages: Vec<ChatMessage>) -> ChatRequest {
    ChatRequest::new("claude-sonnet-4-5", messages)
}

fn parts(role: Role, parts: Vec<ContentPart>) -> ChatMessage {
    let mut m = ChatMessage::new(role, "");
    m.content = Some(MessageContent::Parts(parts));
    m
}

fn text_part_with_cache(text: &str) -> ContentPart {
    let mut extra = Map::new();
    extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    ContentPart::Text(TextPart { text: text.into(), extra })
}

fn file_part(data: Option<&str>, id: Option<&str>, name: Option<&str>) -> ContentPart {
    ContentPart::File(FilePart {
        file: FileData {
            file_data: data.map(str::to_owned),
            file_id: id.map(str::to_owned),
            filename: name.map(str::to_owned),
            extra: Map::new(),
        },
        extra: Map::new(),
    })
}

fn assistant_calls(calls: &[(&str, &str, &str)]) -> ChatMessage {
    let mut m = ChatMessage::assistant("");
    m.content = None;
    m.tool_calls = Some(
        calls
            .iter()
            .map(|(id, name, args)| ToolCall {
                id: (*id).into(),
                kind: "function".into(),
                function: FunctionCall { name: (*name).into(), arguments: (*args).into() },
                extra: Map::new(),
            })
            .collect(),
    );
    m
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Weather in a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    )
}

// ---------------------------------------------------------------------------------------------
// The matrix.

#[test]
fn plain_chat() {
    let out = translate(
        &req(vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi")]).with_temperature(0.2),
    );
    let b = &out.body;
    assert_eq!(b["model"], "claude-sonnet-4-5");
    assert_eq!(b["system"], "Be brief.");
    assert_eq!(b["max_tokens"], 16384);
    assert_eq!(b["temperature"], 0.2);
    assert_eq!(b["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]));
    assert!(b.get("stream").is_none() && b.get("tools").is_none() && b.get("thinking").is_none());
    assert!(out.betas.is_empty());
}

#[test]
fn system_and_developer_messages_keep_cache_control_as_blocks() {
    let out = translate(&req(vec![
        parts(Role::System, vec![text_part_with_cache("Long policy"), ContentPart::text("More")]),
        ChatMessage::new(Role::Developer, "Dev note"),
        ChatMessage::user("Hi"),
    ]));
    assert_eq!(
        out.body["system"],
        json!([
            {"type": "text", "text": "Long policy", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "More"},
            {"type": "text", "text": "Dev note"},
        ])
    );
    assert_eq!(out.body["messages"].as_array().unwrap().len(), 1);
}

#[test]
fn consecutive_same_role_messages_are_merged() {
    let out = translate(&req(vec![
        ChatMessage::user("a"),
        ChatMessage::user("b"),
        ChatMessage::assistant("c"),
        ChatMessage::assistant("d"),
        ChatMessage::system("late system text is lifted"),
        ChatMessage::user("e"),
    ]));
    let msgs = out.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["content"], json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]));
    assert_eq!(msgs[1]["content"], json!([{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]));
    assert_eq!(out.body["system"], "late system text is lifted");
}

#[test]
fn images_become_base64_or_url_sources() {
    let out = translate(&req(vec![parts(
        Role::User,
        vec![
            ContentPart::text("What is this?"),
            ContentPart::image_url("data:image/png;base64,iVBORw0KGgo="),
            ContentPart::image_url("https://example.com/cat.jpg"),
        ],
    )]));
    let content = &out.body["messages"][0]["content"];
    assert_eq!(
        content[1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        content[2],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}})
    );
    for bad in ["ftp://x/y.png", "data:image/png,notbase64"] {
        let err = translate_err(&req(vec![parts(Role::User, vec![ContentPart::image_url(bad)])]));
        assert_eq!(*err.kind(), ErrorKind::BadRequest, "{bad}");
    }
}

#[test]
fn pdf_files_become_document_blocks() {
    let out = translate(&req(vec![parts(
        Role::User,
        vec![
            file_part(Some("data:application/pdf;base64,JVBERi0x"), None, Some("report.pdf")),
            file_part(Some("JVBERi0y"), None, None),
            file_part(None, Some("file_011CNha8iCJcU1wXNR6q4V8w"), None),
            file_part(Some("data:image/jpeg;base64,/9j/4AAQ"), None, None),
            ContentPart::text("Summarise."),
        ],
    )]));
    let c = &out.body["messages"][0]["content"];
    assert_eq!(
        c[0],
        json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "title": "report.pdf"})
    );
    assert_eq!(c[1]["source"]["data"], "JVBERi0y");
    assert_eq!(
        c[2],
        json!({"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}})
    );
    assert_eq!(c[3]["type"], "image");
    assert_eq!(out.betas, ["files-api-2025-04-14"]);
    let err = translate_err(&req(vec![parts(
        Role::User,
        vec![file_part(Some("data:text/csv;base64,YQ=="), None, None)],
    )]));
    assert_eq!(*err.kind(), ErrorKind::BadRequest);
    let err = translate_err(&req(vec![parts(Role::User, vec![file_part(None, None, Some("x.pdf"))])]));
    assert_eq!(*err.kind(), ErrorKind::BadRequest);
}

#[test]
fn tools_and_tool_choice() {
    let mut tool = weather_tool();
    tool.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    let base = req(vec![ChatMessage::user("Weather?")]).with_tools(vec![tool]);
    let out = translate(&base);
    assert_eq!(
        out.body["tools"],
        json!([{"name": "get_weather", "description": "Weather in a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                "cache_control": {"type": "ephemeral"}}])
    );
    assert!(out.body.get("tool_choice").is_none());
    let named = ToolChoice::Named(NamedToolChoice {
        kind: "function".into(),
        function: NamedFunction { name: "get_weather".into() },
    });
    for (choice, parallel, want) in [
        (Some(ToolChoice::Mode(ToolChoiceMode::Auto)), None, json!({"type": "auto"})),
        (Some(ToolChoice::Mode(ToolChoiceMode::Required)), None, json!({"type": "any"})),
        (Some(ToolChoice::Mode(ToolChoiceMode::None)), None, json!({"type": "none"})),
        (Some(named.clone()), None, json!({"type": "tool", "name": "get_weather"})),
        (None, Some(false), json!({"type": "auto", "disable_parallel_tool_use": true})),
        (
            Some(named),
            Some(false),
            json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true}),
        ),
        (Some(ToolChoice::Mode(ToolChoiceMode::None)), Some(false), json!({"type": "none"})),
        (Some(ToolChoice::Mode(ToolChoiceMode::Required)), Some(true), json!({"type": "any"})),
    ] {
        let mut r = base.clone();
        r.tool_choice = choice;
        r.parallel_tool_calls = parallel;
        assert_eq!(translate(&r).body["tool_choice"], want);
    }
    let mut no_params = req(vec![ChatMessage::user("x")]).with_tools(vec![weather_tool()]);
    no_params.tools.as_mut().unwrap()[0].function.parameters = None;
    assert_eq!(
        translate(&no_params).body["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn tool_calls_and_results_round_trip() {
    let mut err_result = ChatMessage::tool("toolu_2", "timeout");
    err_result.extra.insert("is_error".into(), json!(true));
    let out = translate(
        &req(vec![
            ChatMessage::user("Weather in Paris and time?"),
            {
                let mut m = assistant_calls(&[
                    ("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
                    ("toolu_2", "get_time", ""),
                ]);
                m.content = Some(MessageContent::Text("Checking.".into()));
                m
            },
            ChatMessage::tool("toolu_1", "18°C"),
            err_result,
            ChatMessage::user("Thanks, and tomorrow?"),
        ])
        .with_tools(vec![weather_tool()]),
    );
    let msgs = out.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        msgs[1]["content"],
        json!([
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
        ])
    );
    assert_eq!(
        msgs[2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "timeout", "is_error": true},
            {"type": "text", "text": "Thanks, and tomorrow?"},
        ]),
        "consecutive tool results share one user turn, before the user's text"
    );
}

#[test]
fn bad_tool_call_arguments_are_bad_requests() {
    for args in ["{not json", "[1, 2]", "\"text\""] {
        let err = translate_err(&req(vec![ChatMessage::user("x"), assistant_calls(&[("t1", "f", args)])]));
        assert_eq!(*err.kind(), ErrorKind::BadRequest, "{args}");
        assert!(err.message().contains("tool_calls[0]"), "{}", err.message());
    }
    let mut no_id = ChatMessage::tool("x", "y");
    no_id.tool_call_id = None;
    assert_eq!(*translate_err(&req(vec![no_id])).kind(), ErrorKind::BadRequest);
}

#[test]
fn stop_user_and_passthrough_extras() {
    let mut r = req(vec![ChatMessage::user("x")]);
    r.stop = Some(Stop::One("END".into()));
    r.user = Some("user-42".into());
    r.top_p = Some(0.9);
    r.extra.insert("top_k".into(), json!(40));
    r.extra.insert(
        "anthropic_beta".into(),
        json!("token-efficient-tools-2025-02-19, interleaved-thinking-2025-05-14"),
    );
    r.extra.insert("service_tier".into(), json!("auto"));
    let out = translate(&r);
    assert_eq!(out.body["stop_sequences"], json!(["END"]));
    assert_eq!(out.body["metadata"], json!({"user_id": "user-42"}));
    assert_eq!(out.body["top_p"], 0.9);
    assert_eq!(out.body["top_k"], 40);
    assert_eq!(out.body["service_tier"], "auto");
    assert!(out.body.get("anthropic_beta").is_none(), "the beta goes to the header, not the body");
    assert_eq!(out.betas, ["token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14"]);
    r.stop = Some(Stop::Many(vec!["a".into(), "b".into()]));
    r.extra.insert("anthropic_beta".into(), json!(["x", "x", "y"]));
    let out = translate(&r);
    assert_eq!(out.body["stop_sequences"], json!(["a", "b"]));
    assert_eq!(out.betas, ["x", "y"]);
}

#[test]
fn max_tokens_defaults_and_caller_limits() {
    for (model, want) in [
        ("claude-3-haiku-20240307", 4096),
        ("claude-3-5-haiku-latest", 8192),
        ("claude-3-7-sonnet-latest", 16384),
        ("anthropic/claude-opus-4-1", 16384),
    ] {
        let out = translate(&ChatRequest::new(model, vec![ChatMessage::user("x")]));
        assert_eq!(out.body["max_tokens"], want, "{model}");
    }
    let mut r = req(vec![ChatMessage::user("x")]).with_max_tokens(100);
    assert_eq!(translate(&r).body["max_tokens"], 100);
    r.max_completion_tokens = Some(200);
    assert_eq!(translate(&r).body["max_tokens"], 200, "max_completion_tokens wins");
    let opts = TranslateOptions::new().with_default_max_tokens(1234);
    let out = to_messages_request(&req(vec![ChatMessage::user("x")]), &opts).unwrap();
    assert_eq!(out.body["max_tokens"], 1234);
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget() {
    let mut r = req(vec![ChatMessage::user("x")]);
    for (effort, budget, max) in [
        (ReasoningEffort::Minimal, 1024, 16384),
        (ReasoningEffort::Low, 2048, 16384),
        (ReasoningEffort::Medium, 4096, 16384),
        (ReasoningEffort::High, 8192, 16384),
        (ReasoningEffort::Xhigh, 16384, 20480),
    ] {
        r.reasoning_effort = Some(effort);
        let out = translate(&r);
        assert_eq!(out.body["thinking"], json!({"type": "enabled", "budget_tokens": budget}), "{effort:?}");
        assert_eq!(out.body["max_tokens"], max, "{effort:?}");
    }
    r.reasoning_effort = Some(ReasoningEffort::None);
    assert!(translate(&r).body.get("thinking").is_none());
    // A caller limit under the budget halves the budget…
    r.reasoning_effort = Some(ReasoningEffort::High);
    r.max_tokens = Some(4000);
    let out = translate(&r);
    assert_eq!(
        (out.body["max_tokens"].clone(), out.body["thinking"]["budget_tokens"].clone()),
        (json!(4000), json!(2000))
    );
    // …and fails when no room is left.
    r.max_tokens = Some(1500);
    let err = translate_err(&r);
    assert_eq!((err.kind(), err.param()), (&ErrorKind::BadRequest, Some("reasoning_effort")));
    // An explicit `thinking` extra wins and widens the default max_tokens.
    r.max_tokens = None;
    r.extra.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": 30000}));
    let out = translate(&r);
    assert_eq!(out.body["thinking"]["budget_tokens"], 30000);
    assert_eq!(out.body["max_tokens"], 34096);
}

#[test]
fn unsupported_params_fail_or_are_dropped() {
    let base = req(vec![ChatMessage::user("x")]);
    type Setter = Box<dyn Fn(&mut ChatRequest)>;
    let cases: Vec<(&str, Setter)> = vec![
        ("n", Box::new(|r| r.n = Some(2))),
        ("seed", Box::new(|r| r.seed = Some(7))),
        ("frequency_penalty", Box::new(|r| r.frequency_penalty = Some(0.5))),
        ("presence_penalty", Box::new(|r| r.presence_penalty = Some(-0.5))),
        ("logprobs", Box::new(|r| r.logprobs = Some(true))),
        ("top_logprobs", Box::new(|r| r.top_logprobs = Some(3))),
        ("response_format", Box::new(|r| r.response_format = Some(ResponseFormat::JsonObject))),
        (
            "logit_bias",
            Box::new(|r| {
                r.extra.insert("logit_bias".into(), json!({"50256": -100}));
            }),
        ),
        (
            "service_tier",
            Box::new(|r| {
                r.extra.insert("service_tier".into(), json!("flex"));
            }),
        ),
    ];
    for (param, set) in cases {
        let mut r = base.clone();
        set(&mut r);
        let err = translate_err(&r);
        assert_eq!(*err.kind(), ErrorKind::BadRequest, "{param}");
        assert_eq!(err.param(), Some(param));
        assert_eq!(err.code(), Some("unsupported_parameter"));
        let dropped = to_messages_request(&r, &TranslateOptions::new().with_drop_params(true)).unwrap();
        check_body(&dropped.body);
        assert!(dropped.body.get(param).is_none(), "{param} dropped");
    }
    // Harmless values are accepted without drop_params.
    let mut r = base.clone();
    r.n = Some(1);
    r.frequency_penalty = Some(0.0);
    r.logprobs = Some(false);
    r.response_format = Some(ResponseFormat::Text);
    r.extra.insert("store".into(), json!(false));
    translate(&r);
}

#[test]
fn json_schema_response_format_becomes_output_config() {
    let mut r = req(vec![ChatMessage::user("x")]);
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": false});
    r.response_format = Some(ResponseFormat::JsonSchema {
        json_schema: JsonSchemaFormat {
            name: "out".into(),
            description: None,
            schema: Some(schema.clone()),
            strict: Some(true),
            extra: Map::new(),
        },
    });
    assert_eq!(
        translate(&r).body["output_config"],
        json!({"format": {"type": "json_schema", "schema": schema}})
    );
}

#[test]
fn cache_control_on_messages_parts_and_tool_results() {
    let mut user = ChatMessage::user("cache me");
    user.extra.insert("cache_control".into(), json!({"type": "ephemeral", "ttl": "1h"}));
    let mut tool = ChatMessage::tool("t1", "result");
    tool.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    let mut image = ContentPart::image_url("https://example.com/a.png");
    if let ContentPart::ImageUrl(i) = &mut image {
        i.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    }
    let out = translate(&req(vec![
        user,
        assistant_calls(&[("t1", "f", "{}")]),
        tool,
        parts(Role::User, vec![image]),
    ]));
    let m = &out.body["messages"];
    assert_eq!(m[0]["content"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert_eq!(m[2]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(m[2]["content"][1]["cache_control"], json!({"type": "ephemeral"}));
}

#[test]
fn a_parsed_thinking_turn_can_be_sent_back() {
    let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 20}});
    let res = from_messages_response(body.to_string().as_bytes()).unwrap();
    let assistant = res.choices[0].message.clone();
    let out = translate(
        &req(vec![ChatMessage::user("Weather in Oslo?"), assistant, ChatMessage::tool("toolu_9", "-3°C")])
            .with_tools(vec![weather_tool()]),
    );
    assert_eq!(
        out.body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}},
        ])
    );
}

#[test]
fn unsupported_content_is_a_bad_request() {
    let audio: ContentPart = serde_json::from_value(
        json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
    )
    .unwrap();
    let mut function = ChatMessage::user("x");
    function.role = Role::Function;
    let image_in_system = parts(Role::System, vec![ContentPart::image_url("https://x/y.png")]);
    for (what, messages) in [
        ("audio", vec![parts(Role::User, vec![audio])]),
        ("function role", vec![function]),
        ("image in system", vec![image_in_system, ChatMessage::user("x")]),
    ] {
        assert_eq!(*translate_err(&req(messages)).kind(), ErrorKind::BadRequest, "{what}");
    }
    let mut non_function_tool = weather_tool();
    non_function_tool.kind = "web_search".into();
    let err = translate_err(&req(vec![ChatMessage::user("x")]).with_tools(vec![non_function_tool]));
    assert_eq!(err.param(), Some("tools"));
}

#[test]
fn streaming_sets_stream_and_empty_text_is_skipped() {
    let r = req(vec![ChatMessage::user("x"), ChatMessage::assistant(""), ChatMessage::user("y")]);
    let out = to_messages_request(&r, &TranslateOptions::new().with_stream(true)).unwrap();
    check_body(&out.body);
    assert_eq!(out.body["stream"], true);
    assert_eq!(
        out.body["messages"].as_array().unwrap().len(),
        1,
        "the empty assistant turn is dropped, users merged"
    );
}

// The checker itself must reject bodies that break the documented shape.

fn body(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
#[should_panic(expected = "undocumented field `n`")]
fn the_checker_rejects_unknown_top_level_fields() {
    check_body(&body(
        json!({"model": "m", "max_tokens": 1, "n": 2, "messages": [{"role": "user", "content": "x"}]}),
    ));
}

#[test]
#[should_panic(expected = "tool_use only in assistant turns")]
fn the_checker_rejects_tool_use_in_user_turns() {
    check_body(&body(json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
        {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]})));
}

#[test]
#[should_panic(expected = "roles must alternate")]
fn the_checker_rejects_unmerged_turns() {
    check_body(&body(json!({"model": "m", "max_tokens": 1, "messages": [
        {"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})));
}

#[test]
#[should_panic(expected = "max_tokens is always present")]
fn the_checker_requires_max_tokens() {
    check_body(&body(json!({"model": "m", "messages": [{"role": "user", "content": "a"}]})));
}
