//! Token counts before a call: exact for OpenAI models (feature `tiktoken`), estimated for others,
//! and context-window checks against the table's limits.

use llm_core::{
    ChatMessage, ChatRequest, ContentPart, EmbeddingInput, ErrorKind, LlmError, MessageContent, Operation,
};

use crate::lookup::LookupHints;
use crate::table::PriceTable;

/// Tokens charged per message by OpenAI's chat format, beside its content.
const TOKENS_PER_MESSAGE: u64 = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING_TOKENS: u64 = 3;
/// A flat estimate per image part (a 1024×1024 high-detail image on OpenAI models).
const TOKENS_PER_IMAGE: u64 = 765;

/// How a count was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// With the model's own tokenizer (`o200k_base`, `cl100k_base`).
    Exact,
    /// About four characters per token (rounded up), for models without a known tokenizer.
    Estimate,
}

/// A number of tokens and how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCount {
    /// The count.
    pub tokens: u64,
    /// How it was made.
    pub counting: Counting,
}

/// The tokenizer an OpenAI model uses, from its name (a provider prefix is ignored).
fn openai_encoding(model: &str) -> Option<Encoding> {
    let name = model.rsplit('/').next().unwrap_or(model);
    const O200K: [&str; 10] =
        ["gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-", "gpt-oss", "codex"];
    const CL100K: [&str; 6] = ["gpt-4", "gpt-3.5", "gpt-35", "text-embedding-", "davinci-002", "babbage-002"];
    if O200K.iter().any(|p| name.starts_with(p)) {
        Some(Encoding::O200k)
    } else if CL100K.iter().any(|p| name.starts_with(p)) {
        Some(Encoding::Cl100k)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    O200k,
    Cl100k,
}

/// Counts the tokens of `text` as `model` would.
///
/// ```
/// use llm_cost::tokens::{Counting, count_text_tokens};
/// let exact = count_text_tokens("gpt-4o", "Hello, world!");
/// # #[cfg(feature = "tiktoken")]
/// assert_eq!((exact.tokens, exact.counting), (4, Counting::Exact));
/// let estimate = count_text_tokens("claude-sonnet-4", "Hello, world!");
/// assert_eq!((estimate.tokens, estimate.counting), (4, Counting::Estimate)); // 13 chars / 4, rounded up
/// ```
pub fn count_text_tokens(model: &str, text: &str) -> TokenCount {
    match openai_encoding(model).and_then(|e| exact_count(e, text)) {
        Some(tokens) => TokenCount { tokens, counting: Counting::Exact },
        None => TokenCount { tokens: estimate(text), counting: Counting::Estimate },
    }
}

fn estimate(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Longest slice handed to the tokenizer at once. Byte-pair merging is quadratic in the length of
/// a run without whitespace, so a long run (a base64 blob, `xxxx…`) is cut into pieces this long;
/// ordinary text is cut before whitespace, where the tokenizer splits anyway.
#[cfg(feature = "tiktoken")]
const MAX_PIECE_BYTES: usize = 1024;

#[cfg(feature = "tiktoken")]
fn exact_count(encoding: Encoding, text: &str) -> Option<u64> {
    let bpe = match encoding {
        Encoding::O200k => tiktoken_rs::o200k_base_singleton(),
        Encoding::Cl100k => tiktoken_rs::cl100k_base_singleton(),
    };
    let mut total = 0u64;
    let mut rest = text;
    while !rest.is_empty() {
        let (piece, tail) = split_piece(rest);
        total += bpe.encode_with_special_tokens(piece).len() as u64;
        rest = tail;
    }
    Some(total)
}

/// The next piece of at most `MAX_PIECE_BYTES`: cut before the last whitespace in range, else at
/// the last character boundary.
#[cfg(feature = "tiktoken")]
fn split_piece(text: &str) -> (&str, &str) {
    if text.len() <= MAX_PIECE_BYTES {
        return (text, "");
    }
    let mut end = MAX_PIECE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let window = &text[..end];
    let cut =
        window.char_indices().rev().find(|(i, c)| *i > 0 && c.is_whitespace()).map(|(i, _)| i).unwrap_or(end);
    text.split_at(cut)
}

#[cfg(not(feature = "tiktoken"))]
fn exact_count(_: Encoding, _: &str) -> Option<u64> {
    None
}

/// Counts the prompt tokens of a chat request (messages, names, tool calls, tool definitions
/// and a flat amount per image), with OpenAI's per-message framing.
pub fn count_chat_tokens(model: &str, request: &ChatRequest) -> TokenCount {
    let mut exact = true;
    let mut total = REPLY_PRIMING_TOKENS;
    let mut add = |text: &str| {
        let c = count_text_tokens(model, text);
        exact &= c.counting == Counting::Exact;
        c.tokens
    };
    for message in &request.messages {
        total += TOKENS_PER_MESSAGE + add(message.role.as_str()) + message_tokens(message, &mut add);
    }
    if let Some(tools) = &request.tools {
        if let Ok(json) = serde_json::to_string(tools) {
            total += add(&json);
        }
    }
    let counting = if exact { Counting::Exact } else { Counting::Estimate };
    TokenCount { tokens: total, counting }
}

fn message_tokens(message: &ChatMessage, add: &mut impl FnMut(&str) -> u64) -> u64 {
    let mut total = 0;
    match &message.content {
        None => {}
        Some(MessageContent::Text(text)) => total += add(text),
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                total += match part {
                    ContentPart::Text(t) => add(&t.text),
                    ContentPart::ImageUrl(_) => TOKENS_PER_IMAGE,
                    ContentPart::Refusal(r) => serde_json::to_string(r).map(|s| add(&s)).unwrap_or(0),
                    other => serde_json::to_string(other).map(|s| add(&s)).unwrap_or(0),
                };
            }
        }
    }
    if let Some(name) = &message.name {
        total += 1 + add(name);
    }
    for call in message.tool_calls.iter().flatten() {
        total += add(&call.function.name) + add(&call.function.arguments);
    }
    if let Some(reasoning) = &message.reasoning_content {
        total += add(reasoning);
    }
    total
}

