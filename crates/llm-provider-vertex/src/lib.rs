//! `llm-provider-vertex`: Google Vertex AI for the `llm` workspace — Gemini and Anthropic Claude
//! models served from a Google Cloud project.
//!
//! [`Vertex`] implements [`llm_core::Provider`] (chat, streamed chat, embeddings). It adds only
//! what Vertex changes — URLs, authentication, the Claude body adjustments — and reuses the
//! translation and parsing of `llm-provider-gemini` and `llm-provider-anthropic` unchanged.
//! Requests and OAuth token exchanges go out on [`llm_core::transport`] (pooled hyper
//! clients with rustls; reqwest when the environment names a proxy or [`Vertex::with_client`]
//! hands one in). [`Vertex::with_timeout`] bounds a non-streamed call (token exchange included)
//! and a stream's head; a request context's deadline bounds the whole call, every read of a
//! stream included, and a passed one is [`ErrorKind::Timeout`](llm_core::ErrorKind).
//!
//! ```no_run
//! use llm_core::{ChatMessage, ChatRequest, LlmRequest};
//! use tower::ServiceExt;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // VERTEXAI_PROJECT, VERTEXAI_LOCATION and GOOGLE_APPLICATION_CREDENTIALS configure it.
//! let service = llm_provider_vertex::Vertex::from_env()?.into_service();
//! let request = ChatRequest::new("vertex_ai/claude-sonnet-4-5@20250929", vec![ChatMessage::user("Hello!")]);
//! let answer = service.oneshot(LlmRequest::chat(request)).await?.into_chat()?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! # Model routing
//!
//! The model is `vertex_ai/<id>` (the prefix is optional). Ids starting with `claude` go to the
//! Anthropic publisher, every other id to Google's; [`Vertex::with_publisher`] overrides the rule.
//!
//! | publisher | chat | streamed chat | embeddings | body |
//! |---|---|---|---|---|
//! | `google` | `:generateContent` | `:streamGenerateContent?alt=sse` | `:predict` | Gemini's `GenerateContentRequest` ([`llm_provider_gemini::build_generate_content_request`]); embeddings see [`build_predict_request`] |
//! | `anthropic` | `:rawPredict` | `:streamRawPredict` | — | the Messages body without `model`, with `anthropic_version: vertex-2023-10-16` ([`to_vertex_anthropic_request`]); betas in the `anthropic-beta` header |
//!
//! URLs are `https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{id}:{method}`;
//! the `global` location uses the host `aiplatform.googleapis.com` ([`base_url_for_location`]).
//!
//! # Authentication
//!
//! - [`Vertex::with_access_token`]: a ready OAuth token, used as is;
//! - a service-account key ([`ServiceAccountKey`], from `GOOGLE_APPLICATION_CREDENTIALS` or
//!   [`Vertex::with_service_account_json`]): an RS256 JWT (`iss` the account, `scope`
//!   cloud-platform, `aud` the key's `token_uri`, one hour) is exchanged at the token endpoint
//!   for an access token, which is cached and refreshed [`REFRESH_MARGIN`] before it expires.
//!   Concurrent requests share one refresh.
//! - `authorized_user` credentials ([`GoogleCredentials`], the JSON that
//!   `gcloud auth application-default login` writes): the refresh token is traded for access
//!   tokens, cached the same way; a `quota_project_id` is sent as `x-goog-user-project`.
//!
//! A rejected exchange is [`ErrorKind::Authentication`](llm_core::ErrorKind) (throttling and
//! server errors of the token endpoint keep their retryable kinds); [`Vertex::with_token_url`]
//! points the exchange elsewhere (a proxy, a test server). A token URL that is not an absolute
//! `http(s)` URL with a host is `BadRequest` with code `invalid_token_url`.
//!
//! Private keys and tokens never appear in `Debug` output or error messages.
//!
//! # Environment
//!
//! | variable | meaning |
//! |---|---|
//! | `VERTEXAI_PROJECT` (or `VERTEX_PROJECT`, `GOOGLE_CLOUD_PROJECT`) | the project; else the key's `project_id` |
//! | `VERTEXAI_LOCATION` (or `VERTEX_LOCATION`) | the location, default `us-central1` |
//! | `GOOGLE_APPLICATION_CREDENTIALS` | path of a service-account key (or authorized-user) file |
//!
//! Settings made in code win; [`Vertex::from_lookup`] takes the lookup function (for tests).
//!
//! Errors: Google's envelope goes through [`llm_provider_gemini::error_from_response`],
//! Anthropic's through [`llm_provider_anthropic::error_from_response`]; a 401 drops the cached
//! token so the next request fetches a new one.
#![deny(missing_docs)]

mod anthropic;
mod credentials;
mod embed;
mod endpoint;
mod provider;
mod token;

pub use anthropic::{VERTEX_ANTHROPIC_VERSION, to_vertex_anthropic_request};
pub use credentials::{
    AuthorizedUser, CLOUD_PLATFORM_SCOPE, CredentialsError, DEFAULT_TOKEN_URI, GoogleCredentials,
    ServiceAccountKey,
};
pub use embed::{build_predict_request, max_instances_per_call, parse_predict_response};
pub use endpoint::{
    DEFAULT_API_VERSION, DEFAULT_LOCATION, MODEL_PREFIX, Publisher, base_url_for_location, resolve_model,
};
pub use provider::{DEFAULT_TIMEOUT, Vertex};
pub use token::REFRESH_MARGIN;
