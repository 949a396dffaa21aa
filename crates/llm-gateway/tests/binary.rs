//! Runs the real `llm-gateway` binary: start with a temp config, serve, SIGTERM with a request in
//! flight, check it finishes and the spend row reached the SQLite file.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_and_shuts_down_gracefully_on_sigterm() {
    serves_and_shuts_down_gracefully("2").await;
}

/// One worker thread: the single-threaded runtime serves, writes spend rows from its blocking
/// pool and shuts down the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_on_one_worker_thread_serves_and_shuts_down_gracefully() {
    serves_and_shuts_down_gracefully("1").await;
}

async fn serves_and_shuts_down_gracefully(worker_threads: &str) {
    let upstream = MockServer::start().await;
    upstream.push(
        MockResponse::json(200, openai_chat("gpt-4o", "slow answer")).with_delay(Duration::from_millis(500)),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("spend.db");
    let yaml = config(&[("gpt-4o", &upstream.url())], "")
        .replace(&format!("  master_key: {MASTER_KEY}\n"), "  master_key: os.environ/TEST_MASTER\n")
        + &format!("  database_url: {}\n", db.display());
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, yaml).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
        .args(["--config", config_path.to_str().unwrap(), "--port", "0", "--host", "127.0.0.1"])
        .args(["--worker-threads", worker_threads])
        .env("UPSTREAM_KEY", UPSTREAM_KEY)
        .env("TEST_MASTER", MASTER_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line.trim().strip_prefix("listening on ").map(str::to_owned)
    })
    .await
    .unwrap()
    .expect("the binary prints its address");
    let url = format!("http://{addr}");

    let health = reqwest::get(format!("{url}/health/liveliness")).await.unwrap();
    assert_eq!(health.status(), 200);
    check_listen_backlog(&addr);
    check_no_huge_pages(child.id());

    let pending = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .json(&chat_body("gpt-4o"))
            .send(),
    );
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "slow answer");
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit:?}");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let (count, model): (i64, String) = conn
        .query_row("SELECT COUNT(*), MAX(model_group) FROM spend_logs", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((count, model.as_str()), (1, "gpt-4o"));
}

#[test]
fn a_bad_config_fails_at_start_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      tpm: many\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
        .args(["--config", path.to_str().unwrap(), "--port", "0", "--db", ":memory:"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("line 5"), "{err}");
    assert!(err.contains("model_list[0].litellm_params.tpm"), "{err}");
}

/// The allocator must not ask for transparent huge pages: where the kernel grants them only on
/// request (`madvise`, the common default), each 2 MB page the allocator touches would count in
/// full in RSS.
fn check_no_huge_pages(pid: u32) {
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if !thp.contains("[madvise]") {
        println!("skipping the huge-page check: transparent huge pages are not in `madvise` mode");
        return;
    }
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let huge = rollup.lines().find(|l| l.starts_with("AnonHugePages:")).expect(&rollup);
    assert_eq!(huge.split_whitespace().nth(1), Some("0"), "{huge}");
}

/// A burst of connections must not overflow the accept queue: the listening socket's backlog
/// (`ss` shows it as Send-Q) is the kernel's maximum, not the standard library's 128.
fn check_listen_backlog(addr: &str) {
    let port = addr.rsplit(':').next().unwrap();
    let Ok(out) = Command::new("ss").args(["-ltnH", &format!("sport = :{port}")]).output() else {
        println!("skipping the backlog check: `ss` is not installed");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let backlog: u32 = text.split_whitespace().nth(2).and_then(|v| v.parse().ok()).expect(&text);
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4096);
    assert_eq!(backlog, somaxconn.min(4096), "listen backlog");
}
