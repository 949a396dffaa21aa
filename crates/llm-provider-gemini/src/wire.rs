//! The parts of Gemini's `GenerateContentResponse` this crate reads (unknown fields ignored).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse {
    #[serde(default)]
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) prompt_feedback: Option<PromptFeedback>,
    pub(crate) usage_metadata: Option<UsageMetadata>,
    pub(crate) model_version: Option<String>,
    pub(crate) response_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    pub(crate) block_reason: Option<String>,
    pub(crate) block_reason_message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    pub(crate) content: Option<Content>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) finish_message: Option<String>,
    pub(crate) index: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Content {
    #[serde(default)]
    pub(crate) parts: Vec<Part>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part {
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) thought: bool,
    pub(crate) thought_signature: Option<String>,
    pub(crate) function_call: Option<FunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCall {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) args: Option<Value>,
    #[serde(default)]
    pub(crate) partial_args: Vec<PartialArg>,
    #[serde(default)]
    pub(crate) will_continue: bool,
}

/// One piece of streamed function-call arguments (`streamFunctionCallArguments`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartialArg {
    #[serde(default)]
    pub(crate) json_path: String,
    pub(crate) string_value: Option<String>,
    pub(crate) number_value: Option<serde_json::Number>,
    pub(crate) bool_value: Option<bool>,
    pub(crate) null_value: Option<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    pub(crate) prompt_token_count: Option<u64>,
    pub(crate) candidates_token_count: Option<u64>,
    pub(crate) total_token_count: Option<u64>,
    pub(crate) cached_content_token_count: Option<u64>,
    pub(crate) thoughts_token_count: Option<u64>,
    pub(crate) tool_use_prompt_token_count: Option<u64>,
}
