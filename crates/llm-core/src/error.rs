//! The error taxonomy shared by every crate, and its OpenAI-shaped wire form.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, as far as a caller (router, retry policy, gateway) needs to know.
///
/// Each kind says whether retrying the same request may succeed ([`is_retryable`](Self::is_retryable))
/// and which HTTP status the gateway answers with ([`http_status`](Self::http_status)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad or missing credentials. Not retryable. HTTP 401.
    Authentication,
    /// Valid credentials without the right to this model or action. Not retryable. HTTP 403.
    PermissionDenied,
    /// Unknown model, deployment or route. Not retryable. HTTP 404.
    NotFound,
    /// The request is invalid (bad parameters, unsupported parameter, 409/422 from upstream).
    /// Not retryable. HTTP 400.
    BadRequest,
    /// The prompt does not fit the model's context window. Not retryable on the same model (a
    /// context-window fallback may help). HTTP 400, code `context_length_exceeded`.
    ContextWindowExceeded,
    /// The provider's content policy refused the request. Not retryable on the same model.
    /// HTTP 400, code `content_policy_violation`.
    ContentPolicy,
    /// Rate limited by the provider or the gateway. Retryable after `retry_after`. HTTP 429.
    RateLimited {
        /// How long the limiter asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The request or the stream took too long. Retryable. HTTP 408.
    Timeout,
    /// The provider is overloaded or down (503, 529). Retryable. HTTP 503.
    ServiceUnavailable,
    /// Any other error status from upstream. Retryable when `status` is 5xx. The gateway answers
    /// with `status` when it is 5xx, else 502.
    Upstream {
        /// The upstream HTTP status.
        status: u16,
    },
    /// Connecting, sending or receiving failed (DNS, refused, reset). Retryable. HTTP 502.
    Transport,
    /// The upstream answer could not be parsed. Not retryable. HTTP 502.
    Decode,
    /// A key, user or team budget is spent. Not retryable. HTTP 400, type `budget_exceeded`.
    BudgetExceeded,
    /// The caller went away or the request was cancelled. Not retryable. HTTP 499.
    Cancelled,
    /// A bug or an unexpected state in this system. Not retryable. HTTP 500.
    Internal,
}

impl ErrorKind {
    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ErrorKind::RateLimited { .. }
            | ErrorKind::Timeout
            | ErrorKind::ServiceUnavailable
            | ErrorKind::Transport => true,
            ErrorKind::Upstream { status } => *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status a gateway answers with for this kind.
    pub fn http_status(&self) -> u16 {
        match self {
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::BadRequest
            | ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentPolicy
            | ErrorKind::BudgetExceeded => 400,
            ErrorKind::RateLimited { .. } => 429,
            ErrorKind::Timeout => 408,
            ErrorKind::ServiceUnavailable => 503,
            ErrorKind::Upstream { status } if (500..=599).contains(status) => *status,
            ErrorKind::Upstream { .. } | ErrorKind::Transport | ErrorKind::Decode => 502,
            ErrorKind::Cancelled => 499,
            ErrorKind::Internal => 500,
        }
    }

