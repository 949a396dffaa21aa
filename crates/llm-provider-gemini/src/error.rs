//! Mapping Google API error answers (`{"error":{"code","message","status","details"}}`) to
//! [`LlmError`].

use std::time::Duration;

use llm_core::{ErrorKind, LlmError, retry_after_from_headers};
use serde_json::Value;

/// The longest `retryDelay` honoured (a day), so a bogus value cannot park a caller forever.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 3600);

/// Maps an HTTP error answer from Gemini to an [`LlmError`].
///
/// The kind comes from the HTTP status, refined by the Google `status`: `INVALID_ARGUMENT`
/// about the token limit is [`ErrorKind::ContextWindowExceeded`], an invalid API key (reported
/// by Gemini as a 400) is [`ErrorKind::Authentication`], `RESOURCE_EXHAUSTED` is
/// [`ErrorKind::RateLimited`] with `retry_after` from the body's `RetryInfo.retryDelay` (else the
/// `Retry-After` header), `UNAVAILABLE` is [`ErrorKind::ServiceUnavailable`] and
/// `DEADLINE_EXCEEDED` is [`ErrorKind::Timeout`]. The message is the upstream `message`.
///
/// ```
/// let body = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED",
///   "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}"#;
/// let err = llm_provider_gemini::error_from_response(429, &http::HeaderMap::new(), body);
/// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(12)));
/// ```
pub fn error_from_response(status: u16, headers: &http::HeaderMap, body: &[u8]) -> LlmError {
    let header_delay = retry_after_from_headers(headers);
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.get("error").is_some() => error_from_body_value(&value, status, header_delay),
        _ => {
            let text = String::from_utf8_lossy(body);
            let message = if text.trim().is_empty() {
                format!("HTTP {status} without a body")
            } else {
                truncate(text.trim(), 500)
            };
            LlmError::new(ErrorKind::from_status(status, header_delay), message)
        }
    }
}

/// Maps a parsed `{"error": {...}}` value (an error answer or a mid-stream error event).
/// `status` is used when the body has no numeric `code`.
pub(crate) fn error_from_body_value(value: &Value, status: u16, header_delay: Option<Duration>) -> LlmError {
    let error = &value["error"];
    let status =
        error.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(status);
    let google_status = error.get("status").and_then(Value::as_str).unwrap_or("");
    let message = match error.get("message").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => truncate(m, 2000),
        _ if !google_status.is_empty() => google_status.to_owned(),
        _ => format!("HTTP {status}"),
    };
    let details = error.get("details").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let retry_after = retry_delay(details).or(header_delay);
    let kind = match google_status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" if is_token_limit(&message) => {
            ErrorKind::ContextWindowExceeded
        }
        _ if is_invalid_key(details, &message) => ErrorKind::Authentication,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorKind::BadRequest,
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited { retry_after },
        "UNAVAILABLE" => ErrorKind::ServiceUnavailable,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "CANCELLED" => ErrorKind::Cancelled,
        _ if status == 400 && is_token_limit(&message) => ErrorKind::ContextWindowExceeded,
        _ => ErrorKind::from_status(status, retry_after),
    };
    let mut err = LlmError::new(kind, message);
    if !google_status.is_empty() {
        err = err.with_code(google_status.to_owned());
    }
    err
}

/// `RetryInfo.retryDelay` (`"34.4s"`) from the error details.
fn retry_delay(details: &[Value]) -> Option<Duration> {
    details
        .iter()
        .filter(|d| {
            d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| parse_google_duration(d.get("retryDelay")?.as_str()?))
}

/// Parses a protobuf JSON `Duration` such as `"12s"` or `"0.5s"`.
pub(crate) fn parse_google_duration(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0)
        .then(|| Duration::from_secs_f64(secs.min(MAX_RETRY_DELAY.as_secs_f64())))
}

fn is_token_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (m.contains("token") && (m.contains("exceeds the maximum") || m.contains("exceeds the limit")))
        || m.contains("input token count")
        || m.contains("too many tokens")
        || m.contains("context window")
        || m.contains("context length")
}

fn is_invalid_key(details: &[Value], message: &str) -> bool {
    details.iter().any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        || message.contains("API key not valid")
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u16, status: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({"error": {"code": code, "message": message, "status": status}}),
        )
        .unwrap()
    }

    #[test]
    fn google_statuses_map_to_kinds() {
        let h = http::HeaderMap::new();
        let cases = [
            (400, "INVALID_ARGUMENT", "bad field", ErrorKind::BadRequest),
            (
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                ErrorKind::ContextWindowExceeded,
            ),
            (
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                ErrorKind::Authentication,
            ),
            (401, "UNAUTHENTICATED", "no", ErrorKind::Authentication),
            (403, "PERMISSION_DENIED", "no", ErrorKind::PermissionDenied),
            (404, "NOT_FOUND", "no model", ErrorKind::NotFound),
            (429, "RESOURCE_EXHAUSTED", "slow down", ErrorKind::RateLimited { retry_after: None }),
            (500, "INTERNAL", "oops", ErrorKind::Upstream { status: 500 }),
            (503, "UNAVAILABLE", "overloaded", ErrorKind::ServiceUnavailable),
            (504, "DEADLINE_EXCEEDED", "slow", ErrorKind::Timeout),
        ];
        for (code, status, message, want) in cases {
            let err = error_from_response(code, &h, &body(code, status, message));
            assert_eq!(*err.kind(), want, "{status} {message}");
            assert_eq!(err.message(), message);
        }
    }

    #[test]
    fn durations_and_non_json_bodies() {
        assert_eq!(parse_google_duration("34.4s"), Some(Duration::from_secs_f64(34.4)));
        assert_eq!(parse_google_duration("1e300s"), Some(MAX_RETRY_DELAY));
        for bad in ["", "s", "-1s", "12", "NaNs"] {
            assert_eq!(parse_google_duration(bad), None, "{bad}");
        }
        let err = error_from_response(502, &http::HeaderMap::new(), b"<html>Bad Gateway</html>");
        assert_eq!(*err.kind(), ErrorKind::Upstream { status: 502 });
        assert!(err.message().contains("Bad Gateway"));
        let err = error_from_response(503, &http::HeaderMap::new(), b"");
        assert_eq!(*err.kind(), ErrorKind::ServiceUnavailable);
    }
}
