//! The middleware crates compose with the client: cost and cache as client layers, the client as
//! a router deployment.

#![cfg(all(feature = "openai", any(feature = "cost", feature = "cache", feature = "router")))]

use llm::{ChatMessage, Client};
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::json;

fn answer(text: &str) -> MockResponse {
    MockResponse::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}}),
    )
}

fn mock_client(mock: &MockServer) -> llm::ClientBuilder {
    Client::builder().env_lookup(|_| None).api_key("openai", "k").base_url("openai", mock.url())
}

#[cfg(feature = "cost")]
#[tokio::test]
async fn cost_layer_prices_each_call() {
    use llm::cost::{CostLayer, InMemorySpendSink, PriceTable, SpendKey};
    let mock = MockServer::start().await;
    mock.push(answer("ok"));
    let sink = InMemorySpendSink::new();
    let client = mock_client(&mock)
        .layer(CostLayer::new(PriceTable::builtin()).with_sink(sink.clone()))
        .build()
        .unwrap();
    let request = llm::LlmRequest::chat(llm::ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user("Hi")]));
    let response = client.send(request).await.unwrap();
    // 1000 × $0.15/M + 100 × $0.60/M
    let usd = response.metadata.cost_usd.expect("gpt-4o-mini is priced");
    assert!((usd - 0.00021).abs() < 1e-12, "{usd}");
    assert_eq!(sink.totals(&SpendKey::Model("openai/gpt-4o-mini".into())).requests, 1);
}

#[cfg(feature = "cache")]
#[tokio::test]
async fn cache_layer_answers_the_second_identical_call() {
    let mock = MockServer::start().await;
    mock.push(answer("cached?"));
    let client = mock_client(&mock).layer(llm::cache::CacheLayer::new()).build().unwrap();
    for _ in 0..2 {
        let answer = client.chat("openai/gpt-4o-mini", vec![ChatMessage::user("Hi")]).await.unwrap();
        assert_eq!(answer.text().unwrap(), "cached?");
    }
    assert_eq!(mock.request_count(), 1);
}

#[cfg(feature = "router")]
#[tokio::test]
async fn the_client_is_a_router_deployment() {
    use llm::router::{Deployment, Router, RouterSettings};
    use tower::ServiceExt;
    let mock = MockServer::start().await;
    mock.push(MockResponse::json(503, json!({"error": {"message": "overloaded", "type": "server_error"}})));
    mock.push(answer("from the accurate model"));
    let service = llm::BoxLlmService::new(mock_client(&mock).build().unwrap());
    let settings: RouterSettings =
        serde_json::from_value(json!({"fallbacks": [{"cheap": ["accurate"]}], "num_retries": 0})).unwrap();
    let router = Router::builder()
        .settings(settings)
        .deployment("cheap", Deployment::new("mini", "openai/gpt-4o-mini", service.clone()))
        .deployment("accurate", Deployment::new("big", "openai/gpt-4o", service))
        .build()
        .unwrap();
    let request = llm::ChatRequest::new("cheap", vec![ChatMessage::user("Hi")]);
    let response = router.oneshot(llm::LlmRequest::chat(request)).await.unwrap();
    assert_eq!(response.metadata.deployment_id.as_deref(), Some("big"));
    let models: Vec<_> = mock.requests().iter().map(|r| r.json()["model"].clone()).collect();
    assert_eq!(models, [json!("gpt-4o-mini"), json!("gpt-4o")]);
}
