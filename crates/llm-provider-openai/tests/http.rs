//! The HTTP shell against the mock upstream: URLs and headers per flavor and vendor, the
//! environment, timeouts, connection errors, mid-stream errors, key redaction, embeddings and
//! the model list.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{
    ChatMessage, ChatRequest, EmbeddingRequest, EncodingFormat, ErrorKind, LlmError, LlmRequest, Provider,
    RequestContext,
};
use llm_provider_openai::{OpenAi, VENDORS, Vendor};
use serde_json::json;
use tower::ServiceExt;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn answer() -> MockResponse {
    MockResponse::json(
        200,
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                  "completion_tokens_details": {"reasoning_tokens": 64}, "prompt_tokens_details": {"cached_tokens": 2}}}),
    )
}

fn hello(model: &str) -> ChatRequest {
    ChatRequest::new(model, vec![ChatMessage::user("hello")])
}

async fn chat(client: &OpenAi, request: ChatRequest) -> Result<llm_core::ChatResponse, LlmError> {
    client.clone().into_service().oneshot(LlmRequest::chat(request)).await?.into_chat()
}

#[tokio::test]
async fn openai_request_url_headers_and_body() {
    let server = MockServer::start().await;
    server.push(answer());
    let client = OpenAi::new().with_api_key("sk-live-123").with_base_url(format!("{}/v1/", server.url()));
    let res = chat(&client, hello("openai/gpt-4o").with_max_tokens(5)).await.unwrap();
    assert_eq!(res.usage.as_ref().unwrap().reasoning_tokens(), 64);
    assert_eq!(res.usage.as_ref().unwrap().cached_tokens(), 2);
    let r = &server.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(r.header("authorization"), Some("Bearer sk-live-123"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("api-key"), None);
    assert_eq!(
        r.json(),
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5})
    );
}

#[tokio::test]
async fn azure_deployment_url_and_api_key_header() {
    let server = MockServer::start().await;
    server.push(answer());
    server.push(MockResponse::json(200, json!({"object": "list", "model": "emb", "data": [
        {"object": "embedding", "index": 0, "embedding": "AACAPwAAAEA="}], "usage": {"prompt_tokens": 1, "total_tokens": 1}})));
    let client = OpenAi::azure_with_env(&env(&[
        ("AZURE_API_KEY", "az-secret"),
        ("AZURE_API_BASE", &server.url()),
        ("AZURE_API_VERSION", "2025-01-01-preview"),
    ]));
    assert_eq!(client.api_version(), Some("2025-01-01-preview"));
    chat(&client, hello("azure/gpt4o-prod").with_max_tokens(9)).await.unwrap();
    let mut e = EmbeddingRequest::new("azure/emb-deploy", "hi");
    e.encoding_format = Some(EncodingFormat::Base64);
    let emb = client.embed(e, &RequestContext::new()).await.unwrap();
    assert!(matches!(&emb.data[0].embedding, llm_core::EmbeddingVector::Base64(s) if s == "AACAPwAAAEA="));
    let reqs = server.requests();
    assert_eq!(
        reqs[0].path,
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2025-01-01-preview"
    );
    assert_eq!(reqs[0].header("api-key"), Some("az-secret"));
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(reqs[0].json()["model"], "gpt4o-prod");
    assert_eq!(reqs[1].path, "/openai/deployments/emb-deploy/embeddings?api-version=2025-01-01-preview");
    assert_eq!(reqs[1].json()["encoding_format"], "base64");
}

