//! `BudgetLayer` and `InMemoryBudgetStore`: reserve before, settle after, release on failure,
//! windows, and no overshoot under concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use llm_core::{
    Caller, ChatChunk, ChatMessage, ChatRequest, ChatResponse, ErrorKind, LlmError, LlmRequest, LlmResponse,
    RequestContext, Usage,
};
use llm_cost::{
    Budget, BudgetLayer, BudgetScope, BudgetStatus, BudgetStore, BudgetWindow, InMemoryBudgetStore, NanoUsd,
    PriceTable, UnpricedPolicy,
};
use tower::{Layer, Service, ServiceExt, service_fn};

fn chat_response(usage: Usage) -> ChatResponse {
    let mut r: ChatResponse = serde_json::from_value(serde_json::json!({
        "id": "r", "object": "chat.completion", "created": 0, "model": "gpt-4o", "choices": []
    }))
    .unwrap();
    r.usage = Some(Box::new(usage));
    r
}

fn request(model: &str, key: &str, max_tokens: u32) -> LlmRequest {
    let mut ctx = RequestContext::new();
    ctx.caller = Caller { key_id: Some(key.into()), team_id: Some("team".into()), ..Caller::default() };
    LlmRequest::chat(ChatRequest::new(model, vec![ChatMessage::user("Hi")]).with_max_tokens(max_tokens))
        .with_context(ctx)
}

async fn status(store: &InMemoryBudgetStore, scope: &BudgetScope) -> BudgetStatus {
    store.status(scope, SystemTime::now()).await.unwrap().unwrap()
}

fn key(id: &str) -> BudgetScope {
    BudgetScope::Key(id.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_requests_never_spend_more_than_one_dollar() {
    let store = InMemoryBudgetStore::new();
    let now = SystemTime::now();
    store.set_budget(key("k"), Budget::new(NanoUsd::dollars(1)), now).await.unwrap();
    store.set_budget(BudgetScope::Team("team".into()), Budget::new(NanoUsd::dollars(5)), now).await.unwrap();

    // What the upstream actually billed, counted independently of the crate: gpt-4o at
    // $2.5/M input (2,500 nano-USD per token) and $10/M output (10,000 per token).
    let billed = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let upstream = {
        let billed = Arc::clone(&billed);
        let calls = Arc::clone(&calls);
        service_fn(move |_req: LlmRequest| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let completion = 1_000 - (n % 3) * 400; // 1000, 600 or 200 of the 1000 allowed
            billed.fetch_add(5 * 2_500 + completion * 10_000, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(1 + n % 5)).await;
                Ok::<_, LlmError>(LlmResponse::chat(chat_response(Usage::new(5, completion))))
            }
        })
    };
    let svc = BudgetLayer::new(store.clone(), PriceTable::builtin()).layer(upstream);

    let mut tasks = Vec::new();
    for _ in 0..1_000 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move { svc.oneshot(request("gpt-4o", "k", 1_000)).await }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) if e.kind() == &ErrorKind::BudgetExceeded => refused += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    let s = status(&store, &key("k")).await;
    assert_eq!(ok + refused, 1_000);
    assert_eq!(calls.load(Ordering::SeqCst), ok, "refused calls never reach the upstream");
    assert!(ok >= 99, "the budget fits at least 99 worst-case calls, got {ok}");
    assert!(refused > 0);
    assert_eq!(s.reserved, NanoUsd::ZERO, "every reservation settled");
    assert_eq!(s.spent.0, billed.load(Ordering::SeqCst), "settled to the real cost");
    assert!(s.spent <= NanoUsd::dollars(1), "overspent: {}", s.spent);
    assert_eq!(status(&store, &BudgetScope::Team("team".into())).await.spent, s.spent);
}