    /// The OpenAI error `type` for this kind.
    pub fn openai_type(&self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::BadRequest | ErrorKind::ContextWindowExceeded | ErrorKind::ContentPolicy => {
                "invalid_request_error"
            }
            ErrorKind::RateLimited { .. } => "rate_limit_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::BudgetExceeded => "budget_exceeded",
            ErrorKind::ServiceUnavailable
            | ErrorKind::Upstream { .. }
            | ErrorKind::Transport
            | ErrorKind::Decode
            | ErrorKind::Cancelled
            | ErrorKind::Internal => "api_error",
        }
    }

    /// The OpenAI error `code` for this kind, when it has a standard one.
    pub fn default_code(&self) -> Option<&'static str> {
        match self {
            ErrorKind::ContextWindowExceeded => Some("context_length_exceeded"),
            ErrorKind::ContentPolicy => Some("content_policy_violation"),
            ErrorKind::RateLimited { .. } => Some("rate_limit_exceeded"),
            ErrorKind::BudgetExceeded => Some("budget_exceeded"),
            ErrorKind::Authentication => Some("invalid_api_key"),
            ErrorKind::NotFound => Some("model_not_found"),
            _ => None,
        }
    }

    /// The kind for an upstream HTTP error status, before looking at the body.
    ///
    /// ```
    /// use llm_core::ErrorKind;
    /// assert_eq!(ErrorKind::from_status(401, None), ErrorKind::Authentication);
    /// assert!(ErrorKind::from_status(529, None).is_retryable());
    /// ```
    pub fn from_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            400 | 409 | 413 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Authentication,
            402 => ErrorKind::BudgetExceeded,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited { retry_after },
            503 | 529 => ErrorKind::ServiceUnavailable,
            _ => ErrorKind::Upstream { status },
        }
    }

    fn label(&self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotFound => "not found",
            ErrorKind::BadRequest => "bad request",
            ErrorKind::ContextWindowExceeded => "context window exceeded",
            ErrorKind::ContentPolicy => "content policy violation",
            ErrorKind::RateLimited { .. } => "rate limited",
            ErrorKind::Timeout => "timed out",
            ErrorKind::ServiceUnavailable => "service unavailable",
            ErrorKind::Upstream { .. } => "upstream error",
            ErrorKind::Transport => "transport error",
            ErrorKind::Decode => "invalid upstream response",
            ErrorKind::BudgetExceeded => "budget exceeded",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Upstream { status } => write!(f, "upstream error (HTTP {status})"),
            other => f.write_str(other.label()),
        }
    }
}

/// The one error type of every `llm` service.
///
/// Messages never contain credentials: providers build them from upstream error bodies and
/// their own words, never from request headers.
///
/// ```
/// use llm_core::{ErrorKind, LlmError};
/// let err = LlmError::new(ErrorKind::ContextWindowExceeded, "prompt too long").with_provider("openai");
/// assert_eq!(err.kind().http_status(), 400);
/// let body = serde_json::to_value(err.to_openai_body()).unwrap();
/// assert_eq!(body["error"]["code"], "context_length_exceeded");
/// ```
pub struct LlmError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    provider: Option<Cow<'static, str>>,
    param: Option<String>,
    code: Option<String>,
    source: Option<BoxError>,
}

