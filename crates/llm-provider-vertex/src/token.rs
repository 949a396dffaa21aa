//! Access tokens: a fixed one, or one obtained from a service-account key, cached and refreshed.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use llm_core::transport::{Transport, TransportError, is_http_url};
use llm_core::{ErrorKind, LlmError, retry_after_from_headers};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::credentials::{CLOUD_PLATFORM_SCOPE, GoogleCredentials};

/// How long before expiry a cached token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The token lifetime assumed when the endpoint gives no `expires_in`.
const DEFAULT_EXPIRES_IN: u64 = 3600;

/// The form-encoded `grant_type` of the JWT bearer flow (RFC 7523).
const JWT_BEARER_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

/// Where request tokens come from. Clones share one cache. `Debug` never shows a secret.
#[derive(Clone)]
pub(crate) enum TokenSource {
    /// A token given by the caller, used as is.
    Fixed(String),
    /// Tokens obtained from credentials (a signed service-account assertion or a refresh
    /// token), cached.
    Refreshing(Arc<RefreshingTokens>),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Fixed(_) => f.write_str("AccessToken([REDACTED])"),
            TokenSource::Refreshing(tokens) => f
                .debug_struct("Refreshing")
                .field("credentials", &tokens.credentials)
                .field("token_url", &tokens.token_url)
                .finish_non_exhaustive(),
        }
    }
}

impl TokenSource {
    /// A token for the next request.
    pub(crate) async fn token(&self, transport: &Transport) -> Result<String, LlmError> {
        match self {
            TokenSource::Fixed(token) => Ok(token.clone()),
            TokenSource::Refreshing(tokens) => tokens.token(transport).await,
        }
    }

    /// The project billed for requests, for user credentials that name one.
    pub(crate) fn quota_project(&self) -> Option<&str> {
        match self {
            TokenSource::Refreshing(tokens) => match &tokens.credentials {
                GoogleCredentials::AuthorizedUser(user) => user.quota_project_id(),
                _ => None,
            },
            TokenSource::Fixed(_) => None,
        }
    }

    /// Forgets `token` after the upstream rejected it, so the next request gets a fresh one.
    pub(crate) async fn rejected(&self, token: &str) {
        if let TokenSource::Refreshing(tokens) = self {
            let mut slot = tokens.cache.lock().await;
            if slot.as_ref().is_some_and(|c| c.token == token) {
                *slot = None;
            }
        }
    }
}

struct CachedToken {
    token: String,
    refresh_at: Instant,
}

/// Credentials with their token endpoint and cache.
pub(crate) struct RefreshingTokens {
    credentials: GoogleCredentials,
    token_url: String,
    /// `token_url` parsed once; `None` when it is not an absolute `http(s)` URL with a host.
    token_uri: Option<http::Uri>,
    /// Holding this lock across an exchange makes concurrent callers wait for one refresh.
    cache: Mutex<Option<CachedToken>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

impl RefreshingTokens {
    pub(crate) fn new(credentials: GoogleCredentials, token_url: Option<String>) -> Self {
        let token_url = token_url.unwrap_or_else(|| credentials.token_uri().to_owned());
        let token_uri = http::Uri::try_from(token_url.as_str()).ok().filter(is_http_url);
        Self { credentials, token_url, token_uri, cache: Mutex::new(None) }
    }

    pub(crate) fn credentials(&self) -> &GoogleCredentials {
        &self.credentials
    }

    /// The form body of the token request, and the secrets in it that must never be echoed.
    fn grant(&self) -> Result<(String, Vec<String>), LlmError> {
        match &self.credentials {
            GoogleCredentials::ServiceAccount(key) => {
                let issued_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let assertion = key
                    .signed_assertion(CLOUD_PLATFORM_SCOPE, issued_at)
                    .map_err(|e| LlmError::new(ErrorKind::Authentication, e.to_string()))?;
                Ok((format!("grant_type={JWT_BEARER_GRANT}&assertion={assertion}"), vec![assertion]))
            }
            GoogleCredentials::AuthorizedUser(user) => Ok((
                format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    form_encode(&user.client_id),
                    form_encode(&user.client_secret),
                    form_encode(&user.refresh_token)
                ),
                vec![user.refresh_token.clone(), user.client_secret.clone()],
            )),
        }
    }

