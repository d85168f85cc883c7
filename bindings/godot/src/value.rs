//! A small, engine-free picture of a Godot `Variant`: what a GDScript `Dictionary` holds once it
//! crosses into Rust, and what the node hands back to GDScript.
//!
//! The node's logic (options into join parameters, results and events into signal arguments)
//! works on this type only, so it is unit-tested without a running engine: a `Variant` cannot
//! even be constructed outside Godot. `convert.rs` is the one place that maps it to and from
//! real `Variant`s.

use std::collections::BTreeMap;

/// A value as GDScript sees it. `Other` stands for every Variant type the binding does not read
/// (vectors, objects, packed arrays of numbers, ...) and keeps its Godot type name for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A `String` or a `StringName` (GDScript's `&"name"`): both read as text.
    String(String),
    /// An `Array` or a `PackedStringArray`.
    Array(Vec<Value>),
    /// A `Dictionary` whose keys are text (other keys are dropped: no option is named by them).
    Dict(BTreeMap<String, Value>),
    Other(String),
}

impl Value {
    /// The GDScript name of the value's type, as error messages quote it.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "String",
            Value::Array(_) => "Array",
            Value::Dict(_) => "Dictionary",
            Value::Other(name) => name,
        }
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Dict(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn strings(list: &[String]) -> Value {
        Value::Array(list.iter().cloned().map(Value::String).collect())
    }

    pub fn as_dict(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Dict(map) => Some(map),
            _ => None,
        }
    }

    /// What the SDK's JSON (state data, statistics) reads as in GDScript. JSON numbers that
    /// are integers stay `int`; the others become `float`.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Dict(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// `from_json` of a JSON text; text that is not JSON is kept as `{"raw": text}`, so a
    /// signal always carries a Dictionary.
    pub fn from_json_text(text: &str) -> Value {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(json @ serde_json::Value::Object(_)) => Value::from_json(&json),
            _ => Value::dict([("raw", Value::String(text.to_owned()))]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_keep_their_kind() {
        let v = Value::from_json_text(r#"{"a":1,"b":1.5,"c":[true,null],"d":"x"}"#);
        assert_eq!(
            v,
            Value::dict([
                ("a", Value::Int(1)),
                ("b", Value::Float(1.5)),
                ("c", Value::Array(vec![Value::Bool(true), Value::Nil])),
                ("d", Value::String("x".into())),
            ])
        );
    }

    #[test]
    fn text_that_is_not_a_json_object_is_kept_raw() {
        for text in ["not json", "[1,2]", ""] {
            assert_eq!(
                Value::from_json_text(text),
                Value::dict([("raw", Value::String(text.into()))])
            );
        }
    }

    #[test]
    fn type_names_are_gdscripts() {
        assert_eq!(Value::Int(1).type_name(), "int");
        assert_eq!(Value::Float(1.0).type_name(), "float");
        assert_eq!(Value::Nil.type_name(), "null");
        assert_eq!(Value::Other("Vector2".into()).type_name(), "Vector2");
    }
}
