//! Service-account authentication: the JWT assertion, the token exchange, caching, refresh
//! before expiry, single-flight refresh, failures, and redaction of secrets.

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{ChatMessage, ChatRequest, ErrorKind, LlmRequest};
use llm_provider_vertex::{ServiceAccountKey, Vertex};
use serde_json::{Value, json};
use tower::ServiceExt;

fn gemini_answer() -> MockResponse {
    MockResponse::json(
        200,
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}}),
    )
}

fn chat_request() -> LlmRequest {
    LlmRequest::chat(ChatRequest::new("vertex_ai/gemini-2.5-flash", vec![ChatMessage::user("hi")]))
}

struct Setup {
    tokens: MockServer,
    upstream: MockServer,
    vertex: Vertex,
}

async fn setup() -> Setup {
    let tokens = MockServer::start().await;
    let upstream = MockServer::start().await;
    upstream.set_default(gemini_answer());
    let vertex = Vertex::new()
        .with_project(support::PROJECT)
        .with_base_url(upstream.url())
        .with_service_account_json(&support::service_account_json(&format!("{}/token", tokens.url())))
        .unwrap();
    Setup { tokens, upstream, vertex }
}

fn bearer(upstream: &MockServer, i: usize) -> String {
    upstream.requests()[i].header("authorization").unwrap_or_default().to_owned()
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url part")).expect("JSON part")
}

/// Checks the form body of a token request and returns the JWT header and claims.
fn check_assertion(body: &[u8]) -> (Value, Value) {
    let body = std::str::from_utf8(body).unwrap();
    let (grant, assertion) = body.split_once('&').unwrap();
    assert_eq!(grant, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
    let jwt = assertion.strip_prefix("assertion=").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    // The public key comes from OpenSSL, not from the crate under test.
    let public_der = std::fs::read(support::fixture("test-sa-public-key.der")).unwrap();
    let public =
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_der);
    let signed = format!("{}.{}", parts[0], parts[1]);
    public.verify(signed.as_bytes(), &signature).expect("the RS256 signature verifies with the public key");
    let mut tampered = signature.clone();
    tampered[0] ^= 1;
    assert!(public.verify(signed.as_bytes(), &tampered).is_err(), "verification can fail");
    (decode_part(parts[0]), decode_part(parts[1]))
}

#[tokio::test]
async fn the_jwt_assertion_is_signed_and_exchanged_for_a_token() {
    let s = setup().await;
    s.tokens.push(support::token_answer("ya29.first", 3600));
    s.vertex.into_service().oneshot(chat_request()).await.unwrap();
    let seen = s.tokens.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/token");
    assert_eq!(seen[0].header("content-type"), Some("application/x-www-form-urlencoded"));
    let (header, claims) = check_assertion(&seen[0].body);
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-id-0001"}));
    assert_eq!(claims["iss"], "vertex-test@test-project.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/cloud-platform");
    assert_eq!(claims["aud"], format!("{}/token", s.tokens.url()));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(iat.abs_diff(now) < 60, "iat {iat} is now");
    assert_eq!(bearer(&s.upstream, 0), "Bearer ya29.first");
}

#[tokio::test]
async fn the_token_url_override_keeps_the_key_audience() {
    let tokens = MockServer::start().await;
    tokens.push(support::token_answer("ya29.proxied", 3600));
    let upstream = MockServer::start().await;
    upstream.push(gemini_answer());
    let key = ServiceAccountKey::from_file(support::fixture("test-service-account.json")).unwrap();
    assert_eq!(key.project_id(), Some("test-project"));
    // No project in code: the key's project_id is used. The key's token_uri is Google's; the
    // override sends the exchange to the mock instead.
    let vertex = Vertex::new()
        .with_service_account(key)
        .with_token_url(format!("{}/oauth/token", tokens.url()))
        .with_base_url(upstream.url());
    vertex.into_service().oneshot(chat_request()).await.unwrap();
    let seen = tokens.requests();
    assert_eq!(seen[0].path, "/oauth/token");
    let (_, claims) = check_assertion(&seen[0].body);
    assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
    assert!(upstream.requests()[0].path.starts_with("/v1/projects/test-project/locations/us-central1/"));
    assert_eq!(bearer(&upstream, 0), "Bearer ya29.proxied");
}

