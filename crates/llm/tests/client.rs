//! The client against the mock upstream: resolution of every prefix, key precedence, error
//! texts, aliases, drop_params and user layers.

use std::collections::HashMap;

use llm::{ChatMessage, Client, ClientBuilder, ErrorKind};

/// An environment made of `pairs` only.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

fn builder(pairs: &[(&str, &str)]) -> ClientBuilder {
    Client::builder().env_lookup(env(pairs))
}

fn hi() -> Vec<ChatMessage> {
    vec![ChatMessage::user("Hi")]
}

#[cfg(feature = "openai")]
mod openai {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use llm::{ChatRequest, Params};
    use llm_core::testkit::{MockResponse, MockServer};
    use serde_json::json;

    use super::*;

    fn openai_answer(text: &str) -> MockResponse {
        MockResponse::json(
            200,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        )
    }

    #[tokio::test]
    async fn openai_prefix_with_code_key_and_base_url() {
        let mock = MockServer::start().await;
        mock.push(openai_answer("Hello from OpenAI"));
        let client =
            builder(&[]).api_key("openai", "sk-code").base_url("openai", mock.url()).build().unwrap();
        let answer = client.chat("openai/gpt-4o-mini", hi()).await.unwrap();
        assert_eq!(answer.text().unwrap(), "Hello from OpenAI");
        let req = &mock.requests()[0];
        assert_eq!(req.path, "/chat/completions");
        assert_eq!(req.header("authorization"), Some("Bearer sk-code"));
        assert_eq!(req.json()["model"], "gpt-4o-mini");
    }

    #[tokio::test]
    async fn bare_gpt_name_goes_to_openai() {
        let mock = MockServer::start().await;
        mock.push(openai_answer("ok"));
        let client =
            builder(&[("OPENAI_API_KEY", "sk-env"), ("OPENAI_BASE_URL", &mock.url())]).build().unwrap();
        client.chat("gpt-4o", hi()).await.unwrap();
        assert_eq!(mock.requests()[0].json()["model"], "gpt-4o");
        assert_eq!(mock.requests()[0].header("authorization"), Some("Bearer sk-env"));
    }

    #[tokio::test]
    async fn every_vendor_prefix_reads_its_own_variables() {
        let mock = MockServer::start().await;
        mock.set_default(openai_answer("ok"));
        for vendor in llm::openai::VENDORS {
            let key = format!("key-for-{}", vendor.name);
            let client = builder(&[(vendor.api_key_env[0], &key), (vendor.api_base_env[0], &mock.url())])
                .build()
                .unwrap();
            assert_eq!(client.resolve(&format!("{}/some-model", vendor.name)).unwrap().0, vendor.name);
            client.chat(format!("{}/some-model", vendor.name), hi()).await.unwrap();
            let req = mock.requests().pop().unwrap();
            assert_eq!(
                req.header("authorization"),
                Some(format!("Bearer {key}").as_str()),
                "{}",
                vendor.name
            );
            assert_eq!(req.json()["model"], "some-model", "{}", vendor.name);
        }
        assert_eq!(mock.request_count(), llm::openai::VENDORS.len());
    }

    #[tokio::test]
    async fn openrouter_keeps_the_slash_in_the_model() {
        let mock = MockServer::start().await;
        mock.push(openai_answer("ok"));
        let client =
            builder(&[]).api_key("openrouter", "k").base_url("openrouter", mock.url()).build().unwrap();
        client.chat("openrouter/meta-llama/llama-3-70b", hi()).await.unwrap();
        assert_eq!(mock.requests()[0].json()["model"], "meta-llama/llama-3-70b");
    }

    #[tokio::test]
    async fn azure_deployment_url_and_api_key_header() {
        let mock = MockServer::start().await;
        mock.push(openai_answer("ok"));
        let client = builder(&[
            ("AZURE_API_KEY", "az-env"),
            ("AZURE_API_BASE", &mock.url()),
            ("AZURE_API_VERSION", "2024-06-01"),
        ])
        .build()
        .unwrap();
        client.chat("azure/gpt4o-prod", hi()).await.unwrap();
        let req = &mock.requests()[0];
        assert_eq!(req.path, "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01");
        assert_eq!(req.header("api-key"), Some("az-env"));
    }

