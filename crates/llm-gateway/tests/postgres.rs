//! Spend logs in the local PostgreSQL (127.0.0.1:5432, database `test`). Skipped with a message
//! when it is unreachable, unless `LLM_TEST_REQUIRE_SERVICES=1`.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use llm_core::testkit::{MockResponse, MockServer};
use llm_gateway::spend::{SpendFilter, SpendStore};
use serde_json::Value;

const BASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema, so parallel runs never share a table; `None` when PostgreSQL is absent.
async fn schema_url() -> Option<(String, tokio_postgres::Client)> {
    let connected = tokio_postgres::connect(BASE_URL, tokio_postgres::NoTls).await;
    let (client, conn) = match connected {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("PostgreSQL at {BASE_URL} is required: {e}");
            }
            println!("skipping: PostgreSQL at {BASE_URL} is unreachable: {e}");
            return None;
        }
    };
    tokio::spawn(conn);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("llm_gateway_test_{}_{nanos}", std::process::id());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    Some((format!("{BASE_URL}?options=-c%20search_path%3D{schema}"), client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_rows_land_in_postgres() {
    let Some((url, admin)) = schema_url().await else { return };
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "pg")));
    let yaml = config(&[("gpt-4o", &upstream.url())], "") + &format!("  database_url: \"{url}\"\n");
    let gw = TestGateway::start_with_db(&yaml, None).await;
    for _ in 0..3 {
        let mut body = chat_body("gpt-4o");
        body["metadata"] = serde_json::json!({"tags": ["batch"]});
        let resp = gw.post("/chat/completions", &body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    gw.gateway.spend_store().flush().await;
    let logs: Value = gw.get("/spend/logs?model=gpt-4o").send().await.unwrap().json().await.unwrap();
    assert_eq!(logs.as_array().unwrap().len(), 3);
    assert_eq!(logs[0]["prompt_tokens"], 1000);
    assert_eq!(logs[0]["tags"], serde_json::json!(["batch"]));
    let report: Value = gw.get("/spend/report?group_by=tag").send().await.unwrap().json().await.unwrap();
    assert_eq!(report[0]["group"], "batch");
    assert_eq!(report[0]["requests"], 3);
    assert!((report[0]["cost_usd"].as_f64().unwrap() - 3.0 * 0.0035).abs() < 1e-9);
    let ready = gw.get("/health/readiness").send().await.unwrap();
    assert_eq!(ready.status(), 200);
    gw.stop().await;

    // A second store on the same schema sees the rows (they are in the database, not memory).
    let store = SpendStore::connect_postgres(&url).await.unwrap();
    let rows =
        store.logs(SpendFilter { start: Some("2000-01-01".into()), ..Default::default() }).await.unwrap();
    assert_eq!(rows.len(), 3);
    let schema = url.rsplit("%3D").next().unwrap().to_owned();
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