#[tokio::test]
async fn tokens_are_cached_and_refreshed_five_minutes_before_expiry() {
    let s = setup().await;
    s.tokens.push(support::token_answer("ya29.first", 3600));
    s.tokens.push(support::token_answer("ya29.second", 3600));
    let svc = s.vertex.into_service();
    svc.clone().oneshot(chat_request()).await.unwrap();
    svc.clone().oneshot(chat_request()).await.unwrap();
    assert_eq!(s.tokens.request_count(), 1, "the second call reuses the cached token");

    // Tokio's clock is moved by hand: just short of `expires_in - 5 min`, the token is kept...
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3600 - 300 - 5)).await;
    tokio::time::resume();
    svc.clone().oneshot(chat_request()).await.unwrap();
    assert_eq!(s.tokens.request_count(), 1);
    assert_eq!(bearer(&s.upstream, 2), "Bearer ya29.first");

    // ...and just past it, replaced before it expires.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(10)).await;
    tokio::time::resume();
    svc.clone().oneshot(chat_request()).await.unwrap();
    assert_eq!(s.tokens.request_count(), 2);
    assert_eq!(bearer(&s.upstream, 3), "Bearer ya29.second");
    svc.oneshot(chat_request()).await.unwrap();
    assert_eq!(s.tokens.request_count(), 2);
}

#[tokio::test]
async fn concurrent_requests_share_one_token_exchange() {
    let s = setup().await;
    s.tokens.push(support::token_answer("ya29.shared", 3600).with_delay(Duration::from_millis(100)));
    s.tokens.set_default(support::token_answer("ya29.extra", 3600));
    let svc = s.vertex.into_service();
    let calls = (0..8).map(|_| svc.clone().oneshot(chat_request()));
    for result in futures_util::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(s.tokens.request_count(), 1);
    assert_eq!(s.upstream.request_count(), 8);
    for i in 0..8 {
        assert_eq!(bearer(&s.upstream, i), "Bearer ya29.shared");
    }
}