#[tokio::test]
async fn reservation_is_the_worst_case_and_settles_to_the_real_cost() {
    let store = InMemoryBudgetStore::new();
    store.set_budget(key("k"), Budget::new(NanoUsd::dollars(1)), SystemTime::now()).await.unwrap();
    let seen = Arc::new(Mutex::new(None));
    let upstream = {
        let (store, seen) = (store.clone(), Arc::clone(&seen));
        service_fn(move |_req: LlmRequest| {
            let (store, seen) = (store.clone(), Arc::clone(&seen));
            async move {
                *seen.lock().unwrap() = Some(status(&store, &key("k")).await.reserved);
                Ok::<_, LlmError>(LlmResponse::chat(chat_response(Usage::new(8, 100))))
            }
        })
    };
    let mut svc = BudgetLayer::new(store.clone(), PriceTable::builtin()).layer(upstream);
    svc.ready().await.unwrap().call(request("gpt-4o", "k", 2_000)).await.unwrap();
    // "Hi" as one user message is 8 tokens with OpenAI's chat framing; 2000 output tokens.
    let reserved = seen.lock().unwrap().unwrap();
    #[cfg(feature = "tiktoken")]
    assert_eq!(reserved.0, 8 * 2_500 + 2_000 * 10_000);
    assert!(reserved.0 >= 2_000 * 10_000);
    let s = status(&store, &key("k")).await;
    assert_eq!((s.spent.0, s.reserved.0), (8 * 2_500 + 100 * 10_000, 0));
}

#[tokio::test]
async fn failures_release_and_no_caller_is_not_budgeted() {
    let store = InMemoryBudgetStore::new();
    store.set_budget(key("k"), Budget::new(NanoUsd(30_000_000)), SystemTime::now()).await.unwrap();
    let upstream = service_fn(|_req: LlmRequest| async {
        Err::<LlmResponse, _>(LlmError::new(ErrorKind::ServiceUnavailable, "down"))
    });
    let mut svc = BudgetLayer::new(store.clone(), PriceTable::builtin()).layer(upstream);
    for _ in 0..5 {
        let err = svc.ready().await.unwrap().call(request("gpt-4o", "k", 2_000)).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::ServiceUnavailable);
    }
    let s = status(&store, &key("k")).await;
    assert_eq!((s.spent, s.reserved), (NanoUsd::ZERO, NanoUsd::ZERO));

    let mut anonymous = request("gpt-4o", "k", 100_000_000);
    anonymous.context.caller = Caller::default();
    let err = svc.ready().await.unwrap().call(anonymous).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ServiceUnavailable, "passed through without a budget check");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_releases_its_reservation() {
    let store = InMemoryBudgetStore::new();
    store.set_budget(key("k"), Budget::new(NanoUsd::dollars(1)), SystemTime::now()).await.unwrap();
    let upstream = service_fn(|_req: LlmRequest| async {
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        Ok::<_, LlmError>(LlmResponse::chat(chat_response(Usage::new(1, 1))))
    });
    let mut svc = BudgetLayer::new(store.clone(), PriceTable::builtin()).layer(upstream);
    let call = svc.ready().await.unwrap().call(request("gpt-4o", "k", 1_000));
    assert!(tokio::time::timeout(Duration::from_secs(1), call).await.is_err());
    tokio::task::yield_now().await;
    assert_eq!(status(&store, &key("k")).await.reserved, NanoUsd::ZERO);
}

