//! Rebuilding function-call arguments streamed as `partialArgs` (`jsonPath` + value pieces).
//!
//! With `streamFunctionCallArguments`, Gemini sends a call's name first, then pieces such as
//! `{"jsonPath": "$.recipe.steps[1]", "stringValue": "Cook", "willContinue": true}`; string pieces
//! for one path are concatenated, numbers, booleans and nulls are set whole.

use llm_core::LlmError;
use serde_json::{Map, Value};

use crate::wire::PartialArg;

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The largest array index accepted in a path, so a hostile path cannot allocate gigabytes.
const MAX_INDEX: usize = 100_000;

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']")?;
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let index: usize = after[..end].parse().ok()?;
            if index > MAX_INDEX {
                return None;
            }
            steps.push(Step::Index(index));
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The slot at `steps` inside `root`, created (objects and arrays, as the steps say) when missing.
fn slot<'a>(root: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut node = root;
    for step in steps {
        node = match step {
            Step::Key(key) => {
                if !node.is_object() {
                    *node = Value::Object(Map::new());
                }
                node.as_object_mut()?.entry(key.clone()).or_insert(Value::Null)
            }
            Step::Index(i) => {
                if !node.is_array() {
                    *node = Value::Array(Vec::new());
                }
                let array = node.as_array_mut()?;
                if array.len() <= *i {
                    array.resize(i + 1, Value::Null);
                }
                array.get_mut(*i)?
            }
        };
    }
    Some(node)
}

/// Applies one piece to the arguments object being built.
pub(crate) fn apply(args: &mut Value, piece: &PartialArg) -> Result<(), LlmError> {
    let steps = parse_path(&piece.json_path).ok_or_else(|| {
        LlmError::new(
            llm_core::ErrorKind::Decode,
            format!("Gemini sent an unreadable function-argument path {:?}", piece.json_path),
        )
    })?;
    let Some(target) = slot(args, &steps) else {
        return Ok(());
    };
    if let Some(s) = &piece.string_value {
        match target {
            Value::String(existing) => existing.push_str(s),
            other => *other = Value::String(s.clone()),
        }
    } else if let Some(n) = &piece.number_value {
        *target = Value::Number(n.clone());
    } else if let Some(b) = piece.bool_value {
        *target = Value::Bool(b);
    } else if piece.null_value.is_some() {
        *target = Value::Null;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn piece(path: &str, mut v: Value) -> PartialArg {
        v["jsonPath"] = json!(path);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn builds_nested_values() {
        let mut args = Value::Object(Map::new());
        for (path, v) in [
            ("$.a.list[1].name", json!({"stringValue": "Bo"})),
            ("$.a.list[1].name", json!({"stringValue": "b"})),
            ("$.a.list[0]", json!({"numberValue": 0.5})),
            ("$['odd key']", json!({"boolValue": true})),
            ("$.n", json!({"nullValue": "NULL_VALUE"})),
        ] {
            apply(&mut args, &piece(path, v)).unwrap();
        }
        assert_eq!(args, json!({"a": {"list": [0.5, {"name": "Bob"}]}, "odd key": true, "n": null}));
    }

    #[test]
    fn bad_paths_are_decode_errors() {
        for path in ["", "a", "$.", "$[x]", "$[99999999999]", "$['open"] {
            assert!(apply(&mut json!({}), &piece(path, json!({"stringValue": "x"}))).is_err(), "{path}");
        }
    }
}
