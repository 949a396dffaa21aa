//! Chat messages and their content parts, in the OpenAI chat-completions shape.

use serde::{Deserialize, Serialize};

use crate::Extra;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the application (older name of `developer`).
    System,
    /// Instructions from the application (newer OpenAI name).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
    /// The result of a legacy function call.
    Function,
}

impl Role {
    /// The wire name of the role, e.g. `"assistant"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }
}

/// One message of a conversation.
///
/// One struct serves every role, as on the wire: fields a role does not use stay `None`.
///
/// ```
/// use llm_core::{ChatMessage, Role};
/// let m = ChatMessage::user("Hello!");
/// assert_eq!(m.role, Role::User);
/// assert_eq!(m.text().as_deref(), Some("Hello!"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote the message.
    pub role: Role,
    /// Text or a list of parts; `None` for an assistant message that only calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A refusal by the model (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning ("thinking") text, when a provider returns it (LiteLLM's field name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Every other field, kept as sent (`audio`, `annotations`, `function_call`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatMessage {
    /// A message of `role` with text content.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            refusal: None,
            reasoning_content: None,
            extra: Extra::new(),
        }
    }

    /// A `system` message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, text)
    }

    /// A `user` message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, text)
    }

    /// An `assistant` message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, text)
    }

    /// A `tool` message answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, text: impl Into<String>) -> Self {
        let mut m = Self::new(Role::Tool, text);
        m.tool_call_id = Some(tool_call_id.into());
        m
    }

    /// The message's text: the string content, or its text parts joined. `None` when it has none.
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.content.as_ref().and_then(MessageContent::text)
    }
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Text, image, audio and file parts.
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text of the content: the string, or all text parts concatenated.
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            MessageContent::Text(t) => Some(std::borrow::Cow::Borrowed(t)),
            MessageContent::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|p| match p {
                    ContentPart::Text(t) => Some(t.text.as_str()),
                    _ => None,
                });
                let first = texts.next()?;
                match texts.next() {
                    None => Some(std::borrow::Cow::Borrowed(first)),
                    Some(second) => {
                        let mut all = String::from(first);
                        all.push_str(second);
                        texts.for_each(|t| all.push_str(t));
                        Some(std::borrow::Cow::Owned(all))
                    }
                }
            }
        }
    }
}

/// A string or an array, told apart by the first token: no buffering and retrying as
/// `#[serde(untagged)]` would (an answer's content is often kilobytes of text).
impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> serde::de::Visitor<'de> for ContentVisitor {
            type Value = MessageContent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(text.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(text))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, parts: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(parts))
                    .map(MessageContent::Parts)
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

impl From<String> for MessageContent {
    fn from(text: String) -> Self {
        MessageContent::Text(text)
    }
}

impl From<&str> for MessageContent {
    fn from(text: &str) -> Self {
        MessageContent::Text(text.to_owned())
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// A text part.
    Text(TextPart),
    /// An image by URL or `data:` URL.
    ImageUrl(ImageUrlPart),
    /// Base64 audio input.
    InputAudio(InputAudioPart),
    /// A file (e.g. a PDF) by id or base64 data.
    File(FilePart),
    /// A refusal part (assistant messages).
    Refusal(RefusalPart),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text(TextPart { text: text.into(), extra: Extra::new() })
    }

    /// An image part from a URL or `data:` URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::ImageUrl(ImageUrlPart {
            image_url: ImageUrl { url: url.into(), detail: None, extra: Extra::new() },
            extra: Extra::new(),
        })
    }
}

/// `{"type":"text","text":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// Other fields, e.g. Anthropic's `cache_control`.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type":"image_url","image_url":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrlPart {
    /// The image.
    pub image_url: ImageUrl,
    /// Other fields, e.g. `cache_control`.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// `https://…` or `data:image/png;base64,…`.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Other fields, e.g. `format`.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Splits a base64 `data:` URL (`data:<media type>;base64,<data>`, as image and file parts carry
/// them) into its media type (possibly empty) and base64 payload; `None` for any other URL.
///
/// ```
/// assert_eq!(llm_core::parse_base64_data_url("data:image/png;base64,iVBOR"), Some(("image/png", "iVBOR")));
/// assert_eq!(llm_core::parse_base64_data_url("data:text/plain,hello"), None);
/// assert_eq!(llm_core::parse_base64_data_url("https://example.com/a.png"), None);
/// ```
pub fn parse_base64_data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

/// `{"type":"input_audio","input_audio":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputAudioPart {
    /// The audio.
    pub input_audio: InputAudio,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Base64-encoded audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputAudio {
    /// Base64 data.
    pub data: String,
    /// `wav` or `mp3`.
    pub format: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type":"file","file":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilePart {
    /// The file.
    pub file: FileData,
    /// Other fields, e.g. `cache_control`.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A file given by id or inline data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileData {
    /// `data:application/pdf;base64,…` or raw base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// An uploaded file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Other fields, e.g. `format`.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type":"refusal","refusal":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalPart {
    /// The refusal text.
    pub refusal: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A complete tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id, echoed by the `tool` message that answers it.
    pub id: String,
    /// Always `"function"` today.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function and its JSON arguments.
    pub function: FunctionCall,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

pub(crate) fn function_type() -> String {
    "function".to_owned()
}

/// A function name and its arguments as a JSON string, exactly as the model wrote them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function name.
    pub name: String,
    /// The arguments: a JSON document as text.
    pub arguments: String,
}
