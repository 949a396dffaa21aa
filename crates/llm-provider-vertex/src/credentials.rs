//! Service-account keys and the signed JWT assertion exchanged for an access token.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;
use serde_json::json;

/// Google's OAuth token endpoint, used when a key names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The OAuth scope requested for Vertex AI.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// How long a requested token lives (Google's maximum, one hour).
pub(crate) const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// Why a service-account key could not be loaded or used. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The key file could not be read.
    #[error("could not read the service-account file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is malformed (only the position is reported, never the content).
    #[error("the service-account JSON is not valid (line {line}, column {column})")]
    Parse {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// A required field is missing or empty.
    #[error("the service-account JSON has no {0}")]
    MissingField(&'static str),
    /// The credentials are of a type this crate cannot use (e.g. `external_account`), or not the
    /// type asked for.
    #[error(
        "credentials of type {0:?} are not supported here: use a service-account key, authorized-user credentials or an access token"
    )]
    UnsupportedType(String),
    /// `private_key` is not an RSA key in PEM (PKCS#8 or PKCS#1).
    #[error("the service-account private key is not a valid RSA PEM key")]
    InvalidPrivateKey,
    /// Signing the assertion failed.
    #[error("signing the JWT assertion failed")]
    Signing,
}

#[derive(Deserialize)]
struct RawKey {
    #[serde(rename = "type")]
    kind: Option<String>,
    project_id: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    client_email: Option<String>,
    token_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    quota_project_id: Option<String>,
}

impl RawKey {
    fn parse(json: &str) -> Result<Self, CredentialsError> {
        serde_json::from_str(json).map_err(|e| CredentialsError::Parse { line: e.line(), column: e.column() })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty())
}

fn read_file(path: &Path) -> Result<String, CredentialsError> {
    std::fs::read_to_string(path).map_err(|source| CredentialsError::Read { path: path.to_owned(), source })
}

/// Credentials in one of the JSON shapes Google tools write, told apart by `type`.
///
/// ```
/// use llm_provider_vertex::GoogleCredentials;
/// let json = r#"{"type":"authorized_user","client_id":"id","client_secret":"s3cr3t-value","refresh_token":"1//r3fr3sh"}"#;
/// let credentials = GoogleCredentials::from_json(json).unwrap();
/// assert!(matches!(credentials, GoogleCredentials::AuthorizedUser(_)));
/// assert!(!format!("{credentials:?}").contains("s3cr3t") && !format!("{credentials:?}").contains("r3fr3sh"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum GoogleCredentials {
    /// A service-account key (`"type": "service_account"`).
    ServiceAccount(ServiceAccountKey),
    /// A user's refresh token (`"type": "authorized_user"`), as written by
    /// `gcloud auth application-default login`.
    AuthorizedUser(AuthorizedUser),
}

impl GoogleCredentials {
    /// Parses credentials JSON of type `service_account` (also when `type` is absent) or
    /// `authorized_user`.
    pub fn from_json(json: &str) -> Result<Self, CredentialsError> {
        let raw = RawKey::parse(json)?;
        match raw.kind.as_deref() {
            Some("authorized_user") => Ok(Self::AuthorizedUser(AuthorizedUser::from_raw(raw)?)),
            _ => Ok(Self::ServiceAccount(ServiceAccountKey::from_raw(raw)?)),
        }
    }

    /// Reads and parses the credentials file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CredentialsError> {
        Self::from_json(&read_file(path.as_ref())?)
    }

    /// The token endpoint the credentials name.
    pub fn token_uri(&self) -> &str {
        match self {
            Self::ServiceAccount(key) => key.token_uri(),
            Self::AuthorizedUser(user) => &user.token_uri,
        }
    }
}

/// A user's OAuth client and refresh token (`authorized_user` credentials). `Debug` never shows
/// the client secret or the refresh token.
#[derive(Clone)]
pub struct AuthorizedUser {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) refresh_token: String,
    pub(crate) token_uri: String,
    pub(crate) quota_project_id: Option<String>,
}

impl fmt::Debug for AuthorizedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizedUser")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field("token_uri", &self.token_uri)
            .field("quota_project_id", &self.quota_project_id)
            .finish()
    }
}

impl AuthorizedUser {
    fn from_raw(raw: RawKey) -> Result<Self, CredentialsError> {
        Ok(Self {
            client_id: non_empty(raw.client_id).ok_or(CredentialsError::MissingField("client_id"))?,
            client_secret: non_empty(raw.client_secret)
                .ok_or(CredentialsError::MissingField("client_secret"))?,
            refresh_token: non_empty(raw.refresh_token)
                .ok_or(CredentialsError::MissingField("refresh_token"))?,
            token_uri: non_empty(raw.token_uri).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            quota_project_id: non_empty(raw.quota_project_id),
        })
    }

