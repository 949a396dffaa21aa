//! Turning a caller's JSON schema into the OpenAPI-subset `Schema` object Gemini accepts.
//!
//! See [`to_gemini_schema`] for what is kept and dropped.

use serde_json::{Map, Value};

/// How deep local `$ref`s are followed before the reference is dropped (guards against cycles).
const MAX_REF_DEPTH: usize = 8;

/// Keywords copied unchanged when present.
const SCALAR_KEYWORDS: &[&str] = &[
    "format",
    "title",
    "description",
    "nullable",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "default",
    "example",
    "propertyOrdering",
];

/// Converts a JSON schema into Gemini's schema subset.
///
/// Gemini's `parameters` and `responseSchema` take a restricted schema object and reject requests
/// carrying keywords it does not know. Only these keywords are kept:
/// `type`, `format`, `title`, `description`, `nullable`, `enum` (string values only), `items`,
/// `properties`, `required`, `anyOf`, `minItems`, `maxItems`, `minProperties`, `maxProperties`,
/// `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`, `default`, `example` and
/// `propertyOrdering`. Everything else is dropped, notably `$schema`, `$id`, `additionalProperties`,
/// `strict`, `$comment`, `examples`, `allOf`, `not`, `exclusiveMinimum`/`exclusiveMaximum`,
/// `uniqueItems`,
/// `const` (turned into a one-value `enum` when it is a string) and `$defs`/`definitions`
/// (local `$ref`s to them are inlined, to a bounded depth). `oneOf` is read as `anyOf`; a
/// `null` branch of either becomes `nullable: true`, and a single remaining branch is merged.
///
/// A JSON-schema `type` list such as `["string", "null"]` becomes `type: "STRING"` with
/// `nullable: true`. Type names are upper-cased (`object` → `OBJECT`), as the `Type` enum
/// of the API spells them.
///
/// ```
/// use serde_json::json;
/// let schema = json!({
///     "$schema": "http://json-schema.org/draft-07/schema#",
///     "type": "object",
///     "properties": {"city": {"type": ["string", "null"]}},
///     "required": ["city"],
///     "additionalProperties": false
/// });
/// assert_eq!(
///     llm_provider_gemini::to_gemini_schema(&schema),
///     json!({"type": "OBJECT", "properties": {"city": {"type": "STRING", "nullable": true}}, "required": ["city"]})
/// );
/// ```
pub fn to_gemini_schema(schema: &Value) -> Value {
    let defs = collect_defs(schema);
    convert(schema, &defs, 0)
}

fn collect_defs(schema: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(m)) = schema.get(key) {
            for (k, v) in m {
                defs.insert(k.clone(), v.clone());
            }
        }
    }
    defs
}

fn resolve<'a>(reference: &str, defs: &'a Map<String, Value>) -> Option<&'a Value> {
    let name = reference.strip_prefix("#/$defs/").or_else(|| reference.strip_prefix("#/definitions/"))?;
    defs.get(name)
}

fn convert(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Value::Object(src) = schema else {
        // `true`/`false` schemas and garbage: an unconstrained schema.
        return Value::Object(Map::new());
    };
    if let Some(Value::String(reference)) = src.get("$ref") {
        return match resolve(reference, defs) {
            Some(target) if depth < MAX_REF_DEPTH => convert(target, defs, depth + 1),
            _ => Value::Object(Map::new()),
        };
    }
    let mut out = Map::new();
    match src.get("type") {
        Some(Value::String(t)) => {
            out.insert("type".into(), Value::String(t.to_ascii_uppercase()));
        }
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            let non_null: Vec<&str> =
                names.iter().copied().filter(|t| !t.eq_ignore_ascii_case("null")).collect();
            if let [only] = non_null.as_slice() {
                out.insert("type".into(), Value::String(only.to_ascii_uppercase()));
            }
            if non_null.len() < names.len() {
                out.insert("nullable".into(), Value::Bool(true));
            }
        }
        _ => {}
    }
    for key in SCALAR_KEYWORDS {
        if let Some(v) = src.get(*key) {
            out.insert((*key).to_owned(), v.clone());
        }
    }
    if let Some(Value::Array(values)) = src.get("enum") {
        let strings: Vec<Value> = values.iter().filter(|v| v.is_string()).cloned().collect();
        if strings.len() == values.len() && !strings.is_empty() {
            out.insert("enum".into(), Value::Array(strings));
        }
    } else if let Some(Value::String(c)) = src.get("const") {
        out.insert("enum".into(), Value::Array(vec![Value::String(c.clone())]));
    }
    if let Some(Value::Object(props)) = src.get("properties") {
        let converted: Map<String, Value> =
            props.iter().map(|(k, v)| (k.clone(), convert(v, defs, depth))).collect();
        out.insert("properties".into(), Value::Object(converted));
    }
    if let Some(Value::Array(required)) = src.get("required") {
        let names: Vec<Value> = required.iter().filter(|v| v.is_string()).cloned().collect();
        if !names.is_empty() {
            out.insert("required".into(), Value::Array(names));
        }
    }
    if let Some(items) = src.get("items") {
        out.insert("items".into(), convert(items, defs, depth));
    }
    if let Some(Value::Array(any_of)) = src.get("anyOf").or_else(|| src.get("oneOf")) {
        let converted: Vec<Value> = any_of
            .iter()
            .filter(|s| {
                !s.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("null"))
            })
            .map(|s| convert(s, defs, depth))
            .collect();
        if converted.len() < any_of.len() {
            out.insert("nullable".into(), Value::Bool(true));
        }
        match converted.len() {
            0 => {}
            1 => {
                if let Some(Value::Object(single)) = converted.into_iter().next() {
                    for (k, v) in single {
                        out.entry(k).or_insert(v);
                    }
                }
            }
            _ => {
                out.insert("anyOf".into(), Value::Array(converted));
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_rejected_keywords_recursively() {
        let s = json!({
            "type": "object", "strict": true, "$id": "x", "additionalProperties": false,
            "properties": {"list": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"},
                "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}}}}}
        });
        assert_eq!(
            to_gemini_schema(&s),
            json!({"type": "OBJECT", "properties": {"list": {"type": "ARRAY", "items": {"type": "OBJECT",
                "properties": {"n": {"type": "INTEGER"}}}}}})
        );
    }

    #[test]
    fn inlines_local_refs_and_stops_on_cycles() {
        let s = json!({
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
            "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}, "bad": {"$ref": "http://x"}}
        });
        let out = to_gemini_schema(&s);
        assert_eq!(out["properties"]["root"]["type"], "OBJECT");
        assert_eq!(out["properties"]["bad"], json!({}));
        assert!(out.get("$defs").is_none());
        // The cycle is cut after a bounded depth instead of recursing forever.
        let mut node = &out["properties"]["root"];
        let mut depth = 0;
        while let Some(next) = node.get("properties").and_then(|p| p.get("next")) {
            node = next;
            depth += 1;
        }
        assert_eq!(depth, MAX_REF_DEPTH);
    }

    #[test]
    fn nullable_forms_and_enums() {
        let s = json!({"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]});
        assert_eq!(to_gemini_schema(&s), json!({"nullable": true, "type": "STRING", "enum": ["a", "b"]}));
        assert_eq!(to_gemini_schema(&json!({"enum": [1, 2]})), json!({}));
        assert_eq!(to_gemini_schema(&json!({"const": "x"})), json!({"enum": ["x"]}));
        assert_eq!(to_gemini_schema(&json!(true)), json!({}));
    }
}
