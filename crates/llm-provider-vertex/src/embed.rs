//! Text embeddings through `:predict` (`text-embedding-*`, `text-multilingual-embedding-*`,
//! `gemini-embedding-*`).

use base64::Engine as _;
use llm_core::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage, EmbeddingVector,
    EncodingFormat, ErrorKind, Extra, LlmError,
};
use serde_json::{Map, Value, json};

/// The most instances sent in one `predict` call (`gemini-embedding-*` models take one).
pub fn max_instances_per_call(model_id: &str) -> usize {
    if model_id.starts_with("gemini-embedding") { 1 } else { 250 }
}

/// The texts of an embedding request; token-id inputs are rejected.
pub(crate) fn texts(request: &EmbeddingRequest) -> Result<Vec<&str>, LlmError> {
    match &request.input {
        EmbeddingInput::Text(t) => Ok(vec![t.as_str()]),
        EmbeddingInput::Texts(ts) if !ts.is_empty() => Ok(ts.iter().map(String::as_str).collect()),
        EmbeddingInput::Texts(_) => Err(LlmError::bad_request("input must not be empty").with_param("input")),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
            Err(LlmError::unsupported_param("input (token ids)", "Vertex AI").with_param("input"))
        }
    }
}

/// The body of a `predict` call embedding `texts`: `{"instances": [{"content"}], "parameters"}`.
/// `dimensions` becomes `parameters.outputDimensionality`; a `task_type` extra becomes each
/// instance's `task_type`.
///
/// ```
/// let mut req = llm_core::EmbeddingRequest::new("text-embedding-005", "hi");
/// req.dimensions = Some(64);
/// let body = llm_provider_vertex::build_predict_request(&req, &["hi"]);
/// assert_eq!(body["instances"][0]["content"], "hi");
/// assert_eq!(body["parameters"]["outputDimensionality"], 64);
/// ```
pub fn build_predict_request(request: &EmbeddingRequest, texts: &[&str]) -> Value {
    let task = request.extra.get("task_type").or_else(|| request.extra.get("taskType"));
    let instances: Vec<Value> = texts
        .iter()
        .map(|t| {
            let mut instance = Map::new();
            instance.insert("content".into(), Value::String((*t).to_owned()));
            if let Some(task) = task {
                instance.insert("task_type".into(), task.clone());
            }
            Value::Object(instance)
        })
        .collect();
    let mut body = json!({ "instances": instances });
    if let Some(d) = request.dimensions {
        body["parameters"] = json!({ "outputDimensionality": d });
    }
    body
}

/// Parses a `predict` answer: `predictions[].embeddings.values`, with the token count summed
/// from `predictions[].embeddings.statistics.token_count`. Returns the vectors (encoded as
/// `encoding` asks, base64 being little-endian `f32`s) and the token count.
pub fn parse_predict_response(
    body: &[u8],
    encoding: Option<EncodingFormat>,
) -> Result<(Vec<EmbeddingVector>, u64), LlmError> {
    let value: Value = serde_json::from_slice(body)?;
    let predictions = value
        .get("predictions")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| LlmError::new(ErrorKind::Decode, "Vertex AI answered without predictions"))?;
    let mut vectors = Vec::with_capacity(predictions.len());
    let mut tokens = 0u64;
    for p in predictions {
        let embeddings = p.get("embeddings");
        let values: Vec<f64> = embeddings
            .and_then(|e| e.get("values"))
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
            .ok_or_else(|| {
                LlmError::new(ErrorKind::Decode, "a Vertex AI prediction has no numeric embedding")
            })?;
        tokens += embeddings
            .and_then(|e| e.pointer("/statistics/token_count"))
            .and_then(|c| c.as_u64().or_else(|| c.as_f64().map(|f| f as u64)))
            .unwrap_or(0);
        vectors.push(match encoding {
            Some(EncodingFormat::Base64) => {
                let bytes: Vec<u8> = values.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
                EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            _ => EmbeddingVector::Float(values),
        });
    }
    Ok((vectors, tokens))
}

/// Assembles the OpenAI-shaped answer from the vectors of every call, in input order.
pub(crate) fn embedding_response(
    model: &str,
    vectors: Vec<EmbeddingVector>,
    tokens: u64,
) -> EmbeddingResponse {
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, embedding)| Embedding {
            object: "embedding".into(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            embedding,
            extra: Extra::new(),
        })
        .collect();
    EmbeddingResponse {
        object: "list".into(),
        data,
        model: model.to_owned(),
        usage: EmbeddingUsage { prompt_tokens: tokens, total_tokens: tokens, extra: Extra::new() },
        extra: Extra::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_and_bad_answers() {
        let body = br#"{"predictions":[{"embeddings":{"values":[0.5,-1],"statistics":{"token_count":3,"truncated":false}}},
            {"embeddings":{"values":[2],"statistics":{"token_count":4.0}}}]}"#;
        let (vectors, tokens) = parse_predict_response(body, None).unwrap();
        assert_eq!(vectors, vec![EmbeddingVector::Float(vec![0.5, -1.0]), EmbeddingVector::Float(vec![2.0])]);
        assert_eq!(tokens, 7);
        let (b64, _) = parse_predict_response(body, Some(EncodingFormat::Base64)).unwrap();
        let EmbeddingVector::Base64(text) = &b64[1] else { panic!("base64 expected") };
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(text).unwrap(), 2.0f32.to_le_bytes());
        for bad in [
            &b"{}"[..],
            br#"{"predictions":[]}"#,
            br#"{"predictions":[{"embeddings":{"values":["x"]}}]}"#,
            b"nope",
        ] {
            assert_eq!(*parse_predict_response(bad, None).unwrap_err().kind(), ErrorKind::Decode);
        }
    }

    #[test]
    fn inputs() {
        let req = EmbeddingRequest::new("m", EmbeddingInput::Tokens(vec![1]));
        assert_eq!(*texts(&req).unwrap_err().kind(), ErrorKind::BadRequest);
        assert!(texts(&EmbeddingRequest::new("m", Vec::<String>::new())).is_err());
        let mut req = EmbeddingRequest::new("m", vec!["a".to_owned(), "b".to_owned()]);
        req.extra.insert("task_type".into(), json!("RETRIEVAL_QUERY"));
        let body = build_predict_request(&req, &texts(&req).unwrap());
        assert_eq!(
            body,
            json!({"instances": [{"content": "a", "task_type": "RETRIEVAL_QUERY"},
            {"content": "b", "task_type": "RETRIEVAL_QUERY"}]})
        );
    }
}
