//! `CostLayer`: cost in the response metadata and spend records, for complete responses, streams,
//! failures and embeddings.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use llm_core::{
    Caller, ChatChunk, ChatMessage, ChatRequest, ChatResponse, Delta, EmbeddingRequest, EmbeddingResponse,
    ErrorKind, LlmError, LlmRequest, LlmResponse, RequestContext, Usage,
};
use llm_cost::{
    CostLayer, CostOutcome, CostUnknown, InMemorySpendSink, LookupHints, PriceTable, SpendKey, SpendRecord,
    SpendStatus, StreamCost,
};
use tower::{Layer, Service, ServiceExt, service_fn};

fn chat_response(model: &str, usage: Option<Usage>, tier: Option<&str>) -> ChatResponse {
    let mut r: ChatResponse = serde_json::from_value(serde_json::json!({
        "id": "resp-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}]
    }))
    .unwrap();
    r.usage = usage.map(Box::new);
    r.service_tier = tier.map(str::to_owned);
    r
}

fn request(model: &str) -> LlmRequest {
    let mut ctx = RequestContext::new().with_request_id("req-42").with_tag("batch-job").with_tag("eval");
    ctx.caller =
        Caller { key_id: Some("key-1".into()), user_id: Some("alice".into()), team_id: Some("ml".into()) };
    LlmRequest::chat(ChatRequest::new(model, vec![ChatMessage::user("Hi")])).with_context(ctx)
}

type Records = Arc<Mutex<Vec<SpendRecord>>>;

fn recording_layer() -> (CostLayer, Records) {
    let records: Records = Arc::default();
    let sink = {
        let records = Arc::clone(&records);
        move |r: SpendRecord| records.lock().unwrap().push(r)
    };
    (CostLayer::new(PriceTable::builtin()).with_sink(sink), records)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 + 1e-9 * b.abs()
}

#[tokio::test(start_paused = true)]
async fn complete_response_gets_cost_and_a_spend_record() {
    let upstream = service_fn(|_req: LlmRequest| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut resp = LlmResponse::chat(chat_response(
            "gpt-4o-2024-08-06",
            Some(Usage::new(10_000, 200).with_cached_tokens(6_000)),
            None,
        ));
        resp.metadata.provider = Some("openai".into());
        resp.metadata.deployment_id = Some("openai-east".into());
        Ok::<_, LlmError>(resp)
    });
    let (layer, records) = recording_layer();
    let mut svc = layer.layer(upstream);
    let resp = svc.ready().await.unwrap().call(request("gpt-4o")).await.unwrap();
    // gpt-4o row: 4000 × 2.5e-6 + 6000 × 1.25e-6 + 200 × 1e-5
    let expected = 0.0195;
    assert!(close(resp.metadata.cost_usd.unwrap(), expected), "{:?}", resp.metadata.cost_usd);
    let outcome = resp.metadata.extensions.get::<CostOutcome>().unwrap();
    assert_eq!(outcome.0.as_ref().unwrap().model, "gpt-4o");

    let records = records.lock().unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.request_id.as_deref(), Some("req-42"));
    assert_eq!(r.model, "gpt-4o");
    assert_eq!(r.provider.as_deref(), Some("openai"));
    assert_eq!(r.deployment.as_deref(), Some("openai-east"));
    assert_eq!(r.caller.team_id.as_deref(), Some("ml"));
    assert_eq!(r.tags, ["batch-job", "eval"]);
    assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, 10_000);
    assert_eq!(r.cost_nano_usd().unwrap().0, 19_500_000);
    assert_eq!(r.latency, Duration::from_secs(2));
    assert_eq!(r.status, SpendStatus::Success);
    assert!(!r.stream);
}

