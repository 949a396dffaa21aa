//! The HTTP shell against a mock upstream: signing and API-key auth on the wire, mid-stream
//! exceptions, guardrails, broken streams, embeddings, deadlines and secret hygiene.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{EVENTSTREAM, credentials, event, provider, stream_response};
use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{
    ChatMessage, ChatRequest, EmbeddingInput, EmbeddingRequest, EmbeddingVector, EncodingFormat, ErrorKind,
    LlmError, LlmRequest, RequestContext,
};
use llm_provider_bedrock::eventstream::Frame;
use llm_provider_bedrock::sigv4::{SigningRequest, sign};
use llm_provider_bedrock::{AwsCredentials, Bedrock, BedrockConfig};
use serde_json::json;
use tower::ServiceExt;

const MODEL: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn text_body(text: &str) -> serde_json::Value {
    json!({"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
           "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}})
}

fn chat(stream: bool) -> LlmRequest {
    LlmRequest::chat(ChatRequest::new(MODEL, vec![ChatMessage::user("hi")]).with_stream(stream))
}

async fn stream_items(server: &MockServer, bedrock: Bedrock) -> Vec<Result<llm_core::ChatChunk, LlmError>> {
    let _ = server;
    let stream = bedrock.into_service().oneshot(chat(true)).await.unwrap().into_chat_stream().unwrap();
    tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>()).await.expect("the stream ends")
}

#[tokio::test]
async fn requests_are_signed_with_sigv4_over_the_encoded_path() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(200, text_body("ok")));
    let creds = credentials().with_session_token("session-token-value");
    let bedrock = Bedrock::new(
        BedrockConfig::new()
            .with_region("eu-west-3")
            .with_endpoint(server.url())
            .with_credentials(creds.clone()),
    )
    .unwrap()
    .with_clock(fixed_time);
    let res = bedrock.into_service().oneshot(chat(false)).await.unwrap().into_chat().unwrap();
    assert_eq!(res.text().as_deref(), Some("ok"));

    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse");
    assert_eq!(req.header("x-amz-date"), Some("20231114T221320Z"));
    assert_eq!(req.header("x-amz-security-token"), Some("session-token-value"));
    let host = server.url().trim_start_matches("http://").to_owned();
    let expected = sign(
        &SigningRequest {
            method: "POST",
            host: &host,
            path: &req.path,
            query: "",
            headers: &[("content-type", "application/json")],
            body: &req.body,
        },
        &creds,
        "eu-west-3",
        "bedrock",
        fixed_time(),
    );
    assert_eq!(req.header("authorization"), Some(expected.authorization.as_str()));
    assert!(expected.authorization.contains("/20231114/eu-west-3/bedrock/aws4_request"));
    assert!(
        expected.authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token")
    );
    assert_eq!(req.json()["messages"], json!([{"role": "user", "content": [{"text": "hi"}]}]));
}

#[tokio::test]
async fn api_keys_are_sent_as_bearer_tokens_and_never_shown() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(200, text_body("ok")));
    let env = |name: &str| match name {
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_BEARER_TOKEN_BEDROCK" => Some("ABSKbedrockkey123".to_owned()),
        _ => None,
    };
    let bedrock = Bedrock::new(BedrockConfig::from_lookup(env).with_endpoint(server.url())).unwrap();
    assert!(!format!("{bedrock:?}").contains("ABSKbedrockkey123"));
    bedrock.into_service().oneshot(chat(false)).await.unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.header("authorization"), Some("Bearer ABSKbedrockkey123"));
    assert_eq!(req.header("x-amz-date"), None);
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() {
    let server = MockServer::start().await;
    server.push(
        MockResponse::json(403, json!({"message": "The security token included in the request is invalid."}))
            .with_header("x-amzn-errortype", "UnrecognizedClientException:http://internal.amazon.com/coral/"),
    );
    let bedrock = provider(&server.url());
    let debug = format!("{bedrock:?}");
    assert!(!debug.contains("wJalrXUtnFEMI") && debug.contains("[redacted]"), "{debug}");
    let err = bedrock.into_service().oneshot(chat(false)).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
}

#[tokio::test]
async fn missing_configuration_is_a_typed_error() {
    let err = Bedrock::new(BedrockConfig::new().with_region("us-east-1")).unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Authentication);
    let err = Bedrock::new(BedrockConfig::new().with_credentials(credentials())).unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::BadRequest);
}

