//! Where requests go and how they are authenticated: region, endpoint, SigV4 credentials or a
//! Bedrock API key, from code and from the environment (code wins).

use std::fmt;

use llm_core::LlmError;
use llm_core::transport::Transport;

use crate::sigv4::AwsCredentials;

/// How requests are authenticated.
#[derive(Clone, PartialEq, Eq)]
pub enum BedrockAuth {
    /// AWS Signature Version 4 with access keys (and a session token for temporary ones).
    SigV4(AwsCredentials),
    /// A Bedrock API key sent as `Authorization: Bearer …` (`AWS_BEARER_TOKEN_BEDROCK`).
    Bearer(String),
}

impl fmt::Debug for BedrockAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BedrockAuth::SigV4(c) => f.debug_tuple("SigV4").field(c).finish(),
            BedrockAuth::Bearer(_) => f.write_str("Bearer([redacted])"),
        }
    }
}

/// Settings of a [`Bedrock`](crate::Bedrock) provider.
///
/// Environment variables: `AWS_REGION` (else `AWS_DEFAULT_REGION`), `AWS_BEARER_TOKEN_BEDROCK`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`. A bearer token wins over
/// access keys when both are in the environment; anything set in code wins over both. The
/// proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, either case) of the environment
/// read choose the transport: with one set, requests keep going through reqwest.
///
/// ```
/// use llm_provider_bedrock::{BedrockAuth, BedrockConfig};
/// let env = |name: &str| match name {
///     "AWS_REGION" => Some("eu-west-1".to_owned()),
///     "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
///     "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI".to_owned()),
///     _ => None,
/// };
/// let config = BedrockConfig::from_lookup(env).with_region("us-west-2");
/// assert_eq!(config.region(), Some("us-west-2"));
/// assert_eq!(config.endpoint().unwrap(), "https://bedrock-runtime.us-west-2.amazonaws.com");
/// assert!(matches!(config.auth(), Some(BedrockAuth::SigV4(_))));
/// assert!(!format!("{config:?}").contains("wJalrXUtnFEMI"));
/// ```
#[derive(Clone, Default)]
pub struct BedrockConfig {
    region: Option<String>,
    endpoint: Option<String>,
    auth: Option<BedrockAuth>,
    /// The transport chosen from the environment read by `from_lookup`.
    transport: Option<Transport>,
}

impl fmt::Debug for BedrockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BedrockConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("transport", &self.transport)
            .finish()
    }
}

impl BedrockConfig {
    /// Nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a closure instead of touching the process
    /// environment), the proxy variables included. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
        let auth = match get("AWS_BEARER_TOKEN_BEDROCK") {
            Some(token) => Some(BedrockAuth::Bearer(token)),
            None => match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => {
                    let creds = AwsCredentials::new(id, secret);
                    Some(BedrockAuth::SigV4(match get("AWS_SESSION_TOKEN") {
                        Some(t) => creds.with_session_token(t),
                        None => creds,
                    }))
                }
                _ => None,
            },
        };
        let transport = Some(Transport::default_with_env(&lookup));
        Self { region, endpoint: None, auth, transport }
    }

    /// Sets the region (e.g. `us-east-1`).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the endpoint, e.g. a VPC endpoint or a mock server (default
    /// `https://bedrock-runtime.{region}.amazonaws.com`).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into().trim_end_matches('/').to_owned());
        self
    }

    /// Uses SigV4 with these credentials.
    pub fn with_credentials(mut self, credentials: AwsCredentials) -> Self {
        self.auth = Some(BedrockAuth::SigV4(credentials));
        self
    }

    /// Uses a Bedrock API key (bearer token).
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.auth = Some(BedrockAuth::Bearer(key.into()));
        self
    }

    /// The transport chosen from the environment `from_lookup` read; `None` for a config made
    /// with [`new`](Self::new) ([`Bedrock::new`](crate::Bedrock::new) then reads the process
    /// environment's proxy variables).
    pub(crate) fn transport(&self) -> Option<&Transport> {
        self.transport.as_ref()
    }

    /// The region, if known.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The authentication, if configured.
    pub fn auth(&self) -> Option<&BedrockAuth> {
        self.auth.as_ref()
    }

    /// The endpoint: the one set, else the regional default.
    pub fn endpoint(&self) -> Result<String, LlmError> {
        if let Some(e) = &self.endpoint {
            return Ok(e.clone());
        }
        match &self.region {
            Some(r) if is_valid_region(r) => Ok(format!("https://bedrock-runtime.{r}.amazonaws.com")),
            Some(_) => Err(LlmError::bad_request("invalid AWS region").with_param("aws_region_name")),
            None => Err(LlmError::bad_request(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or configure one in code",
            )
            .with_param("aws_region_name")),
        }
    }
}

fn is_valid_region(region: &str) -> bool {
    !region.is_empty() && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn environment_credentials_and_region() {
        let c = BedrockConfig::from_lookup(env(&[
            ("AWS_DEFAULT_REGION", "eu-central-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
            ("AWS_SESSION_TOKEN", "t0k3n"),
        ]));
        assert_eq!(c.region(), Some("eu-central-1"));
        match c.auth() {
            Some(BedrockAuth::SigV4(creds)) => {
                assert_eq!(creds.access_key_id(), "AKID");
                assert_eq!(creds.session_token(), Some("t0k3n"));
            }
            other => panic!("expected SigV4, got {other:?}"),
        }
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t") && !debug.contains("t0k3n"), "{debug}");
        assert!(debug.contains("AKID"));
    }

    #[test]
    fn bearer_token_wins_in_the_environment_and_code_wins_over_it() {
        let c = BedrockConfig::from_lookup(env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-xyz"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
        ]));
        assert_eq!(c.region(), Some("us-east-1"));
        assert!(matches!(c.auth(), Some(BedrockAuth::Bearer(t)) if t == "bedrock-api-key-xyz"));
        assert!(!format!("{c:?}").contains("bedrock-api-key-xyz"));
        let c = c.with_credentials(AwsCredentials::new("CODE", "x"));
        assert!(matches!(c.auth(), Some(BedrockAuth::SigV4(k)) if k.access_key_id() == "CODE"));
    }

    #[test]
    fn endpoints() {
        assert!(BedrockConfig::new().endpoint().is_err());
        assert!(BedrockConfig::new().with_region("us-east-1/../x").endpoint().is_err());
        assert_eq!(
            BedrockConfig::new().with_region("x").with_endpoint("http://127.0.0.1:9/").endpoint().unwrap(),
            "http://127.0.0.1:9"
        );
        // Empty variables count as unset; without keys there is no auth.
        let c = BedrockConfig::from_lookup(env(&[("AWS_REGION", ""), ("AWS_ACCESS_KEY_ID", "A")]));
        assert_eq!(c.region(), None);
        assert!(c.auth().is_none());
    }
}