#[tokio::test]
async fn a_rejected_exchange_is_an_authentication_error_without_secrets() {
    let s = setup().await;
    s.tokens.push(MockResponse::json(
        400,
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
    ));
    let err = s.vertex.into_service().oneshot(chat_request()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    assert!(err.message().contains("invalid_grant: Invalid JWT Signature."), "{}", err.message());
    assert_eq!(s.upstream.request_count(), 0, "no upstream call without a token");
    let assertion = String::from_utf8(s.tokens.requests()[0].body.to_vec()).unwrap();
    let jwt = assertion.rsplit('=').next().unwrap();
    let pem = support::private_key_pem();
    let key_line = pem.lines().nth(1).unwrap();
    for shown in [err.to_string(), format!("{err:?}"), serde_json::to_string(&err.to_openai_body()).unwrap()]
    {
        assert!(!shown.contains(jwt) && !shown.contains(key_line), "{shown}");
    }
}

#[tokio::test]
async fn token_endpoint_failures_keep_their_kinds() {
    for (answer, want) in [
        (MockResponse::json(503, json!({"error": "backend_error"})), ErrorKind::ServiceUnavailable),
        (MockResponse::json(200, json!({"token_type": "Bearer"})), ErrorKind::Authentication),
        (MockResponse::bytes(200, "<html>"), ErrorKind::Authentication),
        (MockResponse::reset(), ErrorKind::Transport),
    ] {
        let s = setup().await;
        s.tokens.push(answer);
        let err = s.vertex.into_service().oneshot(chat_request()).await.unwrap_err();
        assert_eq!(*err.kind(), want, "{err:?}");
        assert_eq!(s.upstream.request_count(), 0);
    }
}

#[tokio::test]
async fn an_upstream_401_drops_the_cached_token() {
    let s = setup().await;
    s.tokens.push(support::token_answer("ya29.revoked", 3600));
    s.tokens.push(support::token_answer("ya29.renewed", 3600));
    s.upstream.push(MockResponse::json(
        401,
        json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
    ));
    let svc = s.vertex.into_service();
    let err = svc.clone().oneshot(chat_request()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    svc.oneshot(chat_request()).await.unwrap();
    assert_eq!(s.tokens.request_count(), 2);
    assert_eq!(bearer(&s.upstream, 1), "Bearer ya29.renewed");
}

#[tokio::test]
async fn missing_credentials_fail_before_any_request() {
    let upstream = MockServer::start().await;
    let vertex = Vertex::new().with_project("p").with_base_url(upstream.url());
    let err = vertex.into_service().oneshot(chat_request()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn debug_output_and_errors_never_show_keys_or_tokens() {
    let pem = support::private_key_pem();
    let key_lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key =
        ServiceAccountKey::from_json(&support::service_account_json("https://oauth2.googleapis.com/token"))
            .unwrap();
    let with_key = Vertex::new().with_service_account(key.clone());
    for shown in [format!("{key:?}"), format!("{with_key:?}"), format!("{with_key:#?}")] {
        assert!(shown.contains("vertex-test@test-project.iam.gserviceaccount.com"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(key_lines.iter().all(|l| !shown.contains(l)), "{shown}");
    }

    let token = "ya29.a0AfH6SMBxSECRETxTOKEN";
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(
        401,
        json!({"error": {"code": 401, "message": format!("Token {token} is invalid"), "status": "UNAUTHENTICATED"}}),
    ));
    let vertex = Vertex::new().with_project("p").with_base_url(upstream.url()).with_access_token(token);
    assert!(!format!("{vertex:?}").contains(token));
    let err = vertex.into_service().oneshot(chat_request()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    assert_eq!(bearer(&upstream, 0), format!("Bearer {token}"));
    for shown in [err.to_string(), format!("{err:?}"), serde_json::to_string(&err.to_openai_body()).unwrap()]
    {
        assert!(!shown.contains(token), "{shown}");
    }
}

#[tokio::test]
async fn google_application_credentials_is_read_from_the_lookup() {
    let path = support::fixture("test-service-account.json");
    let env = |name: &str| match name {
        "GOOGLE_APPLICATION_CREDENTIALS" => Some(path.display().to_string()),
        "VERTEXAI_LOCATION" => Some("global".to_owned()),
        _ => None,
    };
    let vertex = Vertex::from_lookup(env).unwrap();
    assert_eq!(
        vertex.model_url("vertex_ai/gemini-2.5-pro", false).unwrap(),
        "https://aiplatform.googleapis.com/v1/projects/test-project/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    let bad = |name: &str| {
        (name == "GOOGLE_APPLICATION_CREDENTIALS")
            .then(|| support::fixture("README.md").display().to_string())
    };
    assert!(Vertex::from_lookup(bad).is_err());
}

#[tokio::test]
async fn authorized_user_credentials_trade_their_refresh_token() {
    let tokens = MockServer::start().await;
    tokens.push(support::token_answer("ya29.user", 3600));
    let upstream = MockServer::start().await;
    upstream.set_default(gemini_answer());
    let json = json!({"type": "authorized_user", "client_id": "123.apps.googleusercontent.com",
        "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//0gTESTrefresh+token",
        "quota_project_id": "billing-project", "token_uri": format!("{}/token", tokens.url())});
    let credentials = llm_provider_vertex::GoogleCredentials::from_json(&json.to_string()).unwrap();
    let vertex = Vertex::new().with_project("p").with_base_url(upstream.url()).with_credentials(credentials);
    let shown = format!("{vertex:?}");
    assert!(!shown.contains("d-FL95Q19q7MQmFpd7hHD0Ty") && !shown.contains("TESTrefresh"), "{shown}");
    let svc = vertex.into_service();
    svc.clone().oneshot(chat_request()).await.unwrap();
    svc.oneshot(chat_request()).await.unwrap();
    let seen = tokens.requests();
    assert_eq!(seen.len(), 1, "the token is cached");
    assert_eq!(
        std::str::from_utf8(&seen[0].body).unwrap(),
        "grant_type=refresh_token&client_id=123.apps.googleusercontent.com\
         &client_secret=d-FL95Q19q7MQmFpd7hHD0Ty&refresh_token=1%2F%2F0gTESTrefresh%2Btoken"
    );
    for r in upstream.requests() {
        assert_eq!(r.header("authorization"), Some("Bearer ya29.user"));
        assert_eq!(r.header("x-goog-user-project"), Some("billing-project"));
    }
}

#[tokio::test]
async fn a_rejected_refresh_token_is_an_authentication_error_without_it() {
    let tokens = MockServer::start().await;
    let refresh = "1//0gREVOKEDrefreshTOKEN";
    tokens.push(MockResponse::json(
        400,
        json!({"error": "invalid_grant", "error_description": format!("Token has been expired or revoked: {refresh}")}),
    ));
    let json = json!({"type": "authorized_user", "client_id": "c", "client_secret": "s",
        "refresh_token": refresh, "token_uri": format!("{}/token", tokens.url())});
    let vertex = Vertex::new()
        .with_project("p")
        .with_base_url("http://127.0.0.1:9")
        .with_credentials(llm_provider_vertex::GoogleCredentials::from_json(&json.to_string()).unwrap());
    let err = vertex.into_service().oneshot(chat_request()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    assert!(err.message().contains("expired or revoked"), "{}", err.message());
    assert!(!err.to_string().contains(refresh) && !format!("{err:?}").contains(refresh));
}
