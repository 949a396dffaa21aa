//! Embeddings: `:embedContent` for one input, `:batchEmbedContents` for several.

use base64::Engine as _;
use llm_core::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage, EmbeddingVector,
    EncodingFormat, ErrorKind, Extra, LlmError,
};
use serde_json::{Map, Value, json};

/// Which Gemini embedding method a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedMethod {
    /// `:embedContent`, one input.
    Single,
    /// `:batchEmbedContents`, several inputs.
    Batch,
}

impl EmbedMethod {
    /// The method suffix of the URL, e.g. `embedContent`.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedMethod::Single => "embedContent",
            EmbedMethod::Batch => "batchEmbedContents",
        }
    }
}

/// Builds the body of an embedding request for the model at `model_path` (`models/…`).
///
/// One text goes to `embedContent`; a list goes to `batchEmbedContents` (even of one, so the
/// answer keeps the list shape). `dimensions` becomes `outputDimensionality`; a `task_type`
/// (or `taskType`) extra becomes `taskType`. Token-id inputs are rejected: Gemini embeds text.
///
/// ```
/// use llm_core::EmbeddingRequest;
/// use llm_provider_gemini::{EmbedMethod, build_embed_request};
/// let mut req = EmbeddingRequest::new("text-embedding-004", vec!["a".to_owned(), "b".to_owned()]);
/// req.dimensions = Some(256);
/// let (method, body) = build_embed_request(&req, "models/text-embedding-004").unwrap();
/// assert_eq!(method, EmbedMethod::Batch);
/// assert_eq!(body["requests"][1]["content"]["parts"][0]["text"], "b");
/// assert_eq!(body["requests"][0]["outputDimensionality"], 256);
/// ```
pub fn build_embed_request(
    request: &EmbeddingRequest,
    model_path: &str,
) -> Result<(EmbedMethod, Value), LlmError> {
    let one = |text: &str| -> Value {
        let mut body = Map::new();
        body.insert("content".into(), json!({ "parts": [{ "text": text }] }));
        if let Some(d) = request.dimensions {
            body.insert("outputDimensionality".into(), d.into());
        }
        if let Some(t) = request.extra.get("task_type").or_else(|| request.extra.get("taskType")) {
            body.insert("taskType".into(), t.clone());
        }
        Value::Object(body)
    };
    match &request.input {
        EmbeddingInput::Text(text) => Ok((EmbedMethod::Single, one(text))),
        EmbeddingInput::Texts(texts) if !texts.is_empty() => {
            let requests: Vec<Value> = texts
                .iter()
                .map(|t| {
                    let mut r = one(t);
                    r["model"] = Value::String(model_path.to_owned());
                    r
                })
                .collect();
            Ok((EmbedMethod::Batch, json!({ "requests": requests })))
        }
        EmbeddingInput::Texts(_) => Err(LlmError::bad_request("input must not be empty").with_param("input")),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
            Err(LlmError::unsupported_param("input (token ids)", "Gemini").with_param("input"))
        }
    }
}

/// Parses the answer of `method` into an [`EmbeddingResponse`] for `model`, encoding vectors as
/// `encoding_format` asks (base64 is little-endian `f32`s).
pub fn parse_embed_response(
    body: &[u8],
    method: EmbedMethod,
    model: &str,
    encoding: Option<EncodingFormat>,
) -> Result<EmbeddingResponse, LlmError> {
    let value: Value = serde_json::from_slice(body)?;
    let vectors: Vec<&Value> = match method {
        EmbedMethod::Single => value.get("embedding").into_iter().collect(),
        EmbedMethod::Batch => {
            value.get("embeddings").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
        }
    };
    if vectors.is_empty() {
        return Err(LlmError::new(ErrorKind::Decode, "Gemini answered without embeddings"));
    }
    let mut data = Vec::with_capacity(vectors.len());
    for (i, v) in vectors.into_iter().enumerate() {
        let values: Vec<f64> = v
            .get("values")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
            .ok_or_else(|| LlmError::new(ErrorKind::Decode, "Gemini embedding without numeric values"))?;
        let embedding = match encoding {
            Some(EncodingFormat::Base64) => {
                let bytes: Vec<u8> = values.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
                EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            _ => EmbeddingVector::Float(values),
        };
        data.push(Embedding {
            object: "embedding".into(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            embedding,
            extra: Extra::new(),
        });
    }
    let prompt_tokens = value.pointer("/usageMetadata/promptTokenCount").and_then(Value::as_u64).unwrap_or(0);
    Ok(EmbeddingResponse {
        object: "list".into(),
        data,
        model: model.to_owned(),
        usage: EmbeddingUsage { prompt_tokens, total_tokens: prompt_tokens, extra: Extra::new() },
        extra: Extra::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_base64() {
        let req = EmbeddingRequest::new("m", "hello");
        let (method, body) = build_embed_request(&req, "models/m").unwrap();
        assert_eq!(method, EmbedMethod::Single);
        assert_eq!(body, json!({"content": {"parts": [{"text": "hello"}]}}));
        let res = parse_embed_response(
            br#"{"embedding":{"values":[1.0,-0.5]}}"#,
            method,
            "m",
            Some(EncodingFormat::Base64),
        )
        .unwrap();
        let EmbeddingVector::Base64(b64) = &res.data[0].embedding else { panic!("base64 expected") };
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        assert_eq!(bytes, [1.0f32.to_le_bytes(), (-0.5f32).to_le_bytes()].concat());
    }

    #[test]
    fn bad_inputs_and_answers() {
        let req = EmbeddingRequest::new("m", EmbeddingInput::Tokens(vec![1, 2]));
        assert_eq!(*build_embed_request(&req, "models/m").unwrap_err().kind(), ErrorKind::BadRequest);
        let req = EmbeddingRequest::new("m", Vec::<String>::new());
        assert!(build_embed_request(&req, "models/m").is_err());
        for body in [&br#"{}"#[..], br#"{"embeddings":[{"values":["x"]}]}"#, b"nope"] {
            let err = parse_embed_response(body, EmbedMethod::Batch, "m", None).unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::Decode);
        }
    }
}