/// Counts the input tokens of an operation (chat messages or embedding inputs).
pub fn count_operation_tokens(operation: &Operation) -> TokenCount {
    match operation {
        Operation::Chat(request) => count_chat_tokens(&request.model, request),
        Operation::Embedding(request) => {
            let model = request.model.as_str();
            let sum = |texts: &mut dyn Iterator<Item = &String>| {
                let mut exact = true;
                let tokens = texts
                    .map(|t| {
                        let c = count_text_tokens(model, t);
                        exact &= c.counting == Counting::Exact;
                        c.tokens
                    })
                    .sum();
                TokenCount { tokens, counting: if exact { Counting::Exact } else { Counting::Estimate } }
            };
            match &request.input {
                EmbeddingInput::Text(t) => sum(&mut std::iter::once(t)),
                EmbeddingInput::Texts(ts) => sum(&mut ts.iter()),
                EmbeddingInput::Tokens(ids) => {
                    TokenCount { tokens: ids.len() as u64, counting: Counting::Exact }
                }
                EmbeddingInput::TokenBatches(b) => TokenCount {
                    tokens: b.iter().map(|ids| ids.len() as u64).sum(),
                    counting: Counting::Exact,
                },
            }
        }
        _ => TokenCount { tokens: 0, counting: Counting::Estimate },
    }
}

/// A model's limits and how much of them a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextWindow {
    /// The prompt's tokens.
    pub prompt: TokenCount,
    /// The input limit (`max_input_tokens`, else `max_tokens`), when known.
    pub max_input_tokens: Option<u64>,
    /// The output limit (`max_output_tokens`, else `max_tokens`), when known.
    pub max_output_tokens: Option<u64>,
}

/// Checks a request against the model's limits before calling it.
///
/// Fails with [`ErrorKind::ContextWindowExceeded`] when the prompt is larger than the input limit,
/// and [`ErrorKind::BadRequest`] when the requested output limit is larger than the model's.
/// Unknown models and limits pass (the provider will decide).
///
/// ```
/// use llm_core::{ChatMessage, ChatRequest, ErrorKind, LlmRequest};
/// use llm_cost::{LookupHints, PriceTable, tokens::check_context_window};
/// let table = PriceTable::builtin();
/// let ok = ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]);
/// let window = check_context_window(&table, &LlmRequest::chat(ok).operation, &LookupHints::default()).unwrap();
/// assert_eq!(window.max_input_tokens, Some(128_000));
/// let huge = ChatRequest::new("gpt-4o", vec![ChatMessage::user("word ".repeat(200_000))]);
/// let err = check_context_window(&table, &LlmRequest::chat(huge).operation, &LookupHints::default());
/// assert_eq!(err.unwrap_err().kind(), &ErrorKind::ContextWindowExceeded);
/// ```
pub fn check_context_window(
    table: &PriceTable,
    operation: &Operation,
    hints: &LookupHints,
) -> Result<ContextWindow, LlmError> {
    let prompt = count_operation_tokens(operation);
    let row = table.resolve(operation.model(), hints).ok();
    let window = ContextWindow {
        prompt,
        max_input_tokens: row.as_ref().and_then(|r| r.price.input_token_limit()),
        max_output_tokens: row.as_ref().and_then(|r| r.price.output_token_limit()),
    };
    if let Some(limit) = window.max_input_tokens {
        if prompt.tokens > limit {
            return Err(LlmError::new(
                ErrorKind::ContextWindowExceeded,
                format!(
                    "the prompt has about {} tokens; `{}` accepts {limit}",
                    prompt.tokens,
                    operation.model()
                ),
            ));
        }
    }
    if let (Operation::Chat(request), Some(limit)) = (operation, window.max_output_tokens) {
        if let Some(asked) = request.output_token_limit() {
            if u64::from(asked) > limit {
                return Err(LlmError::bad_request(format!(
                    "max_tokens {asked} exceeds the {limit} output tokens `{}` can produce",
                    request.model
                ))
                .with_param("max_tokens"));
            }
        }
    }
    Ok(window)
}
