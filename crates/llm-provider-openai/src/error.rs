//! Mapping upstream failures to [`LlmError`]: status, headers and body in, a typed kind out.

use std::time::Duration;

use llm_core::{ErrorKind, LlmError, OpenAiError, retry_after_from_headers};
use serde_json::Value;

/// The longest upstream message kept in an error, in bytes.
const MAX_MESSAGE: usize = 2000;

/// Errors of this crate's builders.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No row of [`VENDORS`](crate::VENDORS) has this name.
    #[error("unknown OpenAI-compatible vendor `{0}`")]
    UnknownVendor(String),
}

/// Maps an upstream error answer to an [`LlmError`].
///
/// The status gives the kind ([`ErrorKind::from_status`], with `retry-after`/`retry-after-ms` on
/// 429); the body refines it: a context-length or content-policy error is recognised from its
/// `code`, `type` or message. The body may be OpenAI's `{"error":{…}}`, `{"error":"…"}`,
/// `{"message":…}`, FastAPI's `{"detail":…}` or plain text.
///
/// ```
/// use llm_core::ErrorKind;
/// use llm_provider_openai::error_from_response;
/// let body = br#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
/// let err = error_from_response(400, &http::HeaderMap::new(), body);
/// assert_eq!(*err.kind(), ErrorKind::ContextWindowExceeded);
/// assert_eq!(err.param(), Some("messages"));
/// ```
pub fn error_from_response(status: u16, headers: &http::HeaderMap, body: &[u8]) -> LlmError {
    let retry_after = retry_after_from_headers(headers);
    let parts = match serde_json::from_slice::<Value>(body) {
        Ok(v) => ErrorParts::from_json(&v),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            ErrorParts { message: (!text.is_empty()).then(|| text.to_owned()), ..ErrorParts::default() }
        }
    };
    parts.into_error(Some(status), retry_after)
}

/// Maps an OpenAI error object that came without an HTTP error status (mid-stream, or in a 200
/// body) — or with one, when `status` is given.
pub(crate) fn error_from_body(err: &OpenAiError, status: Option<u16>) -> LlmError {
    let parts = ErrorParts {
        message: (!err.message.is_empty()).then(|| err.message.clone()),
        kind: (!err.kind.is_empty()).then(|| err.kind.clone()),
        code: err.code.clone(),
        param: err.param.clone(),
        inner_code: None,
    };
    parts.into_error(status, None)
}

#[derive(Debug, Default)]
struct ErrorParts {
    message: Option<String>,
    kind: Option<String>,
    code: Option<String>,
    param: Option<String>,
    inner_code: Option<String>,
}

