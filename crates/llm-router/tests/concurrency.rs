//! 10,000 requests over 3 rate-limited deployments with injected failures: every request gets
//! exactly one answer (its own), and no deployment ever exceeds its rpm in any 60-second window.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use llm_core::{ChatMessage, ChatRequest, ErrorKind, LlmError, LlmRequest};
use llm_router::{Deployment, Router};
use tokio::time::Instant;
use tower::ServiceExt;

const REQUESTS: usize = 10_000;
const RPM: u32 = 600;

/// Echoes the request's text after 200 ms; calls 3 mod 7 fail with 503 and 5 mod 11 with a
/// connection error.
fn flaky_echo(successes: Arc<AtomicUsize>) -> Mock {
    mock(move |n, req: LlmRequest| {
        let successes = successes.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if n % 7 == 3 {
                return Err(LlmError::new(ErrorKind::ServiceUnavailable, "injected"));
            }
            if n % 11 == 5 {
                return Err(LlmError::new(ErrorKind::Transport, "injected"));
            }
            let llm_core::Operation::Chat(chat) = &req.operation else { unreachable!() };
            let text = chat.messages[0].content.as_ref().and_then(|c| c.text()).unwrap().into_owned();
            successes.fetch_add(1, Ordering::SeqCst);
            let mut resp = answer(req.operation.model(), "", None);
            if let llm_core::ResponseBody::Chat(r) = &mut resp.body {
                r.choices[0].message = ChatMessage::assistant(text);
            }
            Ok(resp)
        }
    })
}

fn max_in_any_minute(times: &[Instant]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= Duration::from_secs(60) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_requests_no_loss_no_duplicates_no_rpm_overrun() {
    let successes = Arc::new(AtomicUsize::new(0));
    let mocks: Vec<Mock> = (0..3).map(|_| flaky_echo(successes.clone())).collect();
    let mut builder = Router::builder().seed(2024).settings(settings(serde_json::json!({
        "routing_strategy": "least-busy",
        "num_retries": 8,
        "allowed_fails": 5,
        "cooldown_time": 2,
    })));
    for (i, m) in mocks.iter().enumerate() {
        builder =
            builder.deployment("m", Deployment::new(format!("d{i}"), "up", m.service.clone()).with_rpm(RPM));
    }
    let router = builder.build().unwrap();

    let handles: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let router = router.clone();
            tokio::spawn(async move {
                // 30 ms apart: 2000 rpm offered (more with retries) against 3 × 600 rpm, so the
                // limits bind and some requests must be turned away.
                tokio::time::sleep(Duration::from_millis(30 * i as u64)).await;
                let req =
                    LlmRequest::chat(ChatRequest::new("m", vec![ChatMessage::user(format!("req-{i}"))]));
                (i, router.oneshot(req).await)
            })
        })
        .collect();

    let mut answered = HashSet::new();
    let mut failed = Vec::new();
    for h in handles {
        let (i, result) = h.await.unwrap();
        match result {
            Ok(resp) => {
                assert!(resp.metadata.deployment_id.is_some());
                assert_eq!(resp.metadata.attempts.last().unwrap().error, None);
                let text = text_of(resp);
                assert_eq!(text, format!("req-{i}"), "request {i} got someone else's answer");
                assert!(answered.insert(i), "request {i} answered twice");
            }
            Err(e) => failed.push((i, e.kind().clone())),
        }
    }
    assert_eq!(answered.len() + failed.len(), REQUESTS, "lost requests");
    eprintln!("{} answered, {} failed", answered.len(), failed.len());
    // Only the router's own limits may turn requests away, and only with a typed 429.
    assert!(failed.iter().all(|(_, k)| matches!(k, ErrorKind::RateLimited { .. })), "{failed:?}");
    assert!(answered.len() > REQUESTS * 6 / 10);
    assert_eq!(successes.load(Ordering::SeqCst), answered.len(), "a deployment answer was lost or doubled");
    for (i, m) in mocks.iter().enumerate() {
        let peak = max_in_any_minute(&m.times());
        eprintln!("d{i}: {} calls, peak {peak} in a minute", m.count());
        assert!(peak >= RPM as usize * 9 / 10, "the limit never bound: d{i} peaked at {peak}");
        assert!(peak <= RPM as usize, "d{i} got {peak} requests within a minute");
        assert!(m.count() > REQUESTS / 6, "d{i} took only {} calls", m.count());
    }
    assert!(router.status("m").unwrap().iter().all(|s| s.in_flight == 0));
}
