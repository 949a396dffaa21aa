//! Documented defaults: `max_tokens` per model family and the `reasoning_effort` → thinking
//! budget mapping.

use llm_core::ReasoningEffort;

/// The `max_tokens` sent when the caller gives neither `max_completion_tokens` nor `max_tokens`
/// (Anthropic requires the field).
///
/// | model family (matched in the name) | default |
/// |---|---|
/// | `claude-3-5-*` / `claude-3.5-*` | 8192 (the family's maximum) |
/// | other `claude-3-*` (Haiku, Sonnet, Opus 3), `claude-2*`, `claude-instant*` | 4096 (the maximum) |
/// | `claude-3-7-*` and every later Claude (`claude-*-4*`, …) | 16384 |
/// | anything else | 4096 |
///
/// The later families allow 32k–64k output tokens; 16384 keeps a complete (non-streamed) call
/// well under Anthropic's ten-minute guidance while leaving room for long answers.
///
/// ```
/// use llm_provider_anthropic::default_max_tokens;
/// assert_eq!(default_max_tokens("claude-3-haiku-20240307"), 4096);
/// assert_eq!(default_max_tokens("anthropic/claude-3-5-sonnet-latest"), 8192);
/// assert_eq!(default_max_tokens("claude-sonnet-4-5"), 16384);
/// ```
pub fn default_max_tokens(model: &str) -> u32 {
    let m = model.to_ascii_lowercase();
    if m.contains("claude-3-5") || m.contains("claude-3.5") {
        8192
    } else if m.contains("claude-3-7") || m.contains("claude-3.7") {
        16384
    } else if m.contains("claude-3") || m.contains("claude-2") || m.contains("claude-instant") {
        4096
    } else if m.contains("claude") {
        16384
    } else {
        4096
    }
}

/// The extended-thinking budget (`thinking.budget_tokens`) for a `reasoning_effort`; `None` for
/// [`ReasoningEffort::None`] (thinking stays off).
///
/// | effort | budget_tokens |
/// |---|---|
/// | `none` | thinking off |
/// | `minimal` | 1024 (Anthropic's minimum) |
/// | `low` | 2048 |
/// | `medium` | 4096 |
/// | `high` | 8192 |
/// | `xhigh` | 16384 |
///
/// When the caller gives no output limit, `max_tokens` becomes the larger of the family default
/// and `budget + 4096`, so the answer keeps room after the thinking. When the caller's limit is
/// not above the budget, the budget is halved to fit (an error when that falls under 1024).
///
/// ```
/// use llm_core::ReasoningEffort;
/// use llm_provider_anthropic::thinking_budget;
/// assert_eq!(thinking_budget(ReasoningEffort::High), Some(8192));
/// assert_eq!(thinking_budget(ReasoningEffort::None), None);
/// ```
pub fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::None => None,
        ReasoningEffort::Minimal => Some(MIN_THINKING_BUDGET),
        ReasoningEffort::Low => Some(2048),
        ReasoningEffort::Medium => Some(4096),
        ReasoningEffort::High => Some(8192),
        ReasoningEffort::Xhigh => Some(16384),
    }
}

/// Anthropic's smallest accepted `budget_tokens`.
pub(crate) const MIN_THINKING_BUDGET: u32 = 1024;

/// Output room kept beside a thinking budget when the caller gives no limit.
pub(crate) const ANSWER_ROOM_WITH_THINKING: u32 = 4096;
