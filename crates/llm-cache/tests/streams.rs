//! Streams: replay of stored responses, storing finished streams, never storing failed or cut
//! streams, and forwarding without delay.

mod common;

use std::time::Duration;

use common::{Upstream, chat, recorded_chunks, streamed, with_control};
use futures_util::{StreamExt, stream};
use llm_cache::{CacheLayer, CacheStatus, TokioClock};
use llm_core::{
    CacheControl, ChatChunk, ChatResponse, ErrorKind, LlmError, LlmResponse, Role, StreamAccumulator,
    collect_stream,
};
use tower::{Layer, ServiceExt};

/// A recorded stream with two parallel tool calls.
const TOOL_CALLS: &str = "f82268f2fefd5cfbc7eeb59c297688be2f6ca0849a6e4f17851b517310841d9b.sse";
/// A recorded stream with three choices (`n = 3`).
const THREE_CHOICES: &str = "a491adda08c3d4fde95f5b2ee3f60f7f745f1a56d82e62f58031cc2add502380.sse";

fn accumulate(chunks: &[ChatChunk]) -> ChatResponse {
    let mut acc = StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    acc.finish()
}

/// Streams `items` for streamed requests; answers non-streamed ones with "complete".
fn streaming_upstream(items: Vec<Result<ChatChunk, ErrorKind>>) -> Upstream {
    Upstream::new(move |req, _n| {
        let items = items.clone();
        async move {
            if !req.operation.is_stream() {
                return Ok(LlmResponse::chat(common::chat_response("complete")));
            }
            let items = items.into_iter().map(|i| i.map_err(|k| LlmError::new(k, "stream broke")));
            Ok(LlmResponse::chat_stream(Box::pin(stream::iter(items))))
        }
    })
}

fn ok_items(chunks: &[ChatChunk]) -> Vec<Result<ChatChunk, ErrorKind>> {
    chunks.iter().cloned().map(Ok).collect()
}

#[tokio::test(start_paused = true)]
async fn a_stored_response_is_replayed_to_a_streamed_request() {
    for file in [TOOL_CALLS, THREE_CHOICES] {
        let complete = accumulate(&recorded_chunks(file));
        let answer = complete.clone();
        let upstream = Upstream::new(move |_req, _n| {
            let answer = answer.clone();
            async move { Ok(LlmResponse::chat(answer)) }
        });
        let service = CacheLayer::new().layer(upstream.clone());
        service.clone().oneshot(chat("Weather?")).await.expect("stored");
        let replay = service.clone().oneshot(streamed("Weather?")).await.expect("hit");
        assert!(replay.metadata.cache_hit);
        let chunks: Vec<ChatChunk> =
            replay.into_chat_stream().expect("stream").map(|c| c.expect("chunk")).collect().await;
        assert_eq!(upstream.calls(), 1);
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant), "{file}: role first");
        let last = chunks.last().expect("chunks");
        assert!(last.choices.is_empty() && last.usage == complete.usage, "{file}: usage last");
        let finishes = chunks.iter().flat_map(|c| &c.choices).filter(|c| c.finish_reason.is_some()).count();
        assert_eq!(finishes, complete.choices.len(), "{file}: one finish chunk per choice");
        assert_eq!(accumulate(&chunks), complete, "{file}: replay rebuilds the same response");
    }
}

#[tokio::test(start_paused = true)]
async fn the_usage_chunk_is_left_out_when_the_request_declines_it() {
    let complete = accumulate(&recorded_chunks(TOOL_CALLS));
    let upstream = Upstream::new(move |_req, _n| {
        let answer = complete.clone();
        async move { Ok(LlmResponse::chat(answer)) }
    });
    let service = CacheLayer::new().layer(upstream);
    service.clone().oneshot(chat("Weather?")).await.expect("stored");
    let mut req = streamed("Weather?");
    if let llm_core::Operation::Chat(r) = &mut req.operation {
        r.stream_options =
            Some(serde_json::from_value(serde_json::json!({"include_usage": false})).expect("ok"));
    }
    let replay = service.clone().oneshot(req).await.expect("hit").into_chat_stream().expect("stream");
    let chunks: Vec<_> = replay.map(|c| c.expect("chunk")).collect().await;
    assert!(chunks.iter().all(|c| c.usage.is_none()));
}

#[tokio::test(start_paused = true)]
async fn a_finished_stream_is_stored_and_serves_both_kinds_of_request() {
    let recorded = recorded_chunks(TOOL_CALLS);
    let upstream = streaming_upstream(ok_items(&recorded));
    let cache = CacheLayer::new().with_clock(TokioClock::new());
    let service = cache.layer(upstream.clone());
    let first = service.clone().oneshot(streamed("Weather?")).await.expect("stream");
    assert_eq!(first.metadata.extensions.get::<CacheStatus>(), Some(&CacheStatus::Miss));
    let forwarded: Vec<_> =
        first.into_chat_stream().expect("stream").map(|c| c.expect("chunk")).collect().await;
    assert_eq!(forwarded, recorded, "every chunk forwarded unchanged");
    assert_eq!(cache.stats().stores, 1);

    let complete = service.clone().oneshot(chat("Weather?")).await.expect("hit");
    assert!(complete.metadata.cache_hit);
    assert_eq!(complete.into_chat().expect("chat"), accumulate(&recorded));
    let replay = service.clone().oneshot(streamed("Weather?")).await.expect("hit");
    assert!(replay.metadata.cache_hit);
    assert_eq!(
        collect_stream(replay.into_chat_stream().expect("stream")).await.expect("ok"),
        accumulate(&recorded)
    );
    assert_eq!(upstream.calls(), 1);
}