#[tokio::test]
async fn a_mid_stream_exception_is_an_error_item_after_the_text() {
    let server = MockServer::start().await;
    server.push(stream_response(&[
        event("messageStart", json!({"role": "assistant"})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}})),
        Frame::exception("throttlingException", br#"{"message":"Too many tokens, please wait."}"#.to_vec()),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "never"}})),
    ]));
    let items = stream_items(&server, provider(&server.url())).await;
    let texts: Vec<_> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .filter_map(|c| c.choices.first()?.delta.content.clone())
        .collect();
    assert_eq!(texts, ["Hel"]);
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::RateLimited { retry_after: None });
    assert_eq!(err.message(), "Too many tokens, please wait.");
}

#[tokio::test]
async fn guardrail_interventions_without_output_are_content_policy_errors() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(
        200,
        json!({"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "guardrail_intervened",
               "usage": {"inputTokens": 3, "outputTokens": 0, "totalTokens": 3}}),
    ));
    let err = provider(&server.url()).into_service().oneshot(chat(false)).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::ContentPolicy);

    // With output, the answer is kept and marked content_filter.
    let server = MockServer::start().await;
    let mut body = text_body("Sorry, I can't help with that.");
    body["stopReason"] = json!("guardrail_intervened");
    server.push(MockResponse::json(200, body));
    let res = provider(&server.url()).into_service().oneshot(chat(false)).await.unwrap().into_chat().unwrap();
    assert_eq!(res.choices[0].finish_reason, Some(llm_core::FinishReason::ContentFilter));

    let server = MockServer::start().await;
    server.push(stream_response(&[
        event("messageStart", json!({"role": "assistant"})),
        event("messageStop", json!({"stopReason": "guardrail_intervened"})),
        event("metadata", json!({"usage": {"inputTokens": 3, "outputTokens": 0, "totalTokens": 3}})),
    ]));
    let items = stream_items(&server, provider(&server.url())).await;
    assert_eq!(*items.last().unwrap().as_ref().unwrap_err().kind(), ErrorKind::ContentPolicy);
}

#[tokio::test]
async fn broken_streams_end_with_error_items() {
    // A clean end before messageStop.
    let server = MockServer::start().await;
    server.push(stream_response(&[
        event("messageStart", json!({"role": "assistant"})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}})),
    ]));
    let items = stream_items(&server, provider(&server.url())).await;
    assert_eq!(*items.last().unwrap().as_ref().unwrap_err().kind(), ErrorKind::Transport);

    // A frame with a bad CRC.
    let server = MockServer::start().await;
    let mut bad = event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}))
        .encode()
        .to_vec();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    server.push(
        MockResponse::sse(vec![(Duration::ZERO, Bytes::from(bad))]).with_header("content-type", EVENTSTREAM),
    );
    let items = stream_items(&server, provider(&server.url())).await;
    assert_eq!(items.len(), 1);
    assert_eq!(*items[0].as_ref().unwrap_err().kind(), ErrorKind::Decode);

    // Half a frame, then the end.
    let server = MockServer::start().await;
    let whole = event("messageStop", json!({"stopReason": "end_turn"})).encode();
    server.push(
        MockResponse::sse(vec![(Duration::ZERO, whole.slice(..10))]).with_header("content-type", EVENTSTREAM),
    );
    let items = stream_items(&server, provider(&server.url())).await;
    assert_eq!(*items.last().unwrap().as_ref().unwrap_err().kind(), ErrorKind::Decode);

    // Bad JSON inside a valid frame.
    let server = MockServer::start().await;
    server.push(stream_response(&[Frame::event("contentBlockDelta", b"{nope".to_vec())]));
    let items = stream_items(&server, provider(&server.url())).await;
    assert_eq!(*items.last().unwrap().as_ref().unwrap_err().kind(), ErrorKind::Decode);
}

#[tokio::test]
async fn usage_with_cache_tokens_is_normalised_in_streams() {
    let server = MockServer::start().await;
    server.push(stream_response(&[
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "ok"}})),
        event("messageStop", json!({"stopReason": "max_tokens"})),
        event(
            "metadata",
            json!({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 315,
            "cacheReadInputTokens": 200, "cacheWriteInputTokens": 100}}),
        ),
    ]));
    let stream =
        provider(&server.url()).into_service().oneshot(chat(true)).await.unwrap().into_chat_stream().unwrap();
    let res = llm_core::collect_stream(stream).await.unwrap();
    let usage = res.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (310, 5, 315));
    assert_eq!((usage.cached_tokens(), usage.cache_creation_tokens()), (200, 100));
    assert_eq!(res.choices[0].finish_reason, Some(llm_core::FinishReason::Length));
}

