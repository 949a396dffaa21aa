//! Embeddings through InvokeModel: Amazon Titan (one call per input) and Cohere (one call for
//! all inputs), as pure request builders and response parsers.

use base64::Engine as _;
use llm_core::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingVector, EncodingFormat, ErrorKind, Extra, LlmError,
};
use serde_json::{Map, Value, json};

use crate::request::model_id;

/// Which InvokeModel body an embedding model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingFamily {
    /// `amazon.titan-embed-*`: `{"inputText", "dimensions", "normalize"}` → `{"embedding", "inputTextTokenCount"}`.
    Titan,
    /// `cohere.embed-*`: `{"texts", "input_type"}` → `{"embeddings"}`.
    Cohere,
}

impl EmbeddingFamily {
    /// The family of a model id, `None` for models without embeddings support here.
    ///
    /// ```
    /// use llm_provider_bedrock::EmbeddingFamily;
    /// assert_eq!(EmbeddingFamily::of("bedrock/amazon.titan-embed-text-v2:0"), Some(EmbeddingFamily::Titan));
    /// assert_eq!(EmbeddingFamily::of("cohere.embed-english-v3"), Some(EmbeddingFamily::Cohere));
    /// assert_eq!(EmbeddingFamily::of("anthropic.claude-3-haiku-20240307-v1:0"), None);
    /// ```
    pub fn of(model: &str) -> Option<Self> {
        // `contains` also matches inference-profile prefixes (`us.`) and ARNs.
        let id = model_id(model);
        if id.contains("amazon.titan-embed") {
            Some(Self::Titan)
        } else if id.contains("cohere.embed") {
            Some(Self::Cohere)
        } else {
            None
        }
    }
}

/// The texts to embed; token-id inputs are a bad request.
pub(crate) fn texts(input: &EmbeddingInput) -> Result<Vec<String>, LlmError> {
    match input {
        EmbeddingInput::Text(t) => Ok(vec![t.clone()]),
        EmbeddingInput::Texts(t) => Ok(t.clone()),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
            Err(LlmError::bad_request("Bedrock embeddings take text, not token ids").with_param("input"))
        }
    }
}

/// The Titan InvokeModel body for one text: `inputText`, plus `dimensions` when asked and
/// `normalize: true` for v2 models (extra `normalize` overrides it). `dimensions` on the v1
/// model is a bad request.
///
/// ```
/// use llm_core::EmbeddingRequest;
/// let mut req = EmbeddingRequest::new("amazon.titan-embed-text-v2:0", "hi");
/// req.dimensions = Some(256);
/// assert_eq!(llm_provider_bedrock::titan_body(&req, "hi").unwrap(),
///     serde_json::json!({"inputText": "hi", "dimensions": 256, "normalize": true}));
/// req.model = "amazon.titan-embed-text-v1".into(); // v1 has a fixed size
/// assert!(llm_provider_bedrock::titan_body(&req, "hi").is_err());
/// ```
pub fn titan_body(req: &EmbeddingRequest, text: &str) -> Result<Value, LlmError> {
    let mut body = Map::new();
    body.insert("inputText".into(), text.into());
    if let Some(d) = req.dimensions {
        if model_id(&req.model).contains("titan-embed-text-v1") {
            return Err(LlmError::unsupported_param("dimensions", "amazon.titan-embed-text-v1"));
        }
        body.insert("dimensions".into(), d.into());
    }
    if let Some(n) = req.extra.get("normalize") {
        body.insert("normalize".into(), n.clone());
    } else if model_id(&req.model).contains("titan-embed-text-v2") {
        body.insert("normalize".into(), true.into());
    }
    Ok(Value::Object(body))
}

/// The Cohere InvokeModel body: `texts` and `input_type` (extra `input_type`, default
/// `search_document`), plus extra `truncate` when given.
pub fn cohere_body(req: &EmbeddingRequest, texts: &[String]) -> Value {
    let input_type = req.extra.get("input_type").cloned().unwrap_or_else(|| "search_document".into());
    let mut body = json!({"texts": texts, "input_type": input_type});
    if let Some(t) = req.extra.get("truncate") {
        body["truncate"] = t.clone();
    }
    body
}

fn floats(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

fn decode_error(what: &str) -> LlmError {
    LlmError::new(ErrorKind::Decode, format!("unexpected Bedrock embedding response: {what}"))
}

/// Parses a Titan answer into (vector, input token count).
pub fn parse_titan(body: &[u8]) -> Result<(Vec<f64>, u64), LlmError> {
    let v: Value = serde_json::from_slice(body)?;
    let vector = v.get("embedding").and_then(floats).ok_or_else(|| decode_error("no `embedding` array"))?;
    Ok((vector, v.get("inputTextTokenCount").and_then(Value::as_u64).unwrap_or(0)))
}

/// Parses a Cohere answer into one vector per text (`embeddings` as a list of vectors, or as
/// `{"float": [...]}` when embedding types were requested).
pub fn parse_cohere(body: &[u8], expected: usize) -> Result<Vec<Vec<f64>>, LlmError> {
    let v: Value = serde_json::from_slice(body)?;
    let list = match v.get("embeddings") {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => {
            o.get("float").and_then(Value::as_array).ok_or_else(|| decode_error("no float embeddings"))?
        }
        _ => return Err(decode_error("no `embeddings`")),
    };
    let vectors: Vec<Vec<f64>> = list
        .iter()
        .map(|e| floats(e).ok_or_else(|| decode_error("a vector is not numbers")))
        .collect::<Result<_, _>>()?;
    if vectors.len() != expected {
        return Err(decode_error(&format!("{} vectors for {expected} inputs", vectors.len())));
    }
    Ok(vectors)
}

/// One OpenAI embedding entry, as floats or as base64 of little-endian `f32`s.
pub(crate) fn embedding(index: usize, vector: Vec<f64>, format: Option<EncodingFormat>) -> Embedding {
    let embedding = match format {
        Some(EncodingFormat::Base64) => {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
            EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        _ => EmbeddingVector::Float(vector),
    };
    Embedding { object: "embedding".into(), index: index as u32, embedding, extra: Extra::new() }
}