async fn drain(service: &llm_cache::CacheService<Upstream>) -> Vec<Result<ChatChunk, LlmError>> {
    let response = service.clone().oneshot(streamed("Weather?")).await.expect("stream");
    response.into_chat_stream().expect("stream").collect().await
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_midway_is_not_stored() {
    let recorded = recorded_chunks(TOOL_CALLS);
    let mut items = ok_items(&recorded[..3]);
    items.push(Err(ErrorKind::Transport));
    let upstream = streaming_upstream(items);
    let cache = CacheLayer::new();
    let service = cache.layer(upstream.clone());
    let got = drain(&service).await;
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].as_ref().expect_err("error item").kind(), &ErrorKind::Transport);
    let again = service.clone().oneshot(chat("Weather?")).await.expect("upstream");
    assert!(!again.metadata.cache_hit);
    assert_eq!(upstream.calls(), 2);
    let stats = cache.stats();
    assert_eq!((stats.stores, stats.streams_not_stored), (1, 1), "only the complete answer was stored");
}

#[tokio::test(start_paused = true)]
async fn a_stream_cut_off_before_its_finish_is_not_stored() {
    let recorded = recorded_chunks(TOOL_CALLS);
    let cut: Vec<_> =
        recorded.iter().filter(|c| c.choices.iter().all(|ch| ch.finish_reason.is_none())).cloned().collect();
    assert!(cut.len() < recorded.len());
    let upstream = streaming_upstream(ok_items(&cut));
    let cache = CacheLayer::new();
    let service = cache.layer(upstream.clone());
    assert!(drain(&service).await.iter().all(Result::is_ok));
    assert!(!drain(&service).await.is_empty());
    assert_eq!(upstream.calls(), 2, "nothing stored, so the second stream went upstream");
    assert_eq!((cache.stats().stores, cache.stats().streams_not_stored), (0, 2));
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_early_is_not_stored() {
    let recorded = recorded_chunks(TOOL_CALLS);
    let upstream = streaming_upstream(ok_items(&recorded));
    let cache = CacheLayer::new();
    let service = cache.layer(upstream.clone());
    let response = service.clone().oneshot(streamed("Weather?")).await.expect("stream");
    let mut stream = response.into_chat_stream().expect("stream");
    stream.next().await.expect("a chunk").expect("ok");
    stream.next().await.expect("a chunk").expect("ok");
    drop(stream);
    assert_eq!(cache.stats().streams_not_stored, 1);
    let again = service.clone().oneshot(chat("Weather?")).await.expect("upstream");
    assert!(!again.metadata.cache_hit);
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn no_store_applies_to_streams() {
    let upstream = streaming_upstream(ok_items(&recorded_chunks(TOOL_CALLS)));
    let cache = CacheLayer::new();
    let service = cache.layer(upstream.clone());
    let req = with_control(streamed("Weather?"), CacheControl { no_store: true, ..Default::default() });
    let got: Vec<_> =
        service.clone().oneshot(req).await.expect("ok").into_chat_stream().expect("s").collect().await;
    assert!(got.iter().all(Result::is_ok));
    assert_eq!(cache.stats().stores, 0);
}

#[tokio::test(start_paused = true)]
async fn chunks_are_forwarded_as_they_arrive() {
    let first = recorded_chunks(TOOL_CALLS)[0].clone();
    let upstream = Upstream::new(move |_req, _n| {
        let first = first.clone();
        async move {
            // One chunk, then nothing ever again.
            let s = stream::iter([Ok(first)]).chain(stream::pending());
            Ok(LlmResponse::chat_stream(Box::pin(s)))
        }
    });
    let service = CacheLayer::new().layer(upstream);
    let mut stream = service.oneshot(streamed("Weather?")).await.expect("ok").into_chat_stream().expect("s");
    let chunk = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
    assert!(matches!(chunk, Ok(Some(Ok(_)))), "the first chunk arrives before the stream ends");
    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next()).await.is_err(), "then it waits");
}

#[tokio::test(start_paused = true)]
async fn streamed_misses_are_not_coalesced() {
    let upstream = streaming_upstream(ok_items(&recorded_chunks(TOOL_CALLS)));
    let service = CacheLayer::new().layer(upstream.clone());
    let (a, b) = tokio::join!(
        service.clone().oneshot(streamed("Weather?")),
        service.clone().oneshot(streamed("Weather?"))
    );
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(upstream.calls(), 2);
}
