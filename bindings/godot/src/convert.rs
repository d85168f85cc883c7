//! The one place where Godot `Variant`s meet the engine-free [`Value`]: GDScript's option
//! dictionaries in, signal arguments out. Kept trivial, since it only runs inside an engine.

use godot::builtin::{
    AnyDictionary, GString, PackedStringArray, StringName, VarArray, VarDictionary, Variant,
    VariantType,
};
use godot::meta::ToGodot;
use godot::obj::EngineEnum;

use crate::value::Value;

/// Deeper than any option dictionary; also what stops a dictionary that contains itself.
const MAX_DEPTH: usize = 16;

pub fn dictionary_to_value(dict: &AnyDictionary) -> Value {
    dict_to_value(dict, 0)
}

fn dict_to_value(dict: &AnyDictionary, depth: usize) -> Value {
    Value::Dict(
        dict.iter_shared()
            .filter_map(|(key, value)| {
                let key = match key.get_type() {
                    VariantType::STRING => key.to::<GString>().to_string(),
                    VariantType::STRING_NAME => key.to::<StringName>().to_string(),
                    _ => return None,
                };
                Some((key, variant_to_value(&value, depth + 1)))
            })
            .collect(),
    )
}

pub fn variant_to_value(variant: &Variant, depth: usize) -> Value {
    let ty = variant.get_type();
    let other = || Value::Other(type_name(ty));
    match ty {
        VariantType::NIL => Value::Nil,
        VariantType::BOOL => variant
            .try_to::<bool>()
            .map_or_else(|_| other(), Value::Bool),
        VariantType::INT => variant.try_to::<i64>().map_or_else(|_| other(), Value::Int),
        VariantType::FLOAT => variant
            .try_to::<f64>()
            .map_or_else(|_| other(), Value::Float),
        VariantType::STRING => Value::String(variant.to::<GString>().to_string()),
        VariantType::STRING_NAME => Value::String(variant.to::<StringName>().to_string()),
        VariantType::DICTIONARY if depth < MAX_DEPTH => match variant.try_to::<AnyDictionary>() {
            Ok(dict) => dict_to_value(&dict, depth),
            Err(_) => other(),
        },
        // No option is an array; arrays and everything else are reported by type name only.
        _ => other(),
    }
}

/// GDScript's name of a Variant type ("int", "PackedByteArray"), as messages quote it.
fn type_name(ty: VariantType) -> String {
    godot::global::type_string(ty.ord() as i64).to_string()
}

pub fn strings(list: &[String]) -> PackedStringArray {
    list.iter().map(GString::from).collect()
}

pub fn value_to_variant(value: &Value) -> Variant {
    match value {
        Value::Nil | Value::Other(_) => Variant::nil(),
        Value::Bool(b) => b.to_variant(),
        Value::Int(i) => i.to_variant(),
        Value::Float(f) => f.to_variant(),
        Value::String(s) => GString::from(s.as_str()).to_variant(),
        Value::Array(items) => {
            let texts: Option<Vec<String>> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            match texts {
                // A list of open ids reads best as a PackedStringArray, as the signals pass it.
                Some(texts) if !items.is_empty() => strings(&texts).to_variant(),
                _ => {
                    let mut array = VarArray::new();
                    for item in items {
                        array.push(&value_to_variant(item));
                    }
                    array.to_variant()
                }
            }
        }
        Value::Dict(_) => value_to_dictionary(value).to_variant(),
    }
}

/// A `Value::Dict` as a Dictionary (anything else gives an empty one).
pub fn value_to_dictionary(value: &Value) -> VarDictionary {
    let mut dict = VarDictionary::new();
    if let Value::Dict(map) = value {
        for (key, item) in map {
            dict.set(
                &GString::from(key.as_str()).to_variant(),
                &value_to_variant(item),
            );
        }
    }
    dict
}