    /// The project billed for requests (sent as `x-goog-user-project`), if any.
    pub fn quota_project_id(&self) -> Option<&str> {
        self.quota_project_id.as_deref()
    }
}

/// A Google service-account key: the JSON file the Cloud console downloads (the file that
/// `GOOGLE_APPLICATION_CREDENTIALS` names). `Debug` never shows the private key.
///
/// ```
/// let err = llm_provider_vertex::ServiceAccountKey::from_json(r#"{"type":"authorized_user"}"#).unwrap_err();
/// assert!(err.to_string().contains("authorized_user"));
/// ```
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    private_key_id: String,
    token_uri: String,
    project_id: Option<String>,
    signer: Arc<RsaKeyPair>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .field("private_key", &"[REDACTED]")
            .finish()
    }
}

impl ServiceAccountKey {
    /// Parses a service-account key from its JSON text, checking the private key.
    pub fn from_json(json: &str) -> Result<Self, CredentialsError> {
        Self::from_raw(RawKey::parse(json)?)
    }

    fn from_raw(raw: RawKey) -> Result<Self, CredentialsError> {
        if let Some(kind) = raw.kind.filter(|k| k != "service_account") {
            return Err(CredentialsError::UnsupportedType(kind));
        }
        let client_email =
            non_empty(raw.client_email).ok_or(CredentialsError::MissingField("client_email"))?;
        let pem = non_empty(raw.private_key).ok_or(CredentialsError::MissingField("private_key"))?;
        Ok(Self {
            client_email,
            private_key_id: raw.private_key_id.unwrap_or_default(),
            token_uri: non_empty(raw.token_uri).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            project_id: non_empty(raw.project_id),
            signer: Arc::new(parse_rsa_pem(&pem)?),
        })
    }

    /// Reads and parses the key file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CredentialsError> {
        Self::from_json(&read_file(path.as_ref())?)
    }

    /// The service account's e-mail (the JWT issuer).
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The token endpoint named by the key (also the JWT audience).
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The project the key belongs to, used when no project is configured.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// A signed RS256 JWT assertion for `scope`, issued at `issued_at` (Unix seconds) and valid
    /// for an hour: header `{alg, typ, kid}`, claims `{iss, scope, aud, iat, exp}` with `aud`
    /// the key's `token_uri`.
    ///
    /// ```
    /// use llm_provider_vertex::{CLOUD_PLATFORM_SCOPE, ServiceAccountKey};
    /// // A throwaway test key (see tests/fixtures/README.md).
    /// let key = ServiceAccountKey::from_file("tests/fixtures/test-service-account.json").unwrap();
    /// let jwt = key.signed_assertion(CLOUD_PLATFORM_SCOPE, 1_700_000_000).unwrap();
    /// assert_eq!(jwt.split('.').count(), 3);
    /// ```
    pub fn signed_assertion(&self, scope: &str, issued_at: u64) -> Result<String, CredentialsError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let claims = json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": issued_at,
            "exp": issued_at + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| CredentialsError::Signing)?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// Decodes the first PEM block of `pem` and loads it as a PKCS#8 or PKCS#1 RSA private key.
/// Keys pasted with literal `\n` sequences are accepted too.
fn parse_rsa_pem(pem: &str) -> Result<RsaKeyPair, CredentialsError> {
    let pem = pem.replace("\\n", "\n");
    let mut body = String::new();
    let mut inside = false;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            inside = true;
        } else if line.starts_with("-----END ") {
            break;
        } else if inside {
            body.push_str(line);
        }
    }
    let der = STANDARD.decode(body).map_err(|_| CredentialsError::InvalidPrivateKey)?;
    RsaKeyPair::from_pkcs8(&der)
        .or_else(|_| RsaKeyPair::from_der(&der))
        .map_err(|_| CredentialsError::InvalidPrivateKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_keys_without_echoing_them() {
        let cases = [
            (
                r#"{"client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----"}"#,
                "not a valid RSA",
            ),
            (r#"{"private_key":"x"}"#, "client_email"),
            (r#"{"client_email":"a@b"}"#, "private_key"),
            (r#"{"client_email": 5, "private_key": "topsecretvalue"}"#, "line 1"),
            ("not json topsecretvalue", "not valid"),
        ];
        for (json, want) in cases {
            let err = ServiceAccountKey::from_json(json).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("topsecretvalue") && !err.contains("c2VjcmV0"), "{err}");
        }
    }
}
