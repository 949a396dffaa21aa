//! Helpers shared by the integration tests.
#![allow(dead_code)]

use llm_core::testkit::MockResponse;
use serde_json::{Value, json};

/// The project every test uses.
pub(crate) const PROJECT: &str = "test-project";

/// A file under `tests/fixtures`.
pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The throwaway service-account key (see tests/fixtures/README.md), its `token_uri` set to
/// `token_uri`.
pub(crate) fn service_account_json(token_uri: &str) -> String {
    let text = std::fs::read_to_string(fixture("test-service-account.json")).expect("fixture key");
    let mut key: Value = serde_json::from_str(&text).expect("fixture key JSON");
    key["token_uri"] = json!(token_uri);
    key.to_string()
}

/// The key's private PEM text, to check it never leaks.
pub(crate) fn private_key_pem() -> String {
    std::fs::read_to_string(fixture("test-sa-key.pem")).expect("fixture PEM")
}

/// A successful token-endpoint answer.
pub(crate) fn token_answer(token: &str, expires_in: u64) -> MockResponse {
    MockResponse::json(200, json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}))
}