#[test]
fn azure_defaults_and_code_wins_over_env() {
    let lookup =
        env(&[("AZURE_OPENAI_API_KEY", "k"), ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com")]);
    let client = OpenAi::azure_with_env(&lookup);
    assert_eq!(client.api_version(), Some(llm_provider_openai::DEFAULT_AZURE_API_VERSION));
    assert_eq!(client.base_url(), Some("https://r.openai.azure.com"));
    let client = client.with_api_version("2024-06-01").with_base_url("https://other.openai.azure.com/");
    assert_eq!(
        client.url(llm_provider_openai::endpoint::Endpoint::ChatCompletions, "d").unwrap(),
        "https://other.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-06-01"
    );
    let (name, value) = client.auth_header().unwrap().unwrap();
    assert_eq!(name, "api-key");
    assert!(value.is_sensitive());
    // An Entra ID token goes as a bearer token, from code or from AZURE_AD_TOKEN.
    let (name, value) = client.with_azure_ad_token("eyJ-token").auth_header().unwrap().unwrap();
    assert_eq!((name.as_str(), value.to_str().unwrap()), ("authorization", "Bearer eyJ-token"));
    let from_env =
        OpenAi::azure_with_env(&env(&[("AZURE_AD_TOKEN", "eyJ-env"), ("AZURE_API_BASE", "https://r")]));
    let (name, _) = from_env.clone().auth_header().unwrap().unwrap();
    assert_eq!(name, "authorization");
    let (name, _) = from_env.with_api_key("k").auth_header().unwrap().unwrap();
    assert_eq!(name, "api-key", "a key set in code wins");
    assert!(OpenAi::azure().auth_header().is_err(), "no credentials");
    // The header is made once; a new key makes it again.
    let first = OpenAi::new().with_api_key("sk-first");
    assert_eq!(first.auth_header().unwrap().unwrap().1.to_str().unwrap(), "Bearer sk-first");
    assert_eq!(first.auth_header().unwrap().unwrap().1.to_str().unwrap(), "Bearer sk-first");
    let second = first.with_api_key("sk-second");
    assert_eq!(second.auth_header().unwrap().unwrap().1.to_str().unwrap(), "Bearer sk-second");
}

#[test]
fn every_vendor_resolves_to_a_base_url_and_key_variable() {
    let required = [
        "openai",
        "groq",
        "mistral",
        "deepseek",
        "together_ai",
        "fireworks_ai",
        "openrouter",
        "xai",
        "perplexity",
        "deepinfra",
        "cerebras",
        "vllm",
        "hosted_vllm",
        "lm_studio",
        "ollama",
    ];
    for name in required {
        assert!(Vendor::get(name).is_some(), "{name} is in the table");
    }
    for vendor in VENDORS {
        let key_var = vendor.api_key_env[0];
        let client = OpenAi::for_vendor_with_env(vendor, &env(&[(key_var, "the-key")]));
        assert_eq!(client.name(), vendor.name);
        assert_eq!(client.base_url(), vendor.base_url, "{}", vendor.name);
        let (_, value) = client.auth_header().unwrap().expect("a key from the environment");
        assert_eq!(value.to_str().unwrap(), "Bearer the-key", "{}", vendor.name);
        let base_var = vendor.api_base_env[0];
        let client = OpenAi::for_vendor_with_env(vendor, &env(&[(base_var, "http://gpu-box:9000/v1")]));
        assert_eq!(client.base_url(), Some("http://gpu-box:9000/v1"), "{}", vendor.name);
    }
    let groq = Vendor::get("groq").unwrap();
    assert_eq!(
        (groq.base_url.unwrap(), groq.api_key_env[0]),
        ("https://api.groq.com/openai/v1", "GROQ_API_KEY")
    );
    let ollama = OpenAi::for_vendor_with_env(
        Vendor::get("ollama").unwrap(),
        &env(&[("OLLAMA_API_BASE", "http://gpu:11434/")]),
    );
    assert_eq!(ollama.base_url(), Some("http://gpu:11434/v1"));
    assert!(OpenAi::vendor("nope").is_err());
    // Code settings win over the environment.
    let lookup = env(&[("XAI_API_KEY", "from-env"), ("XAI_API_BASE", "https://env.example/v1")]);
    let xai = OpenAi::for_vendor_with_env(Vendor::get("xai").unwrap(), &lookup)
        .with_api_key("from-code")
        .with_base_url("https://code.example/v1");
    assert_eq!(xai.base_url(), Some("https://code.example/v1"));
    assert_eq!(xai.auth_header().unwrap().unwrap().1.to_str().unwrap(), "Bearer from-code");
}

#[tokio::test]
async fn vendor_row_drives_url_prefix_and_quirks() {
    let server = MockServer::start().await;
    server.set_default(answer());
    let groq = OpenAi::for_vendor_with_env(
        Vendor::get("groq").unwrap(),
        &env(&[("GROQ_API_KEY", "gsk"), ("GROQ_API_BASE", &format!("{}/openai/v1", server.url()))]),
    );
    let mut req = hello("groq/llama-3.3-70b-versatile");
    req.logprobs = Some(true);
    let err = chat(&groq, req.clone()).await.unwrap_err();
    assert_eq!((err.kind(), err.param()), (&ErrorKind::BadRequest, Some("logprobs")));
    assert_eq!(server.request_count(), 0, "rejected before sending");
    chat(&groq.clone().with_drop_params(true), req).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.path, "/openai/v1/chat/completions");
    assert_eq!(r.header("authorization"), Some("Bearer gsk"));
    assert_eq!(r.json()["model"], "llama-3.3-70b-versatile");
    assert!(r.json().get("logprobs").is_none());

    // OpenRouter model names contain a slash of their own; only the provider prefix goes.
    let openrouter = OpenAi::vendor("openrouter").unwrap().with_api_key("or").with_base_url(server.url());
    chat(&openrouter, hello("openrouter/openai/gpt-4o")).await.unwrap();
    assert_eq!(server.requests()[1].json()["model"], "openai/gpt-4o");

    // A local server needs no key.
    let lm = OpenAi::vendor("lm_studio").unwrap().with_base_url(format!("{}/v1", server.url()));
    chat(&lm, hello("lm_studio/qwen")).await.unwrap();
    assert_eq!(server.requests()[2].header("authorization"), None);
}

#[tokio::test]
async fn missing_key_or_base_url_fails_before_sending() {
    let err = chat(
        &OpenAi::for_vendor_with_env(Vendor::get("deepseek").unwrap(), &env(&[])),
        hello("deepseek/chat"),
    )
    .await
    .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    assert!(err.message().contains("DEEPSEEK_API_KEY"), "{}", err.message());
    let err = chat(&OpenAi::vendor("hosted_vllm").unwrap(), hello("hosted_vllm/m")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::BadRequest);
    assert!(err.message().contains("base URL"));
}

#[tokio::test]
async fn keys_never_leak_into_debug_or_errors() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(401, json!({"error": {
        "message": "Incorrect API key provided: sk-proj-SECRET-value. You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})));
    let client = OpenAi::new().with_api_key("sk-proj-SECRET-value").with_base_url(server.url());
    for text in [format!("{client:?}"), format!("{:?}", client.clone().with_api_key("sk-proj-SECRET-value"))]
    {
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("ApiKey(***)"));
    }
    let err = chat(&client, hello("gpt-4o")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    for text in [err.to_string(), format!("{err:?}"), serde_json::to_string(&err.to_openai_body()).unwrap()] {
        assert!(!text.contains("SECRET"), "{text}");
    }
    assert!(err.message().contains("Incorrect API key provided: [redacted]"));
    assert_eq!(err.code(), Some("invalid_api_key"));
    let azure = OpenAi::azure().with_api_key("az-SECRET");
    assert!(!format!("{azure:?}").contains("SECRET"));
}

#[tokio::test]
async fn hang_times_out() {
    let server = MockServer::start().await;
    server.push(MockResponse::hang());
    let client =
        OpenAi::new().with_api_key("k").with_base_url(server.url()).with_timeout(Duration::from_millis(150));
    let err = chat(&client, hello("gpt-4o")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout);
    assert!(err.is_retryable());
    // The request context's deadline wins when it is earlier.
    server.push(MockResponse::hang());
    let client = client.with_timeout(Duration::from_secs(600));
    let ctx = RequestContext::new().with_timeout(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let err = client.chat(hello("gpt-4o"), &ctx).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn stalled_stream_is_a_timeout_item() {
    let server = MockServer::start().await;
    let first = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]});
    let frame = llm_core::sse::encode_json(&first).unwrap();
    server.push(MockResponse::sse(vec![
        (Duration::ZERO, frame),
        (Duration::from_secs(30), bytes::Bytes::from_static(b"data: [DONE]\n\n")),
    ]));
    let client =
        OpenAi::new().with_api_key("k").with_base_url(server.url()).with_timeout(Duration::from_millis(200));
    let stream = client.chat_stream(hello("gpt-4o").with_stream(true), &RequestContext::new()).await.unwrap();
    let items: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect()).await.unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    let err = items[1].as_ref().unwrap_err();
    assert_eq!((err.kind(), err.provider()), (&ErrorKind::Timeout, Some("openai")));
}

#[tokio::test]
async fn mid_stream_error_event_maps_to_its_kind() {
    let server = MockServer::start().await;
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]});
    server.push(MockResponse::sse_json(
        &[chunk.clone(), json!({"error": {"message": "The server had an error", "type": "server_error"}})],
        false,
    ));
    server.push(MockResponse::sse_json(&[chunk, json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})], true));
    let client = OpenAi::new().with_api_key("k").with_base_url(server.url());
    for want in [ErrorKind::Upstream { status: 500 }, ErrorKind::RateLimited { retry_after: None }] {
        let stream =
            client.chat_stream(hello("gpt-4o").with_stream(true), &RequestContext::new()).await.unwrap();
        let items: Vec<_> = stream.collect().await;
        assert_eq!(items.len(), 2, "the error ends the stream");
        assert_eq!(items[1].as_ref().unwrap_err().kind(), &want);
    }
}