fn string_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ErrorParts {
    fn from_json(v: &Value) -> Self {
        let obj = match v.get("error") {
            Some(e @ Value::Object(_)) => e,
            Some(Value::String(s)) => return Self { message: Some(s.clone()), ..Self::default() },
            _ => v,
        };
        let message = string_of(obj.get("message")).or_else(|| match obj.get("detail") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other @ (Value::Array(_) | Value::Object(_))) => Some(other.to_string()),
            _ => None,
        });
        Self {
            message,
            kind: string_of(obj.get("type")),
            code: string_of(obj.get("code")),
            param: string_of(obj.get("param")),
            inner_code: string_of(obj.get("innererror").and_then(|i| i.get("code"))),
        }
    }

    fn mentions(&self, needles: &[&str]) -> bool {
        let fields = [&self.code, &self.kind, &self.inner_code];
        if fields
            .iter()
            .any(|f| f.as_deref().is_some_and(|f| needles.iter().any(|n| f.eq_ignore_ascii_case(n))))
        {
            return true;
        }
        false
    }

    fn message_has(&self, phrases: &[&str]) -> bool {
        self.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            phrases.iter().any(|p| m.contains(p))
        })
    }

    fn classify(&self, status: Option<u16>, retry_after: Option<Duration>) -> ErrorKind {
        let client_error = status.is_none_or(|s| (400..500).contains(&s) && s != 429);
        if client_error {
            if self.mentions(&["context_length_exceeded", "string_above_max_length"])
                || self.message_has(&[
                    "maximum context length",
                    "context_length_exceeded",
                    "context window",
                    "context length",
                    "prompt is too long",
                    "reduce the length of the messages",
                    "input is too long",
                    "too many input tokens",
                ])
            {
                return ErrorKind::ContextWindowExceeded;
            }
            if self.mentions(&["content_policy_violation", "content_filter", "ResponsibleAIPolicyViolation"])
                || self.message_has(&[
                    "content management policy",
                    "content_policy_violation",
                    "safety system",
                ])
            {
                return ErrorKind::ContentPolicy;
            }
        }
        if let Some(status) = status {
            return ErrorKind::from_status(status, retry_after);
        }
        if let Some(status) = self.code.as_deref().and_then(|c| c.parse::<u16>().ok()).filter(|s| *s >= 400) {
            return ErrorKind::from_status(status, retry_after);
        }
        let label = self.code.as_deref().or(self.kind.as_deref()).unwrap_or("").to_ascii_lowercase();
        match label.as_str() {
            "rate_limit_exceeded" | "rate_limit_error" | "insufficient_quota" => {
                ErrorKind::RateLimited { retry_after }
            }
            "invalid_api_key" | "authentication_error" => ErrorKind::Authentication,
            "permission_error" | "permission_denied" => ErrorKind::PermissionDenied,
            "model_not_found" | "not_found_error" => ErrorKind::NotFound,
            "invalid_request_error" => ErrorKind::BadRequest,
            "overloaded_error" | "service_unavailable" | "server_overloaded" => ErrorKind::ServiceUnavailable,
            "timeout" | "timeout_error" => ErrorKind::Timeout,
            _ => ErrorKind::Upstream { status: 500 },
        }
    }

    fn into_error(self, status: Option<u16>, retry_after: Option<Duration>) -> LlmError {
        let kind = self.classify(status, retry_after);
        let mut message = self.message.clone().unwrap_or_else(|| match status {
            Some(s) => format!("upstream answered HTTP {s} without a message"),
            None => "upstream reported an error without a message".to_owned(),
        });
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let mut err = LlmError::new(kind, message);
        if let Some(code) = self.code.filter(|c| c.parse::<u16>().is_err()) {
            err = err.with_code(code);
        }
        if let Some(param) = self.param {
            err = err.with_param(param);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> ErrorKind {
        error_from_response(status, &http::HeaderMap::new(), body.as_bytes()).kind().clone()
    }

    #[test]
    fn status_table() {
        let body = r#"{"error":{"message":"m","type":"x","code":null}}"#;
        for (status, kind) in [
            (400, ErrorKind::BadRequest),
            (401, ErrorKind::Authentication),
            (403, ErrorKind::PermissionDenied),
            (404, ErrorKind::NotFound),
            (408, ErrorKind::Timeout),
            (409, ErrorKind::BadRequest),
            (422, ErrorKind::BadRequest),
            (429, ErrorKind::RateLimited { retry_after: None }),
            (500, ErrorKind::Upstream { status: 500 }),
            (502, ErrorKind::Upstream { status: 502 }),
            (503, ErrorKind::ServiceUnavailable),
            (504, ErrorKind::Timeout),
        ] {
            assert_eq!(map(status, body), kind, "{status}");
        }
    }

    #[test]
    fn retry_after_header_on_429() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after-ms", "250".parse().unwrap());
        let e = error_from_response(429, &h, b"{}");
        assert_eq!(e.retry_after(), Some(Duration::from_millis(250)));
        assert!(e.message().contains("429"));
    }

    #[test]
    fn body_refines_the_kind() {
        assert_eq!(
            map(
                400,
                r#"{"error":{"message":"x","type":"invalid_request_error","code":"context_length_exceeded"}}"#
            ),
            ErrorKind::ContextWindowExceeded
        );
        // vLLM / Mistral style bodies, recognised from the message.
        assert_eq!(
            map(
                400,
                r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens","type":"BadRequestError","code":400}"#
            ),
            ErrorKind::ContextWindowExceeded
        );
        assert_eq!(
            map(
                413,
                r#"{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error"}}"#
            ),
            ErrorKind::ContextWindowExceeded
        );
        assert_eq!(
            map(
                400,
                r#"{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","code":"content_policy_violation"}}"#
            ),
            ErrorKind::ContentPolicy
        );
        // Azure's content filter.
        assert_eq!(
            map(
                400,
                r#"{"error":{"message":"The response was filtered","code":"content_filter","innererror":{"code":"ResponsibleAIPolicyViolation"}}}"#
            ),
            ErrorKind::ContentPolicy
        );
        // A 5xx never becomes a client-side kind, whatever its message.
        assert_eq!(
            map(500, r#"{"error":{"message":"context length bug"}}"#),
            ErrorKind::Upstream { status: 500 }
        );
    }

    #[test]
    fn odd_bodies_keep_their_message() {
        let h = http::HeaderMap::new();
        assert_eq!(
            error_from_response(502, &h, b"<html>Bad gateway</html>").message(),
            "<html>Bad gateway</html>"
        );
        assert_eq!(error_from_response(400, &h, br#"{"error":"no such model"}"#).message(), "no such model");
        assert_eq!(
            error_from_response(422, &h, br#"{"detail":"field required"}"#).message(),
            "field required"
        );
        let e = error_from_response(
            400,
            &h,
            br#"{"error":{"message":"x","param":"temperature","code":"invalid_value"}}"#,
        );
        assert_eq!((e.param(), e.code()), (Some("temperature"), Some("invalid_value")));
        let long = "é".repeat(5000);
        let e = error_from_response(500, &h, long.as_bytes());
        assert!(e.message().len() <= MAX_MESSAGE + 3);
        assert!(error_from_response(500, &h, b"").message().contains("HTTP 500"));
    }
}