#[tokio::test]
async fn unknown_model_is_unknown_not_zero() {
    let upstream = service_fn(|_req: LlmRequest| async {
        Ok::<_, LlmError>(LlmResponse::chat(chat_response("my-model", Some(Usage::new(5, 5)), None)))
    });
    let sink = InMemorySpendSink::new();
    let mut svc = CostLayer::new(PriceTable::builtin()).with_sink(sink.clone()).layer(upstream);
    let resp = svc.ready().await.unwrap().call(request("azure/my-deployment")).await.unwrap();
    assert_eq!(resp.metadata.cost_usd, None);
    let outcome = resp.metadata.extensions.get::<CostOutcome>().unwrap();
    assert_eq!(outcome.0, Err(CostUnknown::ModelNotFound { model: "azure/my-deployment".into() }));
    let totals = sink.totals(&SpendKey::Total);
    assert_eq!((totals.requests, totals.unpriced, totals.cost.0), (1, 1, 0));
}

#[tokio::test]
async fn hints_and_service_tier_from_the_response() {
    let upstream = service_fn(|_req: LlmRequest| async {
        Ok::<_, LlmError>(LlmResponse::chat(chat_response(
            "gpt-4.1",
            Some(Usage::new(1_000, 100)),
            Some("priority"),
        )))
    });
    let mut svc = CostLayer::new(PriceTable::builtin()).layer(upstream);
    let mut req = request("azure/prod-gpt41");
    req.context.extensions.insert(LookupHints::base_model("gpt-4.1"));
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    // azure/gpt-4.1 row, priority: 1000 × 3.5e-6 + 100 × 1.4e-5
    assert!(close(resp.metadata.cost_usd.unwrap(), 0.0049), "{:?}", resp.metadata.cost_usd);
}

#[tokio::test]
async fn failures_are_recorded() {
    let upstream = service_fn(|_req: LlmRequest| async {
        Err::<LlmResponse, _>(LlmError::new(ErrorKind::RateLimited { retry_after: None }, "slow down"))
    });
    let (layer, records) = recording_layer();
    let mut svc = layer.layer(upstream);
    let err = svc.ready().await.unwrap().call(request("gpt-4o")).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }));
    let records = records.lock().unwrap();
    assert!(matches!(records[0].status, SpendStatus::Failed(ErrorKind::RateLimited { .. })));
    assert_eq!(records[0].cost, Err(CostUnknown::NoUsage));
}

fn chunk(text: &str) -> ChatChunk {
    ChatChunk::new("c1", "claude-sonnet-4-5", 0).with_delta(Delta::text(text), None)
}

type Items = fn() -> Vec<Result<ChatChunk, LlmError>>;

fn streaming_upstream(
    items: Items,
) -> impl Service<LlmRequest, Response = LlmResponse, Error = LlmError, Future: Send> + Clone + Send + 'static
{
    service_fn(move |_req: LlmRequest| {
        let items = items();
        async move { Ok::<_, LlmError>(LlmResponse::chat_stream(Box::pin(futures_util::stream::iter(items)))) }
    })
}

#[tokio::test]
async fn stream_cost_comes_from_the_final_usage() {
    let items: Items = || {
        let mut last = ChatChunk::new("c1", "claude-sonnet-4-5", 0);
        last.usage = Some(Box::new(
            Usage::new(5_000, 800).with_cached_tokens(1_000).with_cache_creation_tokens(3_000),
        ));
        vec![Ok(chunk("Hel")), Ok(chunk("lo")), Ok(last)]
    };
    let (layer, records) = recording_layer();
    let mut svc = layer.layer(streaming_upstream(items));
    let req = request("anthropic/claude-sonnet-4-5");
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    let handle = resp.metadata.extensions.get::<StreamCost>().unwrap().clone();
    assert!(handle.get().is_none(), "not known before the stream ends");
    assert!(records.lock().unwrap().is_empty());
    let chunks: Vec<_> = resp.into_chat_stream().unwrap().collect().await;
    assert_eq!(chunks.len(), 3, "every chunk is forwarded");
    // claude-sonnet-4-5: 1000 × 3e-6 + 1000 × 3e-7 + 3000 × 3.75e-6 + 800 × 1.5e-5
    let expected = 0.02655;
    assert!(close(handle.usd().unwrap(), expected), "{:?}", handle.get());
    let records = records.lock().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, SpendStatus::Success);
    assert!(records[0].stream);
    assert_eq!(records[0].cost_nano_usd().unwrap().0, 26_550_000);
}

