//! Canonical JSON, as the Matrix specification requires of event contents:
//! integers only, within ±(2^53−1); no floats; no duplicate keys; no lone
//! surrogates. [`parse`] checks all of it while building the value that
//! schemas and rules then read, so a content is parsed once.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The largest integer canonical JSON allows (2^53 − 1).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Parses `text` as canonical JSON; the error says what is not canonical.
///
/// serde_json itself refuses lone surrogates in `\u` escapes and numbers
/// out of range (`1e400`); floats, large integers and duplicate keys are
/// refused here.
pub fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str::<Canonical>(text)
        .map(|Canonical(value)| value)
        .map_err(|error| error.to_string())
}

struct Canonical(Value);

impl<'de> Deserialize<'de> for Canonical {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(CanonicalVisitor)
            .map(Canonical)
    }
}

struct CanonicalVisitor;

impl<'de> Visitor<'de> for CanonicalVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("canonical JSON")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&value) {
            Ok(Value::from(value))
        } else {
            Err(E::custom(format!("integer {value} is outside ±(2^53−1)")))
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        match i64::try_from(value) {
            Ok(value) => self.visit_i64(value),
            Err(_) => Err(E::custom(format!("integer {value} is outside ±(2^53−1)"))),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Err(E::custom(format!(
            "{value} is not an integer: canonical JSON has no floats"
        )))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Canonical(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Canonical(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn canonical_contents_parse() {
        let value = parse(r#"{"body":"h\u00e9 \ud83d\ude00","n":9007199254740991,"m":-9007199254740991,"a":[true,null]}"#)
            .expect("canonical");
        assert_eq!(value["n"], 9_007_199_254_740_991_i64);
    }

    #[test]
    fn non_canonical_contents_are_refused() {
        for text in [
            r#"{"n":1e400}"#,
            r#"{"n":1.5}"#,
            r#"{"n":1e2}"#,
            r#"{"n":9007199254740992}"#,
            r#"{"n":-9007199254740992}"#,
            r#"{"n":18446744073709551616}"#,
            r#"{"body":"\ud800"}"#,
            r#"{"body":"\udc00x"}"#,
            r#"{"\ud800":1}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"a":1,"a":1}}"#,
        ] {
            assert!(parse(text).is_err(), "{text} was accepted");
        }
    }
}
