//! Anthropic error bodies (`{"type":"error","error":{"type":…,"message":…}}`) and stream `error`
//! events mapped to [`ErrorKind`]; configuration errors of this crate.

use std::time::Duration;

use llm_core::{ErrorKind, LlmError};
use serde::Deserialize;

/// The longest upstream body quoted in an error message when it is not an Anthropic error.
const MAX_QUOTED_BODY: usize = 512;

/// Why an [`Anthropic`](crate::Anthropic) client could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key was given and `ANTHROPIC_API_KEY` is unset or empty.
    #[error("no Anthropic API key: set ANTHROPIC_API_KEY or call Anthropic::new(key)")]
    MissingApiKey,
    /// The base URL (from `ANTHROPIC_API_BASE`, `ANTHROPIC_BASE_URL` or
    /// [`with_base_url`](crate::Anthropic::with_base_url)) is not an absolute `http://` or
    /// `https://` URL with a host. The URL is not repeated: it may hold credentials.
    #[error("invalid Anthropic base URL: it must be an absolute http:// or https:// URL with a host")]
    InvalidBaseUrl,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// The kind for an Anthropic error `type`, with the HTTP `status` it came with (a stream `error`
/// event has none) and the `retry-after` the headers gave.
///
/// | `error.type` | kind |
/// |---|---|
/// | `invalid_request_error` | `BadRequest`, or `ContextWindowExceeded` when the message says the prompt is too long |
/// | `authentication_error` | `Authentication` |
/// | `permission_error` | `PermissionDenied` |
/// | `not_found_error` | `NotFound` |
/// | `request_too_large` | `BadRequest` |
/// | `rate_limit_error` | `RateLimited` (with `retry-after`) |
/// | `overloaded_error` | `ServiceUnavailable` |
/// | `timeout_error` | `Timeout` |
/// | `api_error` and anything else | by HTTP status ([`ErrorKind::from_status`]); `Upstream{500}` in a stream |
///
/// ```
/// use llm_core::ErrorKind;
/// use llm_provider_anthropic::error_kind;
/// assert_eq!(error_kind("overloaded_error", "Overloaded", Some(529), None), ErrorKind::ServiceUnavailable);
/// assert_eq!(
///     error_kind("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", Some(400), None),
///     ErrorKind::ContextWindowExceeded,
/// );
/// ```
pub fn error_kind(
    kind: &str,
    message: &str,
    status: Option<u16>,
    retry_after: Option<Duration>,
) -> ErrorKind {
    match kind {
        "invalid_request_error" if is_context_window_message(message) => ErrorKind::ContextWindowExceeded,
        "invalid_request_error" | "request_too_large" => ErrorKind::BadRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "rate_limit_error" => ErrorKind::RateLimited { retry_after },
        "overloaded_error" => ErrorKind::ServiceUnavailable,
        "timeout_error" => ErrorKind::Timeout,
        _ => ErrorKind::from_status(status.unwrap_or(500), retry_after),
    }
}

fn is_context_window_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("prompt is too long")
        || m.contains("context window")
        || m.contains("context length")
        || m.contains("exceed context limit")
}

/// The error for a non-success HTTP answer: its status, `retry-after` and body.
///
/// ```
/// use llm_core::ErrorKind;
/// use llm_provider_anthropic::error_from_response;
/// let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
/// let err = error_from_response(429, Some(std::time::Duration::from_secs(3)), body);
/// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(3)));
/// assert!(err.message().contains("slow down"));
/// ```
pub fn error_from_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> LlmError {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => {
            let kind = error_kind(&env.error.kind, &env.error.message, Some(status), retry_after);
            let message = if env.error.message.is_empty() {
                format!("HTTP {status} ({})", env.error.kind)
            } else {
                env.error.message
            };
            with_code(LlmError::new(kind, message), &env.error.kind)
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let quoted: String = text.chars().take(MAX_QUOTED_BODY).collect();
            let message = if quoted.trim().is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {quoted}")
            };
            LlmError::new(ErrorKind::from_status(status, retry_after), message)
        }
    }
}

/// The error for a stream `error` event's data (`{"type":"error","error":{…}}`).
///
/// ```
/// use llm_core::ErrorKind;
/// use llm_provider_anthropic::error_from_event;
/// let err = error_from_event(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
/// assert_eq!(*err.kind(), ErrorKind::ServiceUnavailable);
/// ```
pub fn error_from_event(data: &str) -> LlmError {
    match serde_json::from_str::<ErrorEnvelope>(data) {
        Ok(env) => {
            let kind = error_kind(&env.error.kind, &env.error.message, None, None);
            let message = if env.error.message.is_empty() {
                format!("stream error event ({})", env.error.kind)
            } else {
                env.error.message
            };
            with_code(LlmError::new(kind, message), &env.error.kind)
        }
        Err(e) => LlmError::decode("the stream sent an unreadable error event", e),
    }
}

/// Keeps Anthropic's error type as the code when the kind has no standard code of its own.
fn with_code(err: LlmError, anthropic_type: &str) -> LlmError {
    if err.code().is_none() && !anthropic_type.is_empty() {
        err.with_code(anthropic_type.to_owned())
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_win_and_unknown_types_fall_back_to_the_status() {
        let secs = Some(Duration::from_secs(2));
        for (kind, status, want) in [
            ("rate_limit_error", Some(429), ErrorKind::RateLimited { retry_after: secs }),
            ("timeout_error", Some(504), ErrorKind::Timeout),
            ("api_error", Some(503), ErrorKind::ServiceUnavailable),
            ("api_error", Some(500), ErrorKind::Upstream { status: 500 }),
            ("api_error", None, ErrorKind::Upstream { status: 500 }),
            ("billing_error", Some(402), ErrorKind::BudgetExceeded),
            ("overloaded_error", None, ErrorKind::ServiceUnavailable),
            ("permission_error", Some(403), ErrorKind::PermissionDenied),
            ("", Some(418), ErrorKind::Upstream { status: 418 }),
        ] {
            assert_eq!(error_kind(kind, "m", status, secs), want, "{kind} {status:?}");
        }
        assert_eq!(
            error_kind("invalid_request_error", "Input exceeds the context window", Some(400), None),
            ErrorKind::ContextWindowExceeded
        );
    }

    #[test]
    fn codes_and_odd_bodies() {
        let err = error_from_response(
            529,
            None,
            br#"{"type":"error","error":{"type":"overloaded_error","message":""}}"#,
        );
        assert_eq!(err.code(), Some("overloaded_error"));
        assert_eq!(err.message(), "HTTP 529 (overloaded_error)");
        let long = "x".repeat(10_000);
        let err = error_from_response(500, None, long.as_bytes());
        assert!(err.message().len() < 600);
        let err = error_from_event("{not json");
        assert_eq!(*err.kind(), ErrorKind::Decode);
    }
}