#[tokio::test]
async fn stream_errors_and_abandoned_streams_are_recorded_once() {
    let items: Items =
        || vec![Ok(chunk("a")), Err(LlmError::new(ErrorKind::Transport, "reset")), Ok(chunk("b"))];
    let (layer, records) = recording_layer();
    let mut svc = layer.layer(streaming_upstream(items));
    let resp = svc.ready().await.unwrap().call(request("claude-sonnet-4-5")).await.unwrap();
    let chunks: Vec<_> = resp.into_chat_stream().unwrap().collect().await;
    assert_eq!(chunks.len(), 3);
    {
        let records = records.lock().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].status, SpendStatus::StreamFailed(ErrorKind::Transport));
        assert_eq!(records[0].cost, Err(CostUnknown::NoUsage));
    }

    let items: Items = || vec![Ok(chunk("a")), Ok(chunk("b"))];
    let (layer, records) = recording_layer();
    let mut svc = layer.layer(streaming_upstream(items));
    let resp = svc.ready().await.unwrap().call(request("claude-sonnet-4-5")).await.unwrap();
    let mut stream = resp.into_chat_stream().unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let records = records.lock().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, SpendStatus::StreamAbandoned);
}

#[tokio::test]
async fn embeddings_and_cache_hits() {
    let upstream = service_fn(|req: LlmRequest| async move {
        let resp: EmbeddingResponse = serde_json::from_value(serde_json::json!({
            "object": "list", "model": "text-embedding-3-small", "data": [],
            "usage": {"prompt_tokens": 1000, "total_tokens": 1000}
        }))
        .unwrap();
        let mut resp = LlmResponse::embedding(resp);
        resp.metadata.cache_hit = req.context.tags.iter().any(|t| t == "cached");
        Ok::<_, LlmError>(resp)
    });
    let sink = InMemorySpendSink::new();
    let mut svc = CostLayer::new(PriceTable::builtin()).with_sink(sink.clone()).layer(upstream);
    let req = LlmRequest::embedding(EmbeddingRequest::new("text-embedding-3-small", "hello"));
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    // text-embedding-3-small row: input_cost_per_token 2e-8
    assert!(close(resp.metadata.cost_usd.unwrap(), 1000.0 * 2e-8));
    let req = LlmRequest::embedding(EmbeddingRequest::new("text-embedding-3-small", "hello"))
        .with_context(RequestContext::new().with_tag("cached"));
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(resp.metadata.cost_usd, Some(0.0));
    assert_eq!(sink.totals(&SpendKey::Tag("cached".into())).cost.0, 0);
    assert_eq!(sink.totals(&SpendKey::Total).cost.0, 20_000);
}

