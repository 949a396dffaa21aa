//! Bedrock error answers (HTTP error statuses and event-stream exceptions) → `LlmError`.

use std::time::Duration;

use llm_core::{ErrorKind, LlmError};
use serde_json::Value;

/// The provider name put on errors.
pub(crate) const PROVIDER: &str = "bedrock";

fn is_context_window_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "input is too long",
        "too many input tokens",
        "prompt is too long",
        "context window",
        "context length",
        "maximum context",
        "too many tokens",
        "max_tokens exceeds",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The error kind for a Bedrock error type (`x-amzn-errortype` header, `__type` field or the
/// event-stream `:exception-type`; any `:…` suffix and case ignored), a status and a message.
///
/// | error type | kind |
/// |---|---|
/// | `ThrottlingException`, `ServiceQuotaExceededException` | `RateLimited` |
/// | `ModelNotReadyException`, `ServiceUnavailableException` | `ServiceUnavailable` |
/// | `ValidationException` | `ContextWindowExceeded` when the message says the input is too long, else `BadRequest` |
/// | `AccessDeniedException` | `PermissionDenied` |
/// | `UnrecognizedClientException`, `InvalidSignatureException`, `ExpiredTokenException`, `IncompleteSignatureException`, `MissingAuthenticationTokenException` | `Authentication` |
/// | `ResourceNotFoundException` | `NotFound` |
/// | `ModelTimeoutException` | `Timeout` |
/// | `InternalServerException`, `ModelErrorException`, `ModelStreamErrorException`, other | from the status ([`ErrorKind::from_status`]) |
pub fn error_kind(
    error_type: Option<&str>,
    status: u16,
    message: &str,
    retry_after: Option<Duration>,
) -> ErrorKind {
    let ty = error_type
        .map(|t| t.split(':').next().unwrap_or(t).rsplit('#').next().unwrap_or(t).to_ascii_lowercase())
        .unwrap_or_default();
    match ty.as_str() {
        "throttlingexception" | "servicequotaexceededexception" => ErrorKind::RateLimited { retry_after },
        "modelnotreadyexception" | "serviceunavailableexception" => ErrorKind::ServiceUnavailable,
        "validationexception" if is_context_window_message(message) => ErrorKind::ContextWindowExceeded,
        "validationexception" => ErrorKind::BadRequest,
        "accessdeniedexception" => ErrorKind::PermissionDenied,
        "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "expiredtokenexception"
        | "incompletesignatureexception"
        | "missingauthenticationtokenexception" => ErrorKind::Authentication,
        "resourcenotfoundexception" => ErrorKind::NotFound,
        "modeltimeoutexception" => ErrorKind::Timeout,
        _ => match ErrorKind::from_status(status, retry_after) {
            ErrorKind::BadRequest if is_context_window_message(message) => ErrorKind::ContextWindowExceeded,
            kind => kind,
        },
    }
}

fn message_of(body: &[u8]) -> (Option<String>, String) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let message = ["message", "Message", "errorMessage"]
                .iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .map(str::to_owned);
            let ty = v.get("__type").and_then(Value::as_str).map(str::to_owned);
            (ty, message.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()))
        }
        Err(_) => (None, String::from_utf8_lossy(body).into_owned()),
    }
}

/// The error for a non-2xx answer: kind from the `x-amzn-errortype` header (or the body's
/// `__type`), else the status; message from the JSON body's `message`.
///
/// ```
/// use llm_core::ErrorKind;
/// let err = llm_provider_bedrock::error_from_response(400, Some("ValidationException:http://internal/"),
///     None, br#"{"message":"Input is too long for requested model."}"#);
/// assert_eq!(*err.kind(), ErrorKind::ContextWindowExceeded);
/// assert_eq!(err.message(), "Input is too long for requested model.");
/// ```
pub fn error_from_response(
    status: u16,
    error_type: Option<&str>,
    retry_after: Option<Duration>,
    body: &[u8],
) -> LlmError {
    let (body_type, mut message) = message_of(body);
    if message.trim().is_empty() {
        message = format!("HTTP {status}");
    }
    let ty = error_type.map(str::to_owned).or(body_type);
    let kind = error_kind(ty.as_deref(), status, &message, retry_after);
    let err = LlmError::new(kind, message).with_provider(PROVIDER);
    match ty {
        Some(t) => err.with_code(t.split(':').next().unwrap_or(&t).to_owned()),
        None => err,
    }
}

/// The error for an event-stream `exception` message (`:exception-type` header, JSON payload).
pub fn error_from_exception(exception_type: &str, payload: &[u8]) -> LlmError {
    let (_, message) = message_of(payload);
    let status = match exception_type {
        "throttlingException" => 429,
        "validationException" => 400,
        "serviceUnavailableException" => 503,
        "modelStreamErrorException" => 424,
        _ => 500,
    };
    let kind = error_kind(Some(exception_type), status, &message, None);
    LlmError::new(kind, message).with_provider(PROVIDER).with_code(exception_type.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_win_over_statuses() {
        let cases: &[(Option<&str>, u16, &str, ErrorKind)] = &[
            (Some("ThrottlingException"), 429, "slow down", ErrorKind::RateLimited { retry_after: None }),
            (Some("ModelNotReadyException"), 429, "warming", ErrorKind::ServiceUnavailable),
            (Some("ValidationException"), 400, "too many input tokens", ErrorKind::ContextWindowExceeded),
            (Some("ValidationException"), 400, "bad field", ErrorKind::BadRequest),
            (Some("AccessDeniedException"), 403, "no", ErrorKind::PermissionDenied),
            (Some("UnrecognizedClientException"), 403, "bad token", ErrorKind::Authentication),
            (Some("ResourceNotFoundException"), 404, "?", ErrorKind::NotFound),
            (Some("ModelTimeoutException"), 408, "late", ErrorKind::Timeout),
            (Some("ModelErrorException"), 424, "oops", ErrorKind::Upstream { status: 424 }),
            (Some("InternalServerException"), 500, "oops", ErrorKind::Upstream { status: 500 }),
            (None, 503, "down", ErrorKind::ServiceUnavailable),
            (None, 400, "Input is too long for requested model", ErrorKind::ContextWindowExceeded),
        ];
        for (ty, status, msg, want) in cases {
            assert_eq!(error_kind(*ty, *status, msg, None), *want, "{ty:?} {status}");
        }
    }

    #[test]
    fn bodies_and_exceptions() {
        let e = error_from_response(502, None, None, b"<html>bad gateway</html>");
        assert_eq!(*e.kind(), ErrorKind::Upstream { status: 502 });
        assert!(e.message().contains("bad gateway"));
        let e = error_from_response(400, None, None, br#"{"__type":"ValidationException","Message":"x"}"#);
        assert_eq!(
            (e.kind(), e.message(), e.code()),
            (&ErrorKind::BadRequest, "x", Some("ValidationException"))
        );
        let e = error_from_response(500, None, None, b"");
        assert_eq!(e.message(), "HTTP 500");
        let e = error_from_exception("throttlingException", br#"{"message":"Too many requests"}"#);
        assert_eq!(*e.kind(), ErrorKind::RateLimited { retry_after: None });
        let e = error_from_exception("modelStreamErrorException", br#"{"message":"boom"}"#);
        assert_eq!(*e.kind(), ErrorKind::Upstream { status: 424 });
        let e = error_from_exception("internalServerException", b"not json");
        assert_eq!((e.kind(), e.message()), (&ErrorKind::Upstream { status: 500 }, "not json"));
    }
}