impl LlmError {
    /// An error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self(Box::new(Inner {
            kind,
            message: message.into(),
            provider: None,
            param: None,
            code: None,
            source: None,
        }))
    }

    /// A [`ErrorKind::BadRequest`] error.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// A [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// A [`ErrorKind::Decode`] error with its cause.
    pub fn decode(message: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Decode, message).with_source(source)
    }

    /// A [`ErrorKind::BadRequest`] naming a parameter the target does not support.
    pub fn unsupported_param(param: &str, target: &str) -> Self {
        Self::bad_request(format!(
            "parameter `{param}` is not supported by {target}; remove it or enable drop_params"
        ))
        .with_param(param)
        .with_code("unsupported_parameter")
    }

    /// Sets the provider the error came from.
    pub fn with_provider(mut self, provider: impl Into<Cow<'static, str>>) -> Self {
        self.0.provider = Some(provider.into());
        self
    }

    /// Sets the offending request parameter.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.0.param = Some(param.into());
        self
    }

    /// Sets a machine-readable error code (overrides the kind's default code).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.0.code = Some(code.into());
        self
    }

    /// Replaces the message, keeping kind, provider, param, code and source (e.g. to redact a
    /// secret an upstream echoed back).
    ///
    /// ```
    /// use llm_core::LlmError;
    /// let e = LlmError::bad_request("bad key sk-123").with_param("api_key");
    /// let redacted = e.message().replace("sk-123", "[redacted]");
    /// let e = e.with_message(redacted);
    /// assert_eq!(e.message(), "bad key [redacted]");
    /// assert_eq!(e.param(), Some("api_key"));
    /// ```
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.0.message = message.into();
        self
    }

    /// Replaces every occurrence of `secret` in the message with `[redacted]`, keeping everything
    /// else. Providers call this on upstream errors, which sometimes echo the key back. Secrets
    /// shorter than 4 bytes are left alone (they would match ordinary text).
    ///
    /// ```
    /// use llm_core::LlmError;
    /// let e = LlmError::bad_request("Incorrect API key provided: sk-abc123").redact_secret("sk-abc123");
    /// assert_eq!(e.message(), "Incorrect API key provided: [redacted]");
    /// ```
    pub fn redact_secret(self, secret: &str) -> Self {
        if secret.len() < 4 || !self.0.message.contains(secret) {
            return self;
        }
        let message = self.0.message.replace(secret, "[redacted]");
        self.with_message(message)
    }

    /// Sets the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The provider the error came from, if known.
    pub fn provider(&self) -> Option<&str> {
        self.0.provider.as_deref()
    }

    /// The offending parameter, if known.
    pub fn param(&self) -> Option<&str> {
        self.0.param.as_deref()
    }

    /// The error code: the explicit one, else the kind's default.
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref().or_else(|| self.0.kind.default_code())
    }

    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        self.0.kind.is_retryable()
    }

    /// How long to wait before retrying, when the upstream said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.0.kind {
            ErrorKind::RateLimited { retry_after } => retry_after,
            _ => None,
        }
    }

    /// The OpenAI-shaped error body: `{"error":{"message","type","param","code"}}`.
    pub fn to_openai_body(&self) -> OpenAiErrorBody {
        let message = match &self.0.provider {
            Some(p) => format!("{p}: {}", self.0.message),
            None => self.0.message.to_string(),
        };
        OpenAiErrorBody {
            error: OpenAiError {
                message,
                kind: self.0.kind.openai_type().to_owned(),
                param: self.0.param.clone(),
                code: self.code().map(str::to_owned),
            },
        }
    }
}

impl fmt::Debug for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.provider {
            Some(p) => write!(f, "{p}: {}: {}", self.0.kind, self.0.message),
            None => write!(f, "{}: {}", self.0.kind, self.0.message),
        }
    }
}

impl std::error::Error for LlmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source.as_ref().map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}

impl From<serde_json::Error> for LlmError {
    fn from(e: serde_json::Error) -> Self {
        LlmError::decode(format!("invalid JSON: {e}"), e)
    }
}

/// `{"error": {...}}` as OpenAI sends and expects it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAiErrorBody {
    /// The error.
    pub error: OpenAiError,
}

/// The inner OpenAI error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAiError {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Error type, e.g. `invalid_request_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The offending parameter.
    #[serde(default)]
    pub param: Option<String>,
    /// Machine-readable code (OpenAI sends strings; some vendors send numbers).
    #[serde(default, deserialize_with = "string_or_number")]
    pub code: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Reads how long to wait from `retry-after-ms` (milliseconds, preferred) or `Retry-After`
/// (seconds, or an HTTP date).
///
/// ```
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("retry-after", "7".parse().unwrap());
/// assert_eq!(llm_core::retry_after_from_headers(&h), Some(std::time::Duration::from_secs(7)));
/// h.insert("retry-after-ms", "1500".parse().unwrap());
/// assert_eq!(llm_core::retry_after_from_headers(&h), Some(std::time::Duration::from_millis(1500)));
/// ```
pub fn retry_after_from_headers(headers: &http::HeaderMap) -> Option<Duration> {
    retry_after_from_headers_at(headers, SystemTime::now())
}

