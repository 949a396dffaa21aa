//! SigV4 against AWS's published signature test suite (aws-sig-v4-test-suite: credentials
//! AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 2015-08-30T12:36:00Z, region
//! us-east-1, service `service`). The expected signatures are the suite's published values.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llm_provider_bedrock::AwsCredentials;
use llm_provider_bedrock::sigv4::{SignedHeaders, SigningRequest, sign};

/// 2015-08-30T12:36:00Z.
fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn suite_credentials() -> AwsCredentials {
    AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
}

const SUITE_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

fn suite_sign(method: &str, query: &str, credentials: &AwsCredentials) -> SignedHeaders {
    let request =
        SigningRequest { method, host: "example.amazonaws.com", path: "/", query, headers: &[], body: b"" };
    sign(&request, credentials, "us-east-1", "service", suite_time())
}

const SCOPE: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

#[test]
fn get_vanilla() {
    let signed = suite_sign("GET", "", &suite_credentials());
    assert_eq!(signed.x_amz_date, "20150830T123600Z");
    assert_eq!(
        signed.authorization,
        format!(
            "{SCOPE}, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
    assert_eq!(signed.x_amz_security_token, None);
}

#[test]
fn post_vanilla() {
    let signed = suite_sign("POST", "", &suite_credentials());
    assert_eq!(
        signed.authorization,
        format!(
            "{SCOPE}, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        )
    );
}

#[test]
fn get_vanilla_query_order_key_case() {
    let signed = suite_sign("GET", "Param2=value2&Param1=value1", &suite_credentials());
    assert!(
        signed
            .authorization
            .ends_with("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        "{}",
        signed.authorization
    );
}

#[test]
fn post_sts_header_before_signs_the_session_token() {
    let credentials = suite_credentials().with_session_token(SUITE_TOKEN);
    let signed = suite_sign("POST", "", &credentials);
    assert_eq!(
        signed.authorization,
        format!(
            "{SCOPE}, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        )
    );
    assert_eq!(signed.x_amz_security_token.as_deref(), Some(SUITE_TOKEN));
    assert!(signed.pairs().contains(&("x-amz-security-token", SUITE_TOKEN)));
}

#[test]
fn a_different_secret_time_or_body_changes_the_signature() {
    let base = suite_sign("POST", "", &suite_credentials()).authorization;
    let other_secret = suite_sign("POST", "", &AwsCredentials::new("AKIDEXAMPLE", "other")).authorization;
    assert_ne!(base, other_secret);
    let request = SigningRequest {
        method: "POST",
        host: "example.amazonaws.com",
        path: "/",
        query: "",
        headers: &[],
        body: b"{}",
    };
    let with_body = sign(&request, &suite_credentials(), "us-east-1", "service", suite_time()).authorization;
    assert_ne!(base, with_body);
    let later =
        sign(&request, &suite_credentials(), "us-east-1", "service", suite_time() + Duration::from_secs(1));
    assert_eq!(later.x_amz_date, "20150830T123601Z");
    assert_ne!(later.authorization, with_body);
}

#[test]
fn extra_headers_are_signed_in_sorted_order() {
    let request = SigningRequest {
        method: "POST",
        host: "bedrock-runtime.us-east-1.amazonaws.com",
        path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
        query: "",
        headers: &[("Content-Type", "application/json"), ("X-Amz-Date", "ignored: computed")],
        body: b"{}",
    };
    let signed = sign(&request, &suite_credentials(), "us-east-1", "bedrock", suite_time());
    assert!(signed.authorization.contains("/20150830/us-east-1/bedrock/aws4_request"));
    assert!(
        signed.authorization.contains("SignedHeaders=content-type;host;x-amz-date,"),
        "{}",
        signed.authorization
    );
}

#[test]
fn credentials_debug_is_redacted() {
    let debug = format!("{:?}", suite_credentials().with_session_token(SUITE_TOKEN));
    assert!(debug.contains("AKIDEXAMPLE"));
    assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
    assert!(!debug.contains("AQoDYXdz"), "{debug}");
}
