//! `to_converse`: the OpenAI chat shape translated to a Converse request body.

use llm_core::{
    ChatMessage, ChatRequest, ContentPart, ErrorKind, FileData, FilePart, FunctionCall, JsonSchemaFormat,
    MessageContent, NamedFunction, NamedToolChoice, ReasoningEffort, ResponseFormat, Role, Stop, Tool,
    ToolCall, ToolChoice, ToolChoiceMode,
};
use llm_provider_bedrock::{model_path, to_converse};
use serde_json::json;

const CLAUDE: &str = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const PNG_1X1: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        kind: "function".into(),
        function: FunctionCall { name: name.into(), arguments: args.into() },
        extra: Default::default(),
    }
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Weather in a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    )
}

#[test]
fn system_messages_and_a_tool_round_trip() {
    let mut assistant = ChatMessage::assistant("Let me check.");
    assistant.tool_calls =
        Some(vec![call("t1", "get_weather", r#"{"city":"Paris"}"#), call("t2", "get_weather", "")]);
    let req = ChatRequest::new(
        CLAUDE,
        vec![
            ChatMessage::system("You are terse."),
            ChatMessage::new(Role::Developer, "Answer in French."),
            ChatMessage::user("Weather?"),
            ChatMessage::user("In Paris and Lyon."),
            assistant,
            ChatMessage::tool("t1", r#"{"temp": 21}"#),
            ChatMessage::tool("t2", "sunny"),
            ChatMessage::user("Thanks"),
        ],
    )
    .with_tools(vec![weather_tool()]);
    let body = to_converse(&req).unwrap();
    assert_eq!(body["system"], json!([{"text": "You are terse."}, {"text": "Answer in French."}]));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather?"}, {"text": "In Paris and Lyon."}]},
            {"role": "assistant", "content": [
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "t2", "name": "get_weather", "input": {}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 21}}]}},
                {"toolResult": {"toolUseId": "t2", "content": [{"text": "sunny"}]}},
                {"text": "Thanks"}
            ]}
        ])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather in a city",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
            "toolChoice": {"auto": {}}})
    );
}

#[test]
fn tool_choice_modes() {
    let base = ChatRequest::new(CLAUDE, vec![ChatMessage::user("hi")]).with_tools(vec![weather_tool()]);
    let choice = |c: Option<ToolChoice>| {
        let mut r = base.clone();
        r.tool_choice = c;
        to_converse(&r)
    };
    assert_eq!(
        choice(Some(ToolChoice::Mode(ToolChoiceMode::Required))).unwrap()["toolConfig"]["toolChoice"],
        json!({"any": {}})
    );
    let named = ToolChoice::Named(NamedToolChoice {
        kind: "function".into(),
        function: NamedFunction { name: "get_weather".into() },
    });
    assert_eq!(
        choice(Some(named)).unwrap()["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
    let unknown = ToolChoice::Named(NamedToolChoice {
        kind: "function".into(),
        function: NamedFunction { name: "nope".into() },
    });
    assert_eq!(*choice(Some(unknown)).unwrap_err().kind(), ErrorKind::BadRequest);
    // `none` drops the tools…
    assert!(choice(Some(ToolChoice::Mode(ToolChoiceMode::None))).unwrap().get("toolConfig").is_none());
    // …unless the history has tool blocks, which Bedrock only accepts with a toolConfig.
    let mut r = base.clone();
    r.tool_choice = Some(ToolChoice::Mode(ToolChoiceMode::None));
    r.messages.push(ChatMessage::tool("t1", "done"));
    let body = to_converse(&r).unwrap();
    assert!(body["toolConfig"]["tools"].is_array());
    assert!(body["toolConfig"].get("toolChoice").is_none());
}

#[test]
fn images_and_documents() {
    let parts = vec![
        ContentPart::text("What is this?"),
        ContentPart::image_url(format!("data:image/png;base64,{PNG_1X1}")),
        ContentPart::File(FilePart {
            file: FileData {
                file_data: Some("data:application/pdf;base64,JVBERi0xLjQK".into()),
                file_id: None,
                filename: Some("report_2024.final.pdf".into()),
                extra: Default::default(),
            },
            extra: Default::default(),
        }),
    ];
    let mut user = ChatMessage::user("");
    user.content = Some(MessageContent::Parts(parts));
    let body = to_converse(&ChatRequest::new(CLAUDE, vec![user])).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"text": "What is this?"},
            {"image": {"format": "png", "source": {"bytes": PNG_1X1}}},
            {"document": {"format": "pdf", "name": "report-2024-final", "source": {"bytes": "JVBERi0xLjQK"}}}
        ])
    );

    for (url, what) in [
        ("https://example.com/cat.png", "http url"),
        ("data:image/bmp;base64,Qk0=", "bmp"),
        ("data:image/png;base64,@@@", "bad base64"),
    ] {
        let mut m = ChatMessage::user("");
        m.content = Some(MessageContent::Parts(vec![ContentPart::image_url(url)]));
        let err = to_converse(&ChatRequest::new(CLAUDE, vec![m])).unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::BadRequest, "{what}");
        assert_eq!(err.param(), Some("messages[0].content[0]"), "{what}");
    }
}

