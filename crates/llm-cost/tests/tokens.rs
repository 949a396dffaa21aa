//! Token counts and context-window checks.

use llm_core::{
    ChatMessage, ChatRequest, ContentPart, EmbeddingRequest, ErrorKind, LlmRequest, MessageContent, Role,
};
use llm_cost::tokens::{
    Counting, check_context_window, count_chat_tokens, count_operation_tokens, count_text_tokens,
};
use llm_cost::{LookupHints, PriceTable};

#[test]
fn openai_models_are_counted_exactly_others_estimated() {
    let text = "The quick brown fox jumps over the lazy dog.";
    for model in
        ["gpt-4o", "openai/gpt-4o-mini", "azure/gpt-4.1", "o3-mini", "gpt-5", "gpt-4", "gpt-3.5-turbo"]
    {
        let c = count_text_tokens(model, text);
        #[cfg(feature = "tiktoken")]
        assert_eq!((c.tokens, c.counting), (10, Counting::Exact), "{model}");
        #[cfg(not(feature = "tiktoken"))]
        assert_eq!(c.counting, Counting::Estimate, "{model}");
    }
    for model in ["claude-sonnet-4-5", "gemini/gemini-2.5-pro", "mistral/mistral-large-latest", ""] {
        let c = count_text_tokens(model, text);
        assert_eq!((c.tokens, c.counting), (11, Counting::Estimate), "{model}"); // 44 chars / 4
    }
    assert_eq!(count_text_tokens("claude-x", "").tokens, 0);
    assert_eq!(count_text_tokens("claude-x", "日本語").tokens, 1, "characters, not bytes");
}

#[test]
fn long_runs_without_whitespace_are_counted_quickly() {
    // Byte-pair merging is quadratic in a run's length: a long blob must not stall a request
    // (600 KB of `x` took over a minute before runs were cut into pieces).
    let started = std::time::Instant::now();
    let c = count_text_tokens("gpt-4o", &"x".repeat(200_000));
    assert!(c.tokens > 0 && c.tokens < 200_000);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    let mixed = "ab é ".repeat(1_000) + &"日".repeat(2_000);
    assert!(count_text_tokens("gpt-4o", &mixed).tokens > 0);
}

#[test]
fn chat_framing_names_tools_and_images() {
    let plain = ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]);
    let c = count_chat_tokens("gpt-4o", &plain);
    #[cfg(feature = "tiktoken")]
    assert_eq!((c.tokens, c.counting), (8, Counting::Exact)); // 3 priming + 3 framing + "user" + "Hi"

    let mut with_image = plain.clone();
    with_image.messages.push(ChatMessage {
        content: Some(MessageContent::Parts(vec![
            ContentPart::text("What is this?"),
            ContentPart::image_url("https://example.com/cat.png"),
        ])),
        ..ChatMessage::new(Role::User, "")
    });
    let with_tools = plain.clone().with_tools(vec![llm_core::Tool::function(
        "get_weather",
        "Weather for a city",
        serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    )]);
    assert!(count_chat_tokens("gpt-4o", &with_image).tokens >= c.tokens + 765);
    assert!(count_chat_tokens("gpt-4o", &with_tools).tokens > c.tokens + 10);
    let estimated = count_chat_tokens("claude-sonnet-4-5", &plain);
    assert_eq!(estimated.counting, Counting::Estimate);
}

#[test]
fn embeddings_count_every_input() {
    let req = LlmRequest::embedding(EmbeddingRequest::new(
        "text-embedding-3-small",
        vec!["a b".to_owned(), "c".to_owned()],
    ));
    let c = count_operation_tokens(&req.operation);
    #[cfg(feature = "tiktoken")]
    assert_eq!((c.tokens, c.counting), (3, Counting::Exact));
    #[cfg(not(feature = "tiktoken"))]
    assert_eq!((c.tokens, c.counting), (2, Counting::Estimate));
    let ids = LlmRequest::embedding(EmbeddingRequest::new(
        "voyage-3",
        llm_core::EmbeddingInput::Tokens(vec![1, 2, 3, 4]),
    ));
    assert_eq!(count_operation_tokens(&ids.operation).tokens, 4);
}

#[test]
fn context_window_checks() {
    let table = PriceTable::builtin();
    let hints = LookupHints::default();
    let fits = LlmRequest::chat(ChatRequest::new("claude-sonnet-4-5", vec![ChatMessage::user("Hi")]));
    let w = check_context_window(&table, &fits.operation, &hints).unwrap();
    assert_eq!(w.max_input_tokens, table.get("claude-sonnet-4-5").unwrap().input_token_limit());

    let too_long = ChatRequest::new("gpt-3.5-turbo", vec![ChatMessage::user("hello ".repeat(17_000))]);
    let err = check_context_window(&table, &LlmRequest::chat(too_long).operation, &hints).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ContextWindowExceeded);

    let too_much_output = ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]).with_max_tokens(100_000);
    let err = check_context_window(&table, &LlmRequest::chat(too_much_output).operation, &hints).unwrap_err();
    assert_eq!((err.kind(), err.param()), (&ErrorKind::BadRequest, Some("max_tokens")));

    // Unknown models pass: the provider decides.
    let unknown = ChatRequest::new("azure/some-deployment", vec![ChatMessage::user("x".repeat(2_000_000))]);
    let w = check_context_window(&table, &LlmRequest::chat(unknown).operation, &hints).unwrap();
    assert_eq!(w.max_input_tokens, None);
    // ... unless a base model hint says what it is.
    let unknown = ChatRequest::new("azure/some-deployment", vec![ChatMessage::user("x".repeat(2_000_000))]);
    let hinted = check_context_window(
        &table,
        &LlmRequest::chat(unknown).operation,
        &LookupHints::base_model("gpt-4o"),
    );
    assert_eq!(hinted.unwrap_err().kind(), &ErrorKind::ContextWindowExceeded);
}
