//! What an open client connection costs the gateway in heap: counted by a global allocator that
//! tracks live bytes. Each idle keep-alive connection must stay small; serving axum's `Router`
//! directly rebuilt every route per connection (25 KB each).

mod common;

use std::alloc::System;
use std::io::{Read, Write};

use cap::Cap;
use common::TestGateway;

/// Counts live heap bytes.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const CONFIG: &str = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: http://127.0.0.1:9/v1\n      api_key: sk-x\n";

/// Opens `n` connections, each answering one request and then left open (keep-alive).
fn open_idle_connections(addr: &str, n: usize) -> Vec<std::net::TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /health/liveliness HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let mut got = Vec::new();
        while !got.ends_with(b"I'm alive!") {
            let read = c.read(&mut buf).unwrap();
            assert!(read > 0, "connection closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..read]);
        }
        conns.push(c);
    }
    conns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_holds_little_heap() {
    let gw = TestGateway::start(CONFIG).await;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    // Warm up: first-connection allocations (buffers, pools) are not per connection.
    let warm = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || open_idle_connections(&addr, 8)
    })
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    const N: usize = 200;
    let before = ALLOCATOR.allocated() as isize;
    let conns = tokio::task::spawn_blocking(move || open_idle_connections(&addr, N)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let per_connection = (ALLOCATOR.allocated() as isize - before) / N as isize;
    drop(conns);
    drop(warm);
    eprintln!("live heap per idle connection: {per_connection} bytes");
    // About 28 KB (hyper's buffers, the connection task, axum's service); rebuilding the router
    // per connection made it about 54 KB.
    assert!(per_connection < 40_000, "an idle connection holds {per_connection} bytes of heap");
    gw.stop().await;
}
