//! Redis backend tests against the Redis on 127.0.0.1:6379: skipped with a message when it is not
//! there, failing instead when `LLM_TEST_REQUIRE_SERVICES=1`. Each test uses its own key prefix
//! and deletes its keys at the end.
#![cfg(feature = "redis")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Upstream, chat, text, with_control};
use llm_cache::{BackendError, CacheLayer, MemoryBackend, RedisBackend, TieredBackend};
use llm_core::CacheControl;
use redis::AsyncCommands;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower::{Layer, ServiceExt};

const REDIS_ADDR: &str = "127.0.0.1:6379";
const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// `true` when Redis is reachable; otherwise prints why the test is skipped (or panics when
/// services are required).
async fn redis_available() -> bool {
    if TcpStream::connect(REDIS_ADDR).await.is_ok() {
        return true;
    }
    assert!(
        std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "Redis is required (LLM_TEST_REQUIRE_SERVICES=1) but {REDIS_ADDR} is not reachable"
    );
    eprintln!(
        "SKIPPED: Redis is not reachable on {REDIS_ADDR}; set LLM_TEST_REQUIRE_SERVICES=1 to require it"
    );
    false
}

fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("llm-cache-test:{}:{nanos}:{test}:", std::process::id())
}

async fn direct() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_URL).expect("url").get_multiplexed_async_connection().await.expect("connect")
}

async fn keys_under(prefix: &str) -> Vec<String> {
    // Test prefixes hold a handful of keys, so KEYS is fine here.
    redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut direct().await).await.expect("keys")
}

async fn clean_up(prefix: &str) {
    let keys = keys_under(prefix).await;
    if !keys.is_empty() {
        let _: () = direct().await.del(keys).await.expect("del");
    }
    assert!(keys_under(prefix).await.is_empty());
}