/// [`retry_after_from_headers`] with an explicit "now" for HTTP dates.
pub fn retry_after_from_headers_at(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    const MAX: f64 = 24.0 * 3600.0;
    if let Some(ms) = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()) {
        if let Ok(ms) = ms.trim().parse::<f64>() {
            if ms.is_finite() && ms >= 0.0 {
                return Some(Duration::from_secs_f64((ms / 1000.0).min(MAX)));
            }
        }
    }
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds_and_back() {
        for (status, kind, back) in [
            (400, ErrorKind::BadRequest, 400),
            (401, ErrorKind::Authentication, 401),
            (403, ErrorKind::PermissionDenied, 403),
            (404, ErrorKind::NotFound, 404),
            (408, ErrorKind::Timeout, 408),
            (409, ErrorKind::BadRequest, 400),
            (422, ErrorKind::BadRequest, 400),
            (429, ErrorKind::RateLimited { retry_after: None }, 429),
            (500, ErrorKind::Upstream { status: 500 }, 500),
            (502, ErrorKind::Upstream { status: 502 }, 502),
            (503, ErrorKind::ServiceUnavailable, 503),
            (504, ErrorKind::Timeout, 408),
            (529, ErrorKind::ServiceUnavailable, 503),
            (418, ErrorKind::Upstream { status: 418 }, 502),
        ] {
            let k = ErrorKind::from_status(status, None);
            assert_eq!(k, kind, "status {status}");
            assert_eq!(k.http_status(), back, "status {status}");
        }
    }

    #[test]
    fn retryability() {
        assert!(ErrorKind::RateLimited { retry_after: None }.is_retryable());
        assert!(ErrorKind::Upstream { status: 500 }.is_retryable());
        assert!(!ErrorKind::Upstream { status: 418 }.is_retryable());
        for k in [
            ErrorKind::Authentication,
            ErrorKind::BadRequest,
            ErrorKind::ContextWindowExceeded,
            ErrorKind::ContentPolicy,
            ErrorKind::BudgetExceeded,
        ] {
            assert!(!k.is_retryable(), "{k:?}");
        }
    }

    #[test]
    fn retry_after_date_and_garbage() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut h = http::HeaderMap::new();
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert("retry-after", later.parse().unwrap());
        assert_eq!(retry_after_from_headers_at(&h, now), Some(Duration::from_secs(30)));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after_from_headers_at(&h, now), None);
        h.insert("retry-after", "-3".parse().unwrap());
        assert_eq!(retry_after_from_headers_at(&h, now), None);
        h.insert("retry-after-ms", "NaN".parse().unwrap());
        assert_eq!(retry_after_from_headers_at(&h, now), None);
        h.insert("retry-after", "1e300".parse().unwrap());
        assert_eq!(retry_after_from_headers_at(&h, now), Some(Duration::from_secs(24 * 3600)));
    }

    #[test]
    fn redaction_keeps_everything_but_the_secret() {
        let e = LlmError::new(ErrorKind::Authentication, "key sk-secret-1 and sk-secret-1")
            .with_provider("openai")
            .with_param("p")
            .with_code("c")
            .with_source(std::io::Error::other("io"))
            .redact_secret("sk-secret-1");
        assert_eq!(e.message(), "key [redacted] and [redacted]");
        assert_eq!((e.provider(), e.param(), e.code()), (Some("openai"), Some("p"), Some("c")));
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(LlmError::internal("abc").redact_secret("ab").message(), "abc");
    }

    #[test]
    fn openai_body_shape() {
        let e = LlmError::unsupported_param("logit_bias", "anthropic");
        let v = serde_json::to_value(e.to_openai_body()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "logit_bias");
        assert_eq!(v["error"]["code"], "unsupported_parameter");
        let parsed: OpenAiErrorBody =
            serde_json::from_str(r#"{"error":{"message":"x","type":"t","param":null,"code":429}}"#).unwrap();
        assert_eq!(parsed.error.code.as_deref(), Some("429"));
    }
}
