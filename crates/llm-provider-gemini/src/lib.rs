//! `llm-provider-gemini`: Google Gemini (AI Studio `generativelanguage` API, `v1beta`) for the
//! `llm` workspace.
//!
//! [`Gemini`] implements [`llm_core::Provider`]: chat (`models/{model}:generateContent`),
//! streamed chat (`:streamGenerateContent?alt=sse`) and embeddings (`:embedContent`,
//! `:batchEmbedContents`), authenticated with `x-goog-api-key`. It sends requests with
//! [`llm_core::transport`] (pooled hyper clients with rustls; reqwest when the environment
//! names a proxy or [`Gemini::with_client`] hands one in). [`Gemini::with_timeout`] bounds a
//! non-streamed call and a stream's head; a request context's deadline bounds the whole call,
//! every read of a stream included, and a passed one is [`llm_core::ErrorKind::Timeout`].
//!
//! ```no_run
//! use llm_core::{ChatMessage, ChatRequest, LlmRequest};
//! use tower::ServiceExt;
//! # async fn run() -> Result<(), llm_core::LlmError> {
//! let service = llm_core::ProviderService::new(llm_provider_gemini::Gemini::from_env()).boxed();
//! let request = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("Hello!")]);
//! let answer = service.oneshot(LlmRequest::chat(request)).await?.into_chat()?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! The translation is pure and public, independent of URL and authentication, so another shell
//! speaking the same body (Vertex AI) can reuse it: [`build_generate_content_request`],
//! [`parse_generate_content_response`], [`StreamParser`] / [`chat_stream_from_sse`],
//! [`build_embed_request`] / [`parse_embed_response`] and [`error_from_response`].
//!
//! # Request mapping
//!
//! | OpenAI | Gemini |
//! |---|---|
//! | `system` / `developer` messages | `systemInstruction.parts` |
//! | `user` / `assistant` messages | `contents` with role `user` / `model`; consecutive turns of one role merged |
//! | text parts | `{text}` |
//! | `image_url` `data:` URL / `http(s)`, `gs://` URL | `inlineData{mimeType,data}` / `fileData{mimeType,fileUri}` (type guessed from the extension) |
//! | `file` (`file_data` / `file_id`), `input_audio` | `inlineData` / `fileData` |
//! | assistant `tool_calls` | `functionCall{name,args}` parts (+ `thoughtSignature` from `extra_content.google.thought_signature`; for `gemini-3*` models, calls without any signature get [`SKIP_SIGNATURE_SENTINEL`]) |
//! | `tool` messages | `functionResponse{name,response}` in a `user` turn; the name comes from the earlier call; non-object results become `{"content": text}` |
//! | `tools` | `tools[{functionDeclarations}]`, parameters through [`to_gemini_schema`] |
//! | `tool_choice` `auto` / `none` / `required` / named | `toolConfig.functionCallingConfig.mode` `AUTO` / `NONE` / `ANY` / `ANY` + `allowedFunctionNames` |
//! | `temperature`, `top_p`, `top_k` (extra), `seed`, `n`, `stop`, penalties | `generationConfig.temperature`, `topP`, `topK`, `seed`, `candidateCount`, `stopSequences`, `presencePenalty`, `frequencyPenalty` |
//! | `max_completion_tokens`, else `max_tokens` | `maxOutputTokens` |
//! | `logprobs`, `top_logprobs` | `responseLogprobs`, `logprobs` |
//! | `response_format` `json_object` / `json_schema` | `responseMimeType: application/json` (+ `responseSchema`) |
//! | `reasoning_effort` (or `thinking` extra) | `thinkingConfig{thinkingBudget, includeThoughts}`, see [`thinking_budget`] |
//! | `safety_settings`, `cached_content` (extras) | `safetySettings`, `cachedContent` |
//!
//! # Response mapping
//!
//! Candidates become choices: text parts joined into `content`, `thought: true` parts into
//! `reasoning_content`, `functionCall` parts into `tool_calls` (Gemini's id, else `call_<n>`;
//! arguments as JSON text; a thought signature in `extra_content.google.thought_signature`).
//! Finish reasons: [`map_finish_reason`]. Usage: `promptTokenCount` (+ tool-use prompt) →
//! `prompt_tokens`, `candidatesTokenCount + thoughtsTokenCount` → `completion_tokens`,
//! `cachedContentTokenCount` → cached tokens, `thoughtsTokenCount` → reasoning tokens. A blocked
//! prompt, or a candidate stopped for safety before any output, is
//! [`llm_core::ErrorKind::ContentPolicy`].
//!
//! # Differences from the Vertex AI schema
//!
//! Request bodies are checked in tests against Vertex AI's `GenerateContentRequest`. This crate
//! emits no field that Vertex lacks; conversely [`to_gemini_schema`] drops
//! `additionalProperties`, which Vertex's `Schema` knows but the Gemini API's `parameters`
//! rejects.
#![deny(missing_docs)]

mod client;
mod embed;
mod error;
mod partial_args;
mod request;
mod response;
mod schema;
mod stream;
mod wire;

pub use client::{Auth, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_TIMEOUT, Gemini, MAX_EMBED_BATCH};
pub use embed::{EmbedMethod, build_embed_request, parse_embed_response};
pub use error::error_from_response;
pub use request::{
    SKIP_SIGNATURE_SENTINEL, THOUGHT_SIGNATURE_FIELD, build_generate_content_request, model_path,
    thinking_budget,
};
pub use response::{map_finish_reason, parse_generate_content_response};
pub use schema::to_gemini_schema;
pub use stream::{StreamParser, chat_stream_from_sse};