#[test]
fn inference_config_and_additional_fields() {
    let mut req =
        ChatRequest::new(CLAUDE, vec![ChatMessage::user("hi")]).with_max_tokens(100).with_temperature(0.5);
    req.max_completion_tokens = Some(9000);
    req.top_p = Some(0.9);
    req.stop = Some(Stop::Many(vec!["END".into(), "STOP".into()]));
    req.reasoning_effort = Some(ReasoningEffort::High);
    req.extra.insert("top_k".into(), json!(40));
    req.extra.insert("additionalModelRequestFields".into(), json!({"anthropic_beta": ["x"]}));
    req.extra.insert("guardrailConfig".into(), json!({"guardrailIdentifier": "g1", "guardrailVersion": "1"}));
    let body = to_converse(&req).unwrap();
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 9000, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END", "STOP"]})
    );
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 4096}, "top_k": 40, "anthropic_beta": ["x"]})
    );
    assert_eq!(body["guardrailConfig"]["guardrailIdentifier"], "g1");

    // No parameters: no empty objects.
    let plain = to_converse(&ChatRequest::new(CLAUDE, vec![ChatMessage::user("hi")])).unwrap();
    assert!(plain.get("inferenceConfig").is_none() && plain.get("additionalModelRequestFields").is_none());
}

#[test]
fn reasoning_effort_per_model_family() {
    let with_effort = |model: &str, effort| {
        let mut r = ChatRequest::new(model, vec![ChatMessage::user("hi")]);
        r.reasoning_effort = Some(effort);
        to_converse(&r)
    };
    let gpt = with_effort("openai.gpt-oss-120b-1:0", ReasoningEffort::Low).unwrap();
    assert_eq!(gpt["additionalModelRequestFields"], json!({"reasoning_effort": "low"}));
    let off = with_effort(CLAUDE, ReasoningEffort::None).unwrap();
    assert!(off.get("additionalModelRequestFields").is_none());
    let err = with_effort("amazon.nova-pro-v1:0", ReasoningEffort::High).unwrap_err();
    assert_eq!((err.kind(), err.param()), (&ErrorKind::BadRequest, Some("reasoning_effort")));
}

#[test]
fn structured_output_and_unsupported_parameters() {
    let mut req = ChatRequest::new(CLAUDE, vec![ChatMessage::user("hi")]);
    req.response_format = Some(ResponseFormat::JsonSchema {
        json_schema: JsonSchemaFormat {
            name: "person".into(),
            description: None,
            schema: Some(json!({"type": "object"})),
            strict: Some(true),
            extra: Default::default(),
        },
    });
    let body = to_converse(&req).unwrap();
    assert_eq!(
        body["outputConfig"],
        json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "person"}}}})
    );
    req.response_format = Some(ResponseFormat::JsonObject);
    assert_eq!(*to_converse(&req).unwrap_err().kind(), ErrorKind::BadRequest);
    let mut req = ChatRequest::new(CLAUDE, vec![ChatMessage::user("hi")]);
    req.n = Some(2);
    assert_eq!(to_converse(&req).unwrap_err().param(), Some("n"));
    let mut req = ChatRequest::new(CLAUDE, vec![ChatMessage::user("hi")]);
    req.extra.insert("additionalModelRequestFields".into(), json!("not an object"));
    assert_eq!(*to_converse(&req).unwrap_err().kind(), ErrorKind::BadRequest);
}

#[test]
fn signed_thinking_goes_back_as_reasoning_content_and_bad_arguments_are_rejected() {
    let mut assistant = ChatMessage::assistant("Three.");
    assistant.extra.insert(
        "thinking_blocks".into(),
        json!([{"type": "thinking", "thinking": "count", "signature": "sig"}, {"type": "redacted_thinking", "data": "abc"}]),
    );
    let body = to_converse(&ChatRequest::new(
        CLAUDE,
        vec![ChatMessage::user("r's?"), assistant, ChatMessage::user("ok")],
    ))
    .unwrap();
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"reasoningContent": {"reasoningText": {"text": "count", "signature": "sig"}}},
            {"reasoningContent": {"redactedContent": "abc"}},
            {"text": "Three."}
        ])
    );
    let mut bad = ChatMessage::assistant("");
    bad.tool_calls = Some(vec![call("t1", "f", "{not json")]);
    let err = to_converse(&ChatRequest::new(CLAUDE, vec![bad])).unwrap_err();
    assert_eq!(err.param(), Some("messages[0].tool_calls[0].function.arguments"));
}

#[test]
fn model_ids_are_percent_encoded_in_paths() {
    assert_eq!(
        model_path("bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0", "converse"),
        "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
    );
    assert_eq!(
        model_path(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
            "converse-stream"
        ),
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse-stream"
    );
}

#[test]
fn cache_control_becomes_cache_points() {
    let mut system = ChatMessage::system("");
    let mut cached = llm_core::TextPart { text: "Long rules.".into(), extra: Default::default() };
    cached.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    system.content = Some(MessageContent::Parts(vec![ContentPart::Text(cached), ContentPart::text("Tail.")]));
    let mut user = ChatMessage::user("Big document");
    user.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    let mut tool = weather_tool();
    tool.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    let body = to_converse(&ChatRequest::new(CLAUDE, vec![system, user]).with_tools(vec![tool])).unwrap();
    assert_eq!(
        body["system"],
        json!([{"text": "Long rules."}, {"cachePoint": {"type": "default"}}, {"text": "Tail."}])
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"text": "Big document"}, {"cachePoint": {"type": "default"}}])
    );
    assert_eq!(body["toolConfig"]["tools"][1], json!({"cachePoint": {"type": "default"}}));
}
