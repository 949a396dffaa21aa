//! Claude on Vertex: the Anthropic Messages body, adjusted for `rawPredict`.

use llm_core::{ChatRequest, LlmError};
use llm_provider_anthropic::{MessagesRequest, TranslateOptions, to_messages_request};
use serde_json::Value;

/// The `anthropic_version` Vertex AI requires in the body of Claude requests.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// Translates `request` into the body of a Vertex `rawPredict` / `streamRawPredict` call: the
/// Anthropic Messages body without `model` (the URL names it) and with
/// `anthropic_version: vertex-2023-10-16`. Beta names stay in [`MessagesRequest::betas`]; they
/// are sent as the `anthropic-beta` header, as on Anthropic's own API.
///
/// ```
/// use llm_core::{ChatMessage, ChatRequest};
/// use llm_provider_anthropic::TranslateOptions;
/// let req = ChatRequest::new("claude-sonnet-4-5@20250929", vec![ChatMessage::user("Hi")]);
/// let out = llm_provider_vertex::to_vertex_anthropic_request(&req, &TranslateOptions::new()).unwrap();
/// assert!(out.body.get("model").is_none());
/// assert_eq!(out.body["anthropic_version"], "vertex-2023-10-16");
/// ```
pub fn to_vertex_anthropic_request(
    request: &ChatRequest,
    options: &TranslateOptions,
) -> Result<MessagesRequest, LlmError> {
    let mut translated = to_messages_request(request, options)?;
    translated.body.shift_remove("model");
    translated.body.insert("anthropic_version".into(), Value::String(VERTEX_ANTHROPIC_VERSION.to_owned()));
    Ok(translated)
}