async fn backend(url: &str, prefix: &str) -> RedisBackend {
    RedisBackend::connect(url)
        .await
        .expect("connect")
        .with_prefix(prefix)
        .with_timeout(Duration::from_millis(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_entries_through_redis() {
    if !redis_available().await {
        return;
    }
    let prefix = unique_prefix("share");
    let upstream = Upstream::numbered(Duration::ZERO);
    let replica1 = CacheLayer::with_backend(backend(REDIS_URL, &prefix).await);
    let replica2 = CacheLayer::with_backend(backend(REDIS_URL, &prefix).await);
    let s1 = replica1.layer(upstream.clone());
    let s2 = replica2.layer(upstream.clone());
    let short =
        with_control(chat("Hi"), CacheControl { ttl: Some(Duration::from_secs(90)), ..Default::default() });
    assert_eq!(text(s1.oneshot(short).await.expect("ok")), "answer 1");
    let hit = s2.clone().oneshot(chat("Hi")).await.expect("ok");
    assert!(hit.metadata.cache_hit);
    assert_eq!(text(hit), "answer 1");
    assert_eq!(upstream.calls(), 1);

    // One key, stored as JSON with its insertion time, expiring with the request's ttl.
    let keys = keys_under(&prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mut conn = direct().await;
    let ttl_ms: i64 = conn.pttl(&keys[0]).await.expect("pttl");
    assert!((80_000..=90_000).contains(&ttl_ms), "{ttl_ms}");
    let raw: String = conn.get(&keys[0]).await.expect("get");
    let value: serde_json::Value = serde_json::from_str(&raw).expect("json");
    assert!(value["stored_at_ms"].as_u64().is_some_and(|t| t > 1_700_000_000_000), "{value}");
    assert_eq!(value["body"]["type"], "chat");
    clean_up(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_entry_is_counted_and_bypassed() {
    if !redis_available().await {
        return;
    }
    let prefix = unique_prefix("corrupt");
    let upstream = Upstream::numbered(Duration::ZERO);
    let cache = CacheLayer::with_backend(backend(REDIS_URL, &prefix).await);
    let service = cache.layer(upstream.clone());
    service.clone().oneshot(chat("Hi")).await.expect("ok");
    let keys = keys_under(&prefix).await;
    let _: () = direct().await.set(&keys[0], "{not an entry").await.expect("set");
    let answer = service.clone().oneshot(chat("Hi")).await.expect("still answered");
    assert!(!answer.metadata.cache_hit);
    assert_eq!(cache.stats().backend_errors, 1);
    // The fresh answer overwrote the corrupt value.
    assert!(service.clone().oneshot(chat("Hi")).await.expect("ok").metadata.cache_hit);
    clean_up(&prefix).await;
}

/// A TCP proxy to Redis that can stall (swallow every command, answer nothing) or be killed
/// (closing every connection through it).
struct Proxy {
    port: u16,
    stalled: Arc<AtomicBool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

async fn pipe(mut client: TcpStream, stalled: Arc<AtomicBool>) {
    let Ok(mut server) = TcpStream::connect(REDIS_ADDR).await else { return };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let (mut up, mut down) = ([0u8; 16 * 1024], [0u8; 16 * 1024]);
    loop {
        tokio::select! {
            n = client_read.read(&mut up) => {
                let Ok(n @ 1..) = n else { return };
                if !stalled.load(Ordering::SeqCst) && server_write.write_all(&up[..n]).await.is_err() {
                    return;
                }
            }
            n = server_read.read(&mut down) => {
                let Ok(n @ 1..) = n else { return };
                if client_write.write_all(&down[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl Proxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stalled = Arc::new(AtomicBool::new(false));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let (conns, flag) = (tasks.clone(), stalled.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let task = tokio::spawn(pipe(client, flag.clone()));
                conns.lock().expect("lock").push(task);
            }
        });
        Self { port, stalled, tasks, accept }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    async fn kill(self) {
        self.accept.abort();
        let _ = self.accept.await;
        let tasks: Vec<_> = self.tasks.lock().expect("lock").drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_times_out_and_requests_go_upstream() {
    if !redis_available().await {
        return;
    }
    let prefix = unique_prefix("stall");
    let proxy = Proxy::start().await;
    let upstream = Upstream::numbered(Duration::ZERO);
    let cache = CacheLayer::with_backend(backend(&proxy.url(), &prefix).await);
    let service = cache.layer(upstream.clone());
    service.clone().oneshot(chat("Hi")).await.expect("ok");
    assert!(service.clone().oneshot(chat("Hi")).await.expect("ok").metadata.cache_hit);
    proxy.stall();
    let started = tokio::time::Instant::now();
    let answer = service.clone().oneshot(chat("Hi")).await.expect("answered without Redis");
    assert!(!answer.metadata.cache_hit);
    assert_eq!(text(answer), "answer 2");
    // One read and one write timed out (300 ms each).
    assert_eq!(cache.stats().backend_errors, 2, "{:?}", cache.stats());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    proxy.kill().await;
    clean_up(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_never_fails_a_request() {
    if !redis_available().await {
        return;
    }
    let prefix = unique_prefix("away");
    let proxy = Proxy::start().await;
    let upstream = Upstream::numbered(Duration::ZERO);
    let remote_only = CacheLayer::with_backend(backend(&proxy.url(), &prefix).await);
    let tiered_backend = TieredBackend::new(MemoryBackend::default(), backend(&proxy.url(), &prefix).await);
    let tiered = CacheLayer::with_backend(tiered_backend);
    let plain = remote_only.layer(upstream.clone());
    let two_level = tiered.layer(upstream.clone());

    assert_eq!(text(plain.clone().oneshot(chat("Hi")).await.expect("ok")), "answer 1");
    assert!(plain.clone().oneshot(chat("Hi")).await.expect("ok").metadata.cache_hit);
    assert!(two_level.clone().oneshot(chat("Hi")).await.expect("ok").metadata.cache_hit, "filled memory");
    assert_eq!(remote_only.stats().backend_errors, 0);

    proxy.kill().await;
    let started = tokio::time::Instant::now();
    // Redis-only: every read and write fails; requests go upstream and succeed.
    let answer = plain.clone().oneshot(chat("Hi")).await.expect("answered without Redis");
    assert!(!answer.metadata.cache_hit);
    assert_eq!(text(answer), "answer 2");
    assert_eq!(text(plain.clone().oneshot(chat("Other")).await.expect("ok")), "answer 3");
    let stats = remote_only.stats();
    assert_eq!(stats.backend_errors, 4, "{stats:?}");
    // Two-level: memory still serves what it holds.
    assert!(two_level.clone().oneshot(chat("Hi")).await.expect("ok").metadata.cache_hit);
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by the backend timeout");
    clean_up(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_an_absent_redis_fails_fast_without_leaking_the_password() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let url = format!("redis://user:hunter2secret@127.0.0.1:{port}/0");
    let error = RedisBackend::connect(&url).await.expect_err("nothing listens there");
    assert!(matches!(error, BackendError::Unavailable(_) | BackendError::Timeout(_)), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("hunter2secret"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_of_the_backend_has_no_url() {
    if !redis_available().await {
        return;
    }
    let backend = RedisBackend::connect(REDIS_URL).await.expect("connect").with_prefix("p:");
    let shown = format!("{backend:?}");
    assert!(shown.contains("p:") && !shown.contains("6379"), "{shown}");
}