    async fn token(&self, transport: &Transport) -> Result<String, LlmError> {
        let mut slot = self.cache.lock().await;
        if let Some(cached) = slot.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        let fresh = self.exchange(transport).await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    /// Trades a signed assertion (or a refresh token) for an access token. The caller bounds
    /// it in time.
    async fn exchange(&self, transport: &Transport) -> Result<CachedToken, LlmError> {
        let uri = self.token_uri.clone().ok_or_else(invalid_token_url)?;
        let (form, secrets) = self.grant()?;
        let started = Instant::now();
        let mut request = http::Request::new(Bytes::from(form));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
        let response = transport.send(request).await.map_err(transport_error)?;
        let (head, body) = response.into_parts();
        let status = head.status.as_u16();
        let body = body.bytes().await.map_err(transport_error)?;
        if !(200..300).contains(&status) {
            return Err(exchange_error(status, &head.headers, &body, &secrets));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            LlmError::new(ErrorKind::Authentication, "the token endpoint answered with invalid JSON")
        })?;
        let token = answer.access_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            LlmError::new(ErrorKind::Authentication, "the token endpoint answered without an access_token")
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(DEFAULT_EXPIRES_IN));
        // Refresh REFRESH_MARGIN early, but never sooner than halfway through a short lifetime.
        let refresh_after = lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2);
        Ok(CachedToken { token, refresh_at: started + refresh_after })
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An unusable token URL (the key's `token_uri` or the one given to
/// [`crate::Vertex::with_token_url`]); the URL is not repeated.
fn invalid_token_url() -> LlmError {
    LlmError::bad_request(
        "invalid OAuth token URL: it must be an absolute http:// or https:// URL with a host",
    )
    .with_code("invalid_token_url")
}

fn transport_error(e: TransportError) -> LlmError {
    if e.is_builder() {
        return invalid_token_url();
    }
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    // The transport's errors name no URL and no header: no secret can leak here.
    LlmError::new(kind, "the request to the OAuth token endpoint failed").with_source(e)
}

/// A failed exchange: client errors (a rejected key or assertion) are
/// [`ErrorKind::Authentication`]; throttling and server errors keep their retryable kinds.
fn exchange_error(status: u16, headers: &http::HeaderMap, body: &[u8], secrets: &[String]) -> LlmError {
    let detail = serde_json::from_slice::<OAuthError>(body).ok().map(|e| {
        let mut text = e.error.unwrap_or_default();
        if let Some(description) = e.error_description.filter(|d| !d.is_empty()) {
            text = if text.is_empty() { description } else { format!("{text}: {description}") };
        }
        let mut text: String = text.chars().take(300).collect();
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            text = text.replace(secret.as_str(), "[REDACTED]");
        }
        text
    });
    let message = match detail.filter(|d| !d.is_empty()) {
        Some(d) => format!("the OAuth token exchange failed (HTTP {status}): {d}"),
        None => format!("the OAuth token exchange failed (HTTP {status})"),
    };
    let kind = match status {
        429 | 500..=599 => ErrorKind::from_status(status, retry_after_from_headers(headers)),
        _ => ErrorKind::Authentication,
    };
    LlmError::new(kind, message).with_code("token_exchange_failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(form_encode("1//0gAb-c_d.e~f+g h&i=j"), "1%2F%2F0gAb-c_d.e~f%2Bg%20h%26i%3Dj");
    }

    #[test]
    fn exchange_errors_keep_retryable_kinds_and_hide_the_assertion() {
        let h = http::HeaderMap::new();
        let err = exchange_error(
            400,
            &h,
            br#"{"error":"invalid_grant","error_description":"bad aaa.bbb.ccc"}"#,
            &["aaa.bbb.ccc".to_owned()],
        );
        assert_eq!(*err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("invalid_grant: bad [REDACTED]"), "{}", err.message());
        assert_eq!(*exchange_error(503, &h, b"", &[]).kind(), ErrorKind::ServiceUnavailable);
        assert!(matches!(exchange_error(429, &h, b"<html>", &[]).kind(), ErrorKind::RateLimited { .. }));
        assert_eq!(*exchange_error(401, &h, b"<html>", &[]).kind(), ErrorKind::Authentication);
    }
}