#[tokio::test]
async fn over_budget_is_refused_before_the_call() {
    let store = InMemoryBudgetStore::new();
    store.set_budget(key("k"), Budget::new(NanoUsd(5_000_000)), SystemTime::now()).await.unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let upstream = {
        let calls = Arc::clone(&calls);
        service_fn(move |_req: LlmRequest| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, LlmError>(LlmResponse::chat(chat_response(Usage::new(1, 1)))) }
        })
    };
    let mut svc = BudgetLayer::new(store.clone(), PriceTable::builtin()).layer(upstream);
    // 1000 output tokens of gpt-4o can cost $0.01 > $0.005.
    let err = svc.ready().await.unwrap().call(request("gpt-4o", "k", 1_000)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::BudgetExceeded);
    assert_eq!(err.to_openai_body().error.kind, "budget_exceeded");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // 100 output tokens fit.
    svc.ready().await.unwrap().call(request("gpt-4o", "k", 100)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn windows_reset_on_schedule() {
    let clock = Arc::new(Mutex::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
    let now = {
        let clock = Arc::clone(&clock);
        move || *clock.lock().unwrap()
    };
    let store = InMemoryBudgetStore::new();
    let window: BudgetWindow = "1d".parse().unwrap();
    store.set_budget(key("k"), Budget::new(NanoUsd(2_100_000)).with_window(window), now()).await.unwrap();
    let upstream = service_fn(|_req: LlmRequest| async {
        Ok::<_, LlmError>(LlmResponse::chat(chat_response(Usage::new(0, 100))))
    });
    let mut svc =
        BudgetLayer::new(store.clone(), PriceTable::builtin()).with_clock(now.clone()).layer(upstream);
    // Each call reserves ~$0.00102 and spends $0.001: two fit, the third does not.
    for _ in 0..2 {
        svc.ready().await.unwrap().call(request("gpt-4o", "k", 100)).await.unwrap();
    }
    let err = svc.ready().await.unwrap().call(request("gpt-4o", "k", 100)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::BudgetExceeded);
    let s = store.status(&key("k"), now()).await.unwrap().unwrap();
    assert_eq!(s.spent.0, 2_000_000);
    assert_eq!(s.resets_at, Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 86_400)));

    *clock.lock().unwrap() += Duration::from_secs(86_399);
    assert!(svc.ready().await.unwrap().call(request("gpt-4o", "k", 100)).await.is_err(), "not yet");
    *clock.lock().unwrap() += Duration::from_secs(1);
    svc.ready().await.unwrap().call(request("gpt-4o", "k", 100)).await.unwrap();
    let s = store.status(&key("k"), now()).await.unwrap().unwrap();
    assert_eq!(s.spent.0, 1_000_000);
    // Several windows later the schedule stays aligned to the start.
    *clock.lock().unwrap() += Duration::from_secs(3 * 86_400 + 10);
    let s = store.status(&key("k"), now()).await.unwrap().unwrap();
    assert_eq!(s.spent, NanoUsd::ZERO);
    assert_eq!(s.resets_at, Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 5 * 86_400)));
}