#[tokio::test]
async fn in_memory_sink_aggregates_by_every_dimension() {
    let upstream = service_fn(|req: LlmRequest| async move {
        let usage = match req.operation.model() {
            "gpt-4o" => Usage::new(1_000, 100), // $0.0035
            _ => Usage::new(2_000, 1_000),      // gpt-4o-mini: $0.0009
        };
        Ok::<_, LlmError>(LlmResponse::chat(chat_response("x", Some(usage), None)))
    });
    let sink = InMemorySpendSink::new();
    let mut svc = CostLayer::new(PriceTable::builtin()).with_sink(sink.clone()).layer(upstream);
    for model in ["gpt-4o", "gpt-4o", "gpt-4o-mini"] {
        svc.ready().await.unwrap().call(request(model)).await.unwrap();
    }
    let mut other = request("gpt-4o");
    other.context.caller = Caller { user_id: Some("bob".into()), ..Caller::default() };
    other.context.tags.clear();
    svc.ready().await.unwrap().call(other).await.unwrap();

    let nanos = |k: SpendKey| sink.totals(&k).cost.0;
    assert_eq!(nanos(SpendKey::Total), 3_500_000 * 3 + 900_000);
    assert_eq!(nanos(SpendKey::Key("key-1".into())), 3_500_000 * 2 + 900_000);
    assert_eq!(nanos(SpendKey::User("alice".into())), 3_500_000 * 2 + 900_000);
    assert_eq!(nanos(SpendKey::User("bob".into())), 3_500_000);
    assert_eq!(nanos(SpendKey::Team("ml".into())), 3_500_000 * 2 + 900_000);
    assert_eq!(nanos(SpendKey::Model("gpt-4o-mini".into())), 900_000);
    assert_eq!(nanos(SpendKey::Tag("eval".into())), 3_500_000 * 2 + 900_000);
    let today = llm_cost::utc_day(std::time::SystemTime::now());
    assert_eq!(sink.totals(&SpendKey::Day(today)).requests, 4);
    let t = sink.totals(&SpendKey::Model("gpt-4o".into()));
    assert_eq!((t.requests, t.prompt_tokens, t.completion_tokens, t.failures), (3, 3_000, 300, 0));
    assert!(sink.all().len() >= 9);
}

/// A stream's spend record carries the time to its first chunk; a complete response has none.
#[tokio::test(start_paused = true)]
async fn stream_records_carry_the_time_to_the_first_chunk() {
    let upstream = service_fn(|_req: LlmRequest| async {
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        let chunks = futures_util::stream::iter(vec![Ok(chunk("a")), Ok(chunk("b"))]).then(|c| async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            c
        });
        Ok::<_, LlmError>(LlmResponse::chat_stream(Box::pin(chunks)))
    });
    let (layer, records) = recording_layer();
    let mut svc = layer.layer(upstream);
    let resp = svc.ready().await.unwrap().call(request("anthropic/claude-sonnet-4-5")).await.unwrap();
    let _: Vec<_> = resp.into_chat_stream().unwrap().collect().await;
    let records = records.lock().unwrap();
    assert_eq!(records[0].time_to_first_token, Some(std::time::Duration::from_millis(340)));
    assert_eq!(records[0].latency, std::time::Duration::from_millis(640));
}

/// Under a `BudgetLayer` with the same table the cost layer takes the budget layer's cost; with a
/// different table it prices the response itself.
#[tokio::test]
async fn a_budget_layer_below_shares_its_cost_only_when_it_used_the_same_table() {
    use llm_cost::{Budget, BudgetLayer, BudgetScope, BudgetStore, InMemoryBudgetStore, ModelPrice, NanoUsd};
    let upstream = service_fn(|_req: LlmRequest| async {
        Ok::<_, LlmError>(LlmResponse::chat(chat_response("house-model", Some(Usage::new(1_000, 0)), None)))
    });
    let priced = |usd_per_token: f64| {
        let table = PriceTable::empty();
        table.set("house-model", ModelPrice::new("openai").with_rate("input_cost_per_token", usd_per_token));
        table
    };
    let store = InMemoryBudgetStore::new();
    store
        .set_budget(
            BudgetScope::Key("key-1".into()),
            Budget::new(NanoUsd::dollars(100)),
            std::time::SystemTime::now(),
        )
        .await
        .unwrap();
    for (budget_table, cost_table, expected) in
        [(priced(1e-6), None, 0.001), (priced(1e-6), Some(priced(2e-6)), 0.002)]
    {
        let cost_table = cost_table.unwrap_or_else(|| budget_table.clone());
        let budget = BudgetLayer::new(store.clone(), budget_table).layer(upstream);
        let mut svc = CostLayer::new(cost_table).layer(budget);
        let resp = svc.ready().await.unwrap().call(request("house-model")).await.unwrap();
        let cost = resp.metadata.cost_usd.unwrap();
        assert!(close(cost, expected), "{cost} != {expected}");
        let outcome = resp.metadata.extensions.get::<CostOutcome>().unwrap();
        assert!(close(outcome.0.as_ref().unwrap().usd, expected));
    }
}