#[tokio::test]
async fn connection_refused_and_reset_are_transport_errors() {
    let url = {
        let server = MockServer::start().await;
        server.url()
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let client = OpenAi::new().with_api_key("k").with_base_url(url);
    let err = chat(&client, hello("gpt-4o")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
    let server = MockServer::start().await;
    server.push(MockResponse::reset());
    let err = chat(&client.with_base_url(server.url()), hello("gpt-4o")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Transport, "{err}");
}

#[tokio::test]
async fn error_statuses_over_http() {
    let server = MockServer::start().await;
    let client = OpenAi::new().with_api_key("k").with_base_url(server.url());
    for (status, body, want) in [
        (408, json!({"error": {"message": "timeout"}}), ErrorKind::Timeout),
        (409, json!({"error": {"message": "conflict"}}), ErrorKind::BadRequest),
        (
            422,
            json!({"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}),
            ErrorKind::BadRequest,
        ),
        (502, json!({"error": {"message": "bad gateway"}}), ErrorKind::Upstream { status: 502 }),
        (504, json!({"error": {"message": "gateway timeout"}}), ErrorKind::Timeout),
        (
            400,
            json!({"error": {"message": "Your request was rejected as a result of our safety system.", "type": "invalid_request_error", "code": "content_policy_violation"}}),
            ErrorKind::ContentPolicy,
        ),
    ] {
        server.push(MockResponse::json(status, body));
        let err = chat(&client, hello("gpt-4o")).await.unwrap_err();
        assert_eq!(err.kind(), &want, "{status}");
        assert_eq!(err.provider(), Some("openai"));
    }
    server.push(
        MockResponse::json(429, json!({"error": {"message": "slow"}})).with_header("retry-after-ms", "1500"),
    );
    let err = chat(&client, hello("gpt-4o")).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn embeddings_and_model_list() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(200, json!({"object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}, {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4}})));
    server.push(MockResponse::json(
        200,
        json!({"object": "list", "data": [
        {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai"},
        {"id": "llama", "object": "model", "created": 2, "owned_by": "meta", "context_length": 8192}]}),
    ));
    let client = OpenAi::new().with_api_key("k").with_base_url(format!("{}/v1", server.url()));
    let mut e = EmbeddingRequest::new("openai/text-embedding-3-small", vec!["a".to_owned(), "b".to_owned()]);
    e.dimensions = Some(2);
    let res = client
        .clone()
        .into_service()
        .oneshot(LlmRequest::embedding(e))
        .await
        .unwrap()
        .into_embedding()
        .unwrap();
    assert_eq!(res.data.len(), 2);
    assert_eq!(res.usage.prompt_tokens, 4);
    let models = client.list_models().await.unwrap();
    assert_eq!(models.data.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["gpt-4o", "llama"]);
    assert_eq!(models.data[1].extra["context_length"], 8192);
    let reqs = server.requests();
    assert_eq!((reqs[0].path.as_str(), reqs[0].json()["dimensions"].clone()), ("/v1/embeddings", json!(2)));
    assert_eq!((reqs[1].method.as_str(), reqs[1].path.as_str()), ("GET", "/v1/models"));
    assert_eq!(reqs[1].header("authorization"), Some("Bearer k"));
}

#[tokio::test]
async fn stream_request_asks_for_usage_and_reports_reasoning_tokens() {
    let server = MockServer::start().await;
    let c = |delta: serde_json::Value, finish: Option<&str>| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "o3",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let usage = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "o3", "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 80, "total_tokens": 90, "completion_tokens_details": {"reasoning_tokens": 64}}});
    server.push(MockResponse::sse_json(
        &[
            c(json!({"role": "assistant", "content": ""}), None),
            c(json!({"content": "4"}), None),
            c(json!({}), Some("stop")),
            usage,
        ],
        true,
    ));
    let client = OpenAi::new().with_api_key("k").with_base_url(server.url());
    let mut req = hello("openai/o3").with_max_tokens(100);
    req.reasoning_effort = Some(llm_core::ReasoningEffort::Low);
    let stream = client.chat_stream(req.with_stream(true), &RequestContext::new()).await.unwrap();
    let res = llm_core::collect_stream(stream).await.unwrap();
    assert_eq!(res.text().unwrap(), "4");
    assert_eq!(res.usage.unwrap().reasoning_tokens(), 64);
    let body = server.requests()[0].json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!((body["max_completion_tokens"].clone(), body.get("max_tokens")), (json!(100), None));
    assert_eq!(body["reasoning_effort"], "low");
}

#[tokio::test]
async fn json_answer_to_a_stream_request() {
    let server = MockServer::start().await;
    server.push(answer());
    server.push(MockResponse::json(200, json!({"error": {"message": "quota for sk-ECHO reached", "type": "insufficient_quota", "code": "insufficient_quota"}})));
    let client = OpenAi::new().with_api_key("sk-ECHO").with_base_url(server.url());
    let stream = client.chat_stream(hello("gpt-4o").with_stream(true), &RequestContext::new()).await.unwrap();
    let res = llm_core::collect_stream(stream).await.unwrap();
    assert_eq!(res.text().unwrap(), "ok");
    assert_eq!(res.choices[0].finish_reason, Some(llm_core::FinishReason::Stop));
    assert_eq!(res.usage.unwrap().total_tokens, 4);
    let Err(err) = client.chat_stream(hello("gpt-4o").with_stream(true), &RequestContext::new()).await else {
        panic!("an error body is an error")
    };
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }), "{err:?}");
    assert!(!err.message().contains("sk-ECHO"), "{}", err.message());
}

#[tokio::test]
async fn mid_stream_error_echoing_the_key_is_redacted() {
    let server = MockServer::start().await;
    server.push(MockResponse::sse_json(
        &[json!({"error": {"message": "key sk-MIDSTREAM revoked", "type": "authentication_error"}})],
        false,
    ));
    let client = OpenAi::new().with_api_key("sk-MIDSTREAM").with_base_url(server.url());
    let stream = client.chat_stream(hello("gpt-4o").with_stream(true), &RequestContext::new()).await.unwrap();
    let items: Vec<_> = stream.collect().await;
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    assert_eq!(err.message(), "key [redacted] revoked");
    assert_eq!(err.provider(), Some("openai"));
}

#[tokio::test]
async fn extra_headers_are_sent() {
    let server = MockServer::start().await;
    server.push(answer());
    let client = OpenAi::vendor("openrouter")
        .unwrap()
        .with_api_key("k")
        .with_base_url(server.url())
        .with_header(
            http::HeaderName::from_static("http-referer"),
            http::HeaderValue::from_static("https://example.org"),
        )
        .with_header(http::HeaderName::from_static("x-title"), http::HeaderValue::from_static("demo"));
    assert!(format!("{client:?}").contains("x-title"));
    chat(&client, hello("openrouter/anthropic/claude-3.5-sonnet")).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!((r.header("http-referer"), r.header("x-title")), (Some("https://example.org"), Some("demo")));
    assert_eq!(r.json()["model"], "anthropic/claude-3.5-sonnet");
}

#[tokio::test]
async fn invalid_base_url_is_a_bad_request() {
    let client = OpenAi::new().with_api_key("k").with_base_url("not a url");
    let err = chat(&client, hello("gpt-4o")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::BadRequest, "{err}");
}

#[tokio::test]
async fn a_new_base_url_replaces_the_parsed_one() {
    let (first, second) = (MockServer::start().await, MockServer::start().await);
    first.set_default(answer());
    second.set_default(answer());
    let client = OpenAi::new().with_api_key("k").with_base_url(format!("{}/v1", first.url()));
    let ctx = RequestContext::default();
    client.chat(hello("gpt-4o"), &ctx).await.unwrap();
    client.chat(hello("gpt-4o"), &ctx).await.unwrap();
    assert_eq!(first.request_count(), 2);
    // A clone of a client that has sent requests (and parsed its URL), pointed elsewhere, goes there.
    let moved = client.clone().with_base_url(format!("{}/v2", second.url()));
    moved.chat(hello("gpt-4o"), &ctx).await.unwrap();
    assert_eq!((first.request_count(), second.request_count()), (2, 1));
    assert_eq!(second.requests()[0].path, "/v2/chat/completions");
    client.chat(hello("gpt-4o"), &ctx).await.unwrap();
    assert_eq!(first.request_count(), 3);
}

#[tokio::test]
async fn a_caller_supplied_reqwest_client_carries_chat_streams_and_errors() {
    let server = MockServer::start().await;
    let client = OpenAi::new()
        .with_api_key("sk-REQWEST")
        .with_base_url(format!("{}/v1", server.url()))
        .with_header(http::HeaderName::from_static("x-extra"), http::HeaderValue::from_static("1"))
        .with_http_client(reqwest::Client::new());
    server.push(answer());
    assert_eq!(chat(&client, hello("gpt-4o")).await.unwrap().text().unwrap(), "ok");
    let r = &server.requests()[0];
    assert_eq!(
        (r.path.as_str(), r.header("authorization")),
        ("/v1/chat/completions", Some("Bearer sk-REQWEST"))
    );
    assert_eq!((r.header("content-type"), r.header("x-extra")), (Some("application/json"), Some("1")));

    let chunk = |delta: serde_json::Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
    };
    server.push(MockResponse::sse_json(
        &[chunk(json!({"role": "assistant"})), chunk(json!({"content": "hi"}))],
        true,
    ));
    let stream = client.chat_stream(hello("gpt-4o").with_stream(true), &RequestContext::new()).await.unwrap();
    assert_eq!(llm_core::collect_stream(stream).await.unwrap().text().unwrap(), "hi");

    server.push(MockResponse::json(401, json!({"error": {"message": "bad key sk-REQWEST"}})));
    let err = chat(&client, hello("gpt-4o")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication, "{err}");
    assert!(!err.to_string().contains("sk-REQWEST"), "{err}");

    let gone = {
        let s = MockServer::start().await;
        s.url()
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = chat(&client.with_base_url(gone), hello("gpt-4o")).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Transport, "{err}");
}