#[test]
fn litellm_durations() {
    let secs = |s: &str| s.parse::<BudgetWindow>().map(|w| w.period().as_secs());
    assert_eq!(secs("30s"), Ok(30));
    assert_eq!(secs("15m"), Ok(900));
    assert_eq!(secs("24h"), Ok(86_400));
    assert_eq!(secs(" 30d "), Ok(2_592_000));
    assert_eq!(secs("2w"), Ok(1_209_600));
    assert_eq!(secs("1mo"), Ok(2_592_000));
    for bad in ["", "d", "1", "1y", "-1d", "0s", "99999999999999999999d", "1.5d"] {
        assert!(secs(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn unpriced_models_follow_the_policy() {
    let store = InMemoryBudgetStore::new();
    store.set_budget(key("k"), Budget::new(NanoUsd::dollars(1)), SystemTime::now()).await.unwrap();
    let upstream = service_fn(|_req: LlmRequest| async {
        Ok::<_, LlmError>(LlmResponse::chat(chat_response(Usage::new(5, 5))))
    });
    let layer = BudgetLayer::new(store.clone(), PriceTable::builtin());
    let mut allow = layer.clone().layer(upstream);
    allow.ready().await.unwrap().call(request("my-private-model", "k", 10)).await.unwrap();
    let mut reject = layer.with_unpriced_policy(UnpricedPolicy::Reject).layer(upstream);
    let err = reject.ready().await.unwrap().call(request("my-private-model", "k", 10)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::BudgetExceeded);
    assert!(err.message().contains("my-private-model"), "{}", err.message());
}

fn stream_upstream(
    items: fn() -> Vec<Result<ChatChunk, LlmError>>,
) -> impl Service<LlmRequest, Response = LlmResponse, Error = LlmError, Future: Send> + Clone + Send + 'static
{
    service_fn(move |_req: LlmRequest| {
        let items = items();
        async move { Ok::<_, LlmError>(LlmResponse::chat_stream(Box::pin(futures_util::stream::iter(items)))) }
    })
}

async fn settle_tasks() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn streams_settle_when_they_end() {
    let store = InMemoryBudgetStore::new();
    store.set_budget(key("k"), Budget::new(NanoUsd::dollars(1)), SystemTime::now()).await.unwrap();
    let layer = BudgetLayer::new(store.clone(), PriceTable::builtin());

    // Completed with usage: the real cost.
    let mut svc = layer.clone().layer(stream_upstream(|| {
        let mut last = ChatChunk::new("c", "gpt-4o", 0);
        last.usage = Some(Box::new(Usage::new(8, 50)));
        vec![Ok(ChatChunk::new("c", "gpt-4o", 0)), Ok(last)]
    }));
    let resp = svc.ready().await.unwrap().call(request("gpt-4o", "k", 1_000)).await.unwrap();
    assert!(status(&store, &key("k")).await.reserved > NanoUsd::ZERO, "reserved while streaming");
    let _: Vec<_> = resp.into_chat_stream().unwrap().collect().await;
    settle_tasks().await;
    let s = status(&store, &key("k")).await;
    assert_eq!((s.spent.0, s.reserved.0), (8 * 2_500 + 50 * 10_000, 0));

    // Failed without usage: released.
    let mut svc =
        layer.clone().layer(stream_upstream(|| vec![Err(LlmError::new(ErrorKind::Transport, "reset"))]));
    let resp = svc.ready().await.unwrap().call(request("gpt-4o", "k", 1_000)).await.unwrap();
    let _: Vec<_> = resp.into_chat_stream().unwrap().collect().await;
    settle_tasks().await;
    let s = status(&store, &key("k")).await;
    assert_eq!((s.spent.0, s.reserved.0), (520_000, 0));

    // Abandoned without usage: charged the reservation (tokens may have been generated).
    let mut svc = layer.layer(stream_upstream(|| vec![Ok(ChatChunk::new("c", "gpt-4o", 0))]));
    let resp = svc.ready().await.unwrap().call(request("gpt-4o", "k", 1_000)).await.unwrap();
    drop(resp);
    settle_tasks().await;
    let s = status(&store, &key("k")).await;
    assert_eq!(s.reserved.0, 0);
    assert!(s.spent.0 >= 520_000 + 1_000 * 10_000);
}

#[tokio::test]
async fn unlimited_budgets_skip_the_estimate_and_still_count_spend() {
    let store = InMemoryBudgetStore::new();
    store.set_budget(key("free"), Budget::unlimited(), SystemTime::now()).await.unwrap();
    assert!(!store.limits_any(&[key("free"), key("unknown")]));
    let seen = Arc::new(Mutex::new(None));
    let upstream = {
        let (store, seen) = (store.clone(), Arc::clone(&seen));
        service_fn(move |_req: LlmRequest| {
            let (store, seen) = (store.clone(), Arc::clone(&seen));
            async move {
                *seen.lock().unwrap() = Some(status(&store, &key("free")).await.reserved);
                Ok::<_, LlmError>(LlmResponse::chat(chat_response(Usage::new(8, 100))))
            }
        })
    };
    // Nothing to check: no reservation, and an unpriced model is not refused even by `Reject`.
    let layer =
        BudgetLayer::new(store.clone(), PriceTable::builtin()).with_unpriced_policy(UnpricedPolicy::Reject);
    let mut svc = layer.layer(upstream);
    svc.ready().await.unwrap().call(request("gpt-4o", "free", 2_000)).await.unwrap();
    assert_eq!(seen.lock().unwrap().unwrap(), NanoUsd::ZERO);
    assert_eq!(status(&store, &key("free")).await.spent.0, 8 * 2_500 + 100 * 10_000);
    svc.ready().await.unwrap().call(request("my-private-model", "free", 10)).await.unwrap();
    // A limited scope among them brings the estimate back.
    store.set_budget(key("capped"), Budget::new(NanoUsd::dollars(1)), SystemTime::now()).await.unwrap();
    assert!(store.limits_any(&[key("free"), key("capped")]));
}