#[tokio::test]
async fn titan_embeddings_take_one_call_per_input() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(200, json!({"embedding": [0.1, 0.2], "inputTextTokenCount": 3})));
    server.push(MockResponse::json(200, json!({"embedding": [0.3, 0.4], "inputTextTokenCount": 4})));
    let mut req = EmbeddingRequest::new(
        "amazon.titan-embed-text-v2:0",
        EmbeddingInput::Texts(vec!["a".into(), "b".into()]),
    );
    req.dimensions = Some(256);
    let res = provider(&server.url())
        .into_service()
        .oneshot(LlmRequest::embedding(req))
        .await
        .unwrap()
        .into_embedding()
        .unwrap();
    assert_eq!(res.data.len(), 2);
    assert_eq!(res.data[1].embedding, EmbeddingVector::Float(vec![0.3, 0.4]));
    assert_eq!(res.data[1].index, 1);
    assert_eq!((res.usage.prompt_tokens, res.usage.total_tokens), (7, 7));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_eq!(reqs[0].json(), json!({"inputText": "a", "dimensions": 256, "normalize": true}));
    assert_eq!(reqs[1].json()["inputText"], "b");
}

#[tokio::test]
async fn cohere_embeddings_take_one_call_and_can_be_base64() {
    let server = MockServer::start().await;
    server.push(
        MockResponse::json(
            200,
            json!({"embeddings": [[1.0, 0.5], [0.25, 0.0]], "id": "x", "texts": ["a", "b"]}),
        )
        .with_header("x-amzn-bedrock-input-token-count", "6"),
    );
    let mut req =
        EmbeddingRequest::new("cohere.embed-english-v3", EmbeddingInput::Texts(vec!["a".into(), "b".into()]));
    req.encoding_format = Some(EncodingFormat::Base64);
    let res = provider(&server.url())
        .into_service()
        .oneshot(LlmRequest::embedding(req))
        .await
        .unwrap()
        .into_embedding()
        .unwrap();
    assert_eq!(server.requests()[0].json(), json!({"texts": ["a", "b"], "input_type": "search_document"}));
    assert_eq!(res.usage.prompt_tokens, 6);
    // 1.0f32 and 0.5f32, little-endian.
    assert_eq!(res.data[0].embedding, EmbeddingVector::Base64("AACAPwAAAD8=".into()));

    let err = provider(&server.url())
        .into_service()
        .oneshot(LlmRequest::embedding(EmbeddingRequest::new(MODEL, "x")))
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.param()), (&ErrorKind::BadRequest, Some("model")));
}

#[tokio::test]
async fn a_passed_deadline_is_a_timeout_and_a_slow_upstream_times_out() {
    let server = MockServer::start().await;
    server.push(MockResponse::hang());
    let ctx = RequestContext::new().with_timeout(Duration::from_millis(100));
    let err =
        provider(&server.url()).into_service().oneshot(chat(false).with_context(ctx)).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout);
}

#[test]
fn code_credentials_win_over_the_environment() {
    let env = |name: &str| match name {
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ACCESS_KEY_ID" => Some("ENVKEY".to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some("envsecret".to_owned()),
        _ => None,
    };
    let c = BedrockConfig::from_lookup(env)
        .with_credentials(AwsCredentials::new("CODEKEY", "codesecret"))
        .with_region("ap-south-1");
    let b = Bedrock::new(c).unwrap();
    let debug = format!("{b:?}");
    assert!(debug.contains("CODEKEY") && debug.contains("ap-south-1"), "{debug}");
    assert_eq!(b.endpoint(), "https://bedrock-runtime.ap-south-1.amazonaws.com");
}

#[tokio::test]
async fn an_endpoint_path_prefix_is_part_of_the_signed_path() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(200, text_body("ok")));
    let bedrock = Bedrock::new(
        BedrockConfig::new()
            .with_region("us-east-1")
            .with_endpoint(format!("{}/proxy/bedrock/", server.url()))
            .with_credentials(credentials()),
    )
    .unwrap()
    .with_clock(fixed_time);
    bedrock.into_service().oneshot(chat(false)).await.unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.path, "/proxy/bedrock/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse");
    let host = server.url().trim_start_matches("http://").to_owned();
    let expected = sign(
        &SigningRequest {
            method: "POST",
            host: &host,
            path: &req.path,
            query: "",
            headers: &[("content-type", "application/json")],
            body: &req.body,
        },
        &credentials(),
        "us-east-1",
        "bedrock",
        fixed_time(),
    );
    assert_eq!(req.header("authorization"), Some(expected.authorization.as_str()));
}