    #[tokio::test]
    async fn code_wins_over_the_environment() {
        let mock = MockServer::start().await;
        mock.push(openai_answer("ok"));
        // The environment points at a closed port: only the code settings can reach the mock.
        let client = builder(&[("GROQ_API_KEY", "gsk-env"), ("GROQ_API_BASE", "http://127.0.0.1:9/v1")])
            .api_key("groq", "gsk-code")
            .base_url("groq", mock.url())
            .build()
            .unwrap();
        client.chat("groq/llama-3.1-8b-instant", hi()).await.unwrap();
        assert_eq!(mock.requests()[0].header("authorization"), Some("Bearer gsk-code"));
    }

    #[tokio::test]
    async fn missing_key_names_the_variable_and_sends_nothing() {
        let client = builder(&[]).build().unwrap();
        let err = client.chat("groq/llama-3.1-8b-instant", hi()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("GROQ_API_KEY"), "{err}");
        assert!(err.message().contains(r#"api_key("groq", key)"#), "{err}");
        let err = client.chat("azure/dep", hi()).await.unwrap_err();
        assert!(err.message().contains("AZURE_API_KEY"), "{err}");
        let err = client.chat("gpt-4o", hi()).await.unwrap_err();
        assert!(err.message().contains("OPENAI_API_KEY"), "{err}");
    }

    #[tokio::test]
    async fn streams_and_embeds() {
        use futures_util::StreamExt;
        let mock = MockServer::start().await;
        let chunk = |text: &str| {
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        };
        mock.push(MockResponse::sse_json(&[chunk("Hel"), chunk("lo")], true));
        mock.push(MockResponse::json(
            200,
            json!({"object": "list", "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
                "usage": {"prompt_tokens": 2, "total_tokens": 2}}),
        ));
        let client = builder(&[]).api_key("openai", "k").base_url("openai", mock.url()).build().unwrap();
        let mut stream = client.chat_stream("openai/gpt-4o-mini", hi()).await.unwrap();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(chunk.unwrap().choices[0].delta.content.as_deref().unwrap_or_default());
        }
        assert_eq!(text, "Hello");
        assert_eq!(mock.requests()[0].json()["stream"], true);
        let embeddings = client.embed("openai/text-embedding-3-small", "hello").await.unwrap();
        assert_eq!(embeddings.data.len(), 1);
        assert_eq!(mock.requests()[1].path, "/embeddings");
        assert_eq!(mock.requests()[1].json()["model"], "text-embedding-3-small");
    }

    #[tokio::test]
    async fn aliases_choose_model_and_parameters() {
        let mock = MockServer::start().await;
        mock.set_default(openai_answer("ok"));
        let client = builder(&[("GROQ_API_KEY", "g"), ("OPENAI_API_KEY", "o")])
            .base_url("groq", mock.url())
            .base_url("openai", mock.url())
            .aliases_from_str(
                r#"
                fast = "groq/llama-3.1-8b-instant"
                smart = { model = "openai/gpt-4o", max_tokens = 1024, temperature = 0.2 }
                "#,
            )
            .default_params(Params::new().with("max_tokens", 16).with("seed", 7))
            .build()
            .unwrap();
        client.chat("fast", hi()).await.unwrap();
        let body = mock.requests()[0].json();
        assert_eq!(body["model"], "llama-3.1-8b-instant");
        assert_eq!((body["max_tokens"].clone(), body["seed"].clone()), (json!(16), json!(7)));

        let request = ChatRequest::new("smart", hi()).with_temperature(0.9);
        client.chat_request(request).await.unwrap();
        let body = mock.requests()[1].json();
        assert_eq!(body["model"], "gpt-4o");
        assert_eq!(body["max_tokens"], 1024, "the alias wins over client defaults");
        assert_eq!(body["temperature"], 0.9, "the request wins over the alias");
        assert_eq!(body["seed"], 7);
    }

    #[tokio::test]
    async fn alias_file_is_read_and_a_bad_one_names_path_and_problem() {
        let dir = std::env::temp_dir().join(format!("llm-alias-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "fast = \"groq/llama-3.1-8b-instant\"\n").unwrap();
        let client = builder(&[]).aliases_from_file(&good).build().unwrap();
        assert_eq!(client.resolve("fast").unwrap().0, "groq");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "smart = { max_tokens = 5 }\n").unwrap();
        let err = builder(&[]).aliases_from_file(&bad).build().unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains("alias `smart`") && err.contains("`model`"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn drop_params_false_names_the_parameter_and_sends_nothing() {
        let mock = MockServer::start().await;
        mock.set_default(openai_answer("ok"));
        let client = builder(&[]).api_key("groq", "g").base_url("groq", mock.url()).build().unwrap();
        let mut request = ChatRequest::new("groq/llama-3.1-8b-instant", hi());
        request.logprobs = Some(true);
        let err = client.chat_request(request).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::BadRequest);
        assert_eq!(err.param(), Some("logprobs"));
        assert_eq!(mock.request_count(), 0);
    }

    #[tokio::test]
    async fn drop_params_true_removes_the_parameter() {
        let mock = MockServer::start().await;
        mock.set_default(openai_answer("ok"));
        let client =
            builder(&[]).api_key("groq", "g").base_url("groq", mock.url()).drop_params(true).build().unwrap();
        let mut request = ChatRequest::new("groq/llama-3.1-8b-instant", hi());
        request.logprobs = Some(true);
        client.chat_request(request).await.unwrap();
        let body = mock.requests()[0].json();
        assert!(body.get("logprobs").is_none(), "{body}");
    }

    #[tokio::test]
    async fn user_layer_wraps_each_provider_once_and_sees_every_call() {
        let mock = MockServer::start().await;
        mock.set_default(openai_answer("ok"));
        let wrapped = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (w, c) = (Arc::clone(&wrapped), Arc::clone(&calls));
        let layer = tower::layer::layer_fn(move |inner: llm::BoxLlmService| {
            w.fetch_add(1, Ordering::SeqCst);
            let c = Arc::clone(&c);
            tower::util::MapRequestLayer::new(move |req: llm::LlmRequest| {
                c.lock().unwrap().push(req.operation.model().to_owned());
                req
            })
            .layer_into(inner)
        });
        let client = builder(&[("OPENAI_API_KEY", "o"), ("GROQ_API_KEY", "g")])
            .base_url("openai", mock.url())
            .base_url("groq", mock.url())
            .layer(layer)
            .build()
            .unwrap();
        client.chat("openai/gpt-4o-mini", hi()).await.unwrap();
        client.chat("gpt-4o-mini", hi()).await.unwrap();
        assert_eq!(wrapped.load(Ordering::SeqCst), 1, "one adapter (and one layer stack) per provider");
        client.chat("groq/llama-3.1-8b-instant", hi()).await.unwrap();
        assert_eq!(wrapped.load(Ordering::SeqCst), 2);
        let seen = calls.lock().unwrap().clone();
        assert_eq!(seen, ["openai/gpt-4o-mini", "openai/gpt-4o-mini", "groq/llama-3.1-8b-instant"]);
    }

    /// `tower::Layer::layer`, spelled so the closure above reads in order.
    trait LayerInto<S>: tower::Layer<S> {
        fn layer_into(&self, inner: S) -> Self::Service {
            self.layer(inner)
        }
    }
    impl<S, L: tower::Layer<S>> LayerInto<S> for L {}

    #[tokio::test]
    async fn timeout_reaches_the_provider() {
        let mock = MockServer::start().await;
        mock.push(MockResponse::hang());
        let client = builder(&[])
            .api_key("openai", "k")
            .base_url("openai", mock.url())
            .timeout(std::time::Duration::from_millis(150))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let err = client.chat("openai/gpt-4o-mini", hi()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[tokio::test]
    async fn vendor_without_a_default_base_url_names_its_variable() {
        let client = builder(&[]).build().unwrap();
        let err = client.chat("hosted_vllm/my-model", hi()).await.unwrap_err();
        assert!(err.message().contains("HOSTED_VLLM_API_BASE"), "{err}");
    }

    #[tokio::test]
    async fn aliases_apply_to_embeddings() {
        let mock = MockServer::start().await;
        mock.push(MockResponse::json(
            200,
            json!({"object": "list", "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}]}),
        ));
        let client = builder(&[("OPENAI_API_KEY", "o"), ("OPENAI_API_BASE", &mock.url())])
            .aliases_from_str(r#"vectors = "openai/text-embedding-3-small""#)
            .build()
            .unwrap();
        client.embed("vectors", "hi").await.unwrap();
        assert_eq!(mock.requests()[0].json()["model"], "text-embedding-3-small");
    }

    #[tokio::test]
    async fn the_client_is_a_tower_service() {
        use tower::ServiceExt;
        let mock = MockServer::start().await;
        mock.push(openai_answer("via tower"));
        let client = builder(&[]).api_key("openai", "k").base_url("openai", mock.url()).build().unwrap();
        let request = llm::LlmRequest::chat(ChatRequest::new("gpt-4o-mini", hi()));
        let response = client.oneshot(request).await.unwrap();
        assert_eq!(response.metadata.provider.as_deref(), Some("openai"));
        assert_eq!(response.into_chat().unwrap().text().unwrap(), "via tower");
    }

    #[test]
    fn keys_never_show_in_debug() {
        let client =
            builder(&[]).api_key("openai", "sk-very-secret").api_key("google", "g-very-secret").build();
        let text = format!("{client:?}");
        assert!(!text.contains("very-secret"), "{text}");
        let text = format!("{:?}", builder(&[]).api_key("anthropic", "sk-ant-very-secret"));
        assert!(!text.contains("very-secret"), "{text}");
    }
}

#[cfg(feature = "anthropic")]
mod anthropic {
    use llm::ChatRequest;
    use llm_core::testkit::{MockResponse, MockServer};
    use serde_json::json;

    use super::*;

    fn answer() -> MockResponse {
        MockResponse::json(
            200,
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "Hello from Claude"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 3, "output_tokens": 2}}),
        )
    }

    #[tokio::test]
    async fn anthropic_prefix_and_bare_claude_name() {
        let mock = MockServer::start().await;
        mock.set_default(answer());
        let client = builder(&[("ANTHROPIC_API_KEY", "sk-ant-env"), ("ANTHROPIC_API_BASE", &mock.url())])
            .build()
            .unwrap();
        let answer = client.chat("anthropic/claude-sonnet-4-5", hi()).await.unwrap();
        assert_eq!(answer.text().unwrap(), "Hello from Claude");
        client.chat("claude-sonnet-4-5", hi()).await.unwrap();
        for req in mock.requests() {
            assert_eq!(req.path, "/v1/messages");
            assert_eq!(req.header("x-api-key"), Some("sk-ant-env"));
            assert_eq!(req.json()["model"], "claude-sonnet-4-5");
        }
    }

    #[tokio::test]
    async fn code_key_wins_and_missing_key_names_the_variable() {
        let mock = MockServer::start().await;
        mock.push(answer());
        let client = builder(&[("ANTHROPIC_API_KEY", "sk-ant-env")])
            .api_key("anthropic", "sk-ant-code")
            .base_url("anthropic", mock.url())
            .build()
            .unwrap();
        client.chat("anthropic/claude-sonnet-4-5", hi()).await.unwrap();
        assert_eq!(mock.requests()[0].header("x-api-key"), Some("sk-ant-code"));

        let err = builder(&[]).build().unwrap().chat("claude-sonnet-4-5", hi()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("ANTHROPIC_API_KEY"), "{err}");
    }

    #[tokio::test]
    async fn timeout_reaches_the_provider() {
        let mock = MockServer::start().await;
        mock.push(MockResponse::hang());
        let client = builder(&[])
            .api_key("anthropic", "k")
            .base_url("anthropic", mock.url())
            .timeout(std::time::Duration::from_millis(150))
            .build()
            .unwrap();
        let err = client.chat("anthropic/claude-sonnet-4-5", hi()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{err}");
    }

    #[tokio::test]
    async fn drop_params_both_ways() {
        let mock = MockServer::start().await;
        mock.set_default(answer());
        let seeded = || {
            let mut r = ChatRequest::new("anthropic/claude-sonnet-4-5", hi());
            r.seed = Some(42);
            r
        };
        let strict =
            builder(&[]).api_key("anthropic", "k").base_url("anthropic", mock.url()).build().unwrap();
        let err = strict.chat_request(seeded()).await.unwrap_err();
        assert_eq!((err.kind().clone(), err.param()), (ErrorKind::BadRequest, Some("seed")));
        assert_eq!(mock.request_count(), 0);

        let lenient = builder(&[])
            .api_key("anthropic", "k")
            .base_url("anthropic", mock.url())
            .drop_params(true)
            .build()
            .unwrap();
        lenient.chat_request(seeded()).await.unwrap();
        let body = mock.requests()[0].json();
        assert!(body.get("seed").is_none(), "{body}");
    }
}

#[cfg(feature = "gemini")]
mod gemini {
    use llm_core::testkit::{MockResponse, MockServer};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn gemini_and_google_prefixes_and_keys() {
        let mock = MockServer::start().await;
        mock.set_default(MockResponse::json(
            200,
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello from Gemini"}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
                "modelVersion": "gemini-2.5-flash"}),
        ));
        let client =
            builder(&[("GOOGLE_API_KEY", "g-env"), ("GEMINI_API_BASE", &mock.url())]).build().unwrap();
        for model in ["gemini/gemini-2.5-flash", "google/gemini-2.5-flash", "gemini-2.5-flash"] {
            let answer = client.chat(model, hi()).await.unwrap();
            assert_eq!(answer.text().unwrap(), "Hello from Gemini");
        }
        for req in mock.requests() {
            assert_eq!(req.path, "/v1beta/models/gemini-2.5-flash:generateContent");
            assert_eq!(req.header("x-goog-api-key"), Some("g-env"));
        }
        // `google` shares `gemini`'s settings; code wins.
        let client = builder(&[("GEMINI_API_KEY", "g-env")])
            .api_key("google", "g-code")
            .base_url("google", mock.url())
            .build()
            .unwrap();
        client.chat("google/gemini-2.5-flash", hi()).await.unwrap();
        assert_eq!(mock.requests().last().unwrap().header("x-goog-api-key"), Some("g-code"));
        let err = builder(&[]).build().unwrap().chat("gemini/gemini-2.5-flash", hi()).await.unwrap_err();
        assert!(err.message().contains("GEMINI_API_KEY or GOOGLE_API_KEY"), "{err}");
    }
}

#[cfg(feature = "bedrock")]
mod bedrock {
    use llm_core::testkit::{MockResponse, MockServer};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn bedrock_prefix_with_an_api_key_and_endpoint() {
        let mock = MockServer::start().await;
        mock.set_default(MockResponse::json(
            200,
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hello from Bedrock"}]}},
                   "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}}),
        ));
        let client = builder(&[("AWS_REGION", "us-east-1"), ("AWS_BEARER_TOKEN_BEDROCK", "br-env")])
            .base_url("bedrock", mock.url())
            .build()
            .unwrap();
        let answer = client.chat("bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0", hi()).await.unwrap();
        assert_eq!(answer.text().unwrap(), "Hello from Bedrock");
        let req = &mock.requests()[0];
        assert_eq!(req.path, "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse");
        assert_eq!(req.header("authorization"), Some("Bearer br-env"));
        // Code wins over the environment.
        let client = builder(&[("AWS_REGION", "us-east-1"), ("AWS_BEARER_TOKEN_BEDROCK", "br-env")])
            .api_key("bedrock", "br-code")
            .base_url("bedrock", mock.url())
            .build()
            .unwrap();
        client.chat("bedrock/amazon.nova-lite-v1:0", hi()).await.unwrap();
        assert_eq!(mock.requests().last().unwrap().header("authorization"), Some("Bearer br-code"));
        let err = builder(&[("AWS_REGION", "us-east-1")])
            .build()
            .unwrap()
            .chat("bedrock/x", hi())
            .await
            .unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("AWS_BEARER_TOKEN_BEDROCK"), "{err}");
    }
}

#[cfg(feature = "vertex")]
mod vertex {
    use llm_core::testkit::{MockResponse, MockServer};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn vertex_prefix_with_an_access_token() {
        let mock = MockServer::start().await;
        mock.set_default(MockResponse::json(
            200,
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello from Vertex"}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}}),
        ));
        let client = builder(&[("VERTEXAI_PROJECT", "proj-1"), ("VERTEXAI_LOCATION", "europe-west4")])
            .api_key("vertex_ai", "ya29.token")
            .base_url("vertex_ai", mock.url())
            .build()
            .unwrap();
        for model in ["vertex_ai/gemini-2.5-flash", "vertex/gemini-2.5-flash"] {
            let answer = client.chat(model, hi()).await.unwrap();
            assert_eq!(answer.text().unwrap(), "Hello from Vertex");
        }
        for req in mock.requests() {
            assert_eq!(
                req.path,
                "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"
            );
            assert_eq!(req.header("authorization"), Some("Bearer ya29.token"));
        }
    }
}

#[cfg(not(feature = "bedrock"))]
#[tokio::test]
async fn bedrock_not_compiled_names_the_feature() {
    let err = builder(&[]).build().unwrap().chat("bedrock/amazon.nova-lite-v1:0", hi()).await.unwrap_err();
    assert!(err.message().contains("provider `bedrock` needs the `bedrock` feature"), "{err}");
}

#[tokio::test]
async fn unknown_prefix_lists_the_known_ones() {
    let err = builder(&[]).build().unwrap().chat("acme/model-1", hi()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::BadRequest);
    for known in ["openai", "anthropic", "gemini", "azure", "groq", "mistral"] {
        assert!(err.message().contains(known), "{err}");
    }
}

#[tokio::test]
async fn bare_unknown_name_asks_for_provider_slash_model() {
    let err = builder(&[]).build().unwrap().chat("llama-3.1-8b", hi()).await.unwrap_err();
    assert!(err.message().contains("`provider/model`"), "{err}");
}

#[cfg(not(feature = "anthropic"))]
#[tokio::test]
async fn provider_not_compiled_names_the_feature() {
    let err = builder(&[]).build().unwrap().chat("anthropic/claude-sonnet-4-5", hi()).await.unwrap_err();
    assert!(
        err.message().contains("provider `anthropic` needs the `anthropic` feature of the `llm` crate"),
        "{err}"
    );
}

#[cfg(not(feature = "gemini"))]
#[tokio::test]
async fn gemini_not_compiled_names_the_feature() {
    let err = builder(&[]).build().unwrap().chat("google/gemini-2.5-flash", hi()).await.unwrap_err();
    assert!(err.message().contains("provider `gemini` needs the `gemini` feature"), "{err}");
}

#[cfg(not(feature = "openai"))]
#[tokio::test]
async fn openai_vendors_not_compiled_name_the_feature() {
    let err = builder(&[]).build().unwrap().chat("groq/llama-3.1-8b-instant", hi()).await.unwrap_err();
    assert!(err.message().contains("provider `groq` needs the `openai` feature"), "{err}");
}
