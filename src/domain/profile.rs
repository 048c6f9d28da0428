//! Membership attributes and the profile fields with external standards:
//! BCP 47 locales and IANA time zones.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Invalid;
use super::values::is_bidi_control;

/// At most this many keys in one membership's attributes.
pub const MAX_ATTRIBUTE_KEYS: usize = 50;
/// At most this many bytes in one membership's attributes, serialised.
pub const MAX_ATTRIBUTE_BYTES: usize = 8 * 1024;
/// At most this many characters in an attribute key.
pub const MAX_ATTRIBUTE_KEY: usize = 64;

/// A membership's attributes: a JSON object whose keys are 1–64 characters
/// of `A-Z a-z 0-9 _ . : -` and whose values are strings, numbers or
/// booleans. Stored compactly with sorted keys, so equal objects are equal
/// text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(BTreeMap<String, Value>);

impl Attributes {
    pub fn parse(value: &Value) -> Result<Self, Invalid> {
        let Value::Object(object) = value else {
            return Err(Invalid::new(
                "attributes must be a JSON object of keys to strings, numbers or booleans",
            ));
        };
        if object.len() > MAX_ATTRIBUTE_KEYS {
            return Err(Invalid::new(format!(
                "attributes may have at most {MAX_ATTRIBUTE_KEYS} keys; got {}",
                object.len()
            )));
        }
        let mut map = BTreeMap::new();
        for (key, value) in object {
            attribute_key(key)?;
            map.insert(key.clone(), attribute_value(key, value)?);
        }
        let attributes = Self(map);
        let size = attributes.to_db().len();
        if size > MAX_ATTRIBUTE_BYTES {
            return Err(Invalid::new(format!(
                "attributes may take at most {MAX_ATTRIBUTE_BYTES} bytes as JSON; got {size}"
            )));
        }
        Ok(attributes)
    }

    /// The stored form: compact JSON, keys sorted, numbers in their
    /// canonical text (see [`canonical_json`]).
    pub fn to_db(&self) -> String {
        let mut text = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&Value::String(key.clone()).to_string());
            text.push(':');
            text.push_str(&canonical_json(value));
        }
        text.push('}');
        text
    }

    /// Reads the stored form back (an unreadable value reads as `{}`).
    pub fn from_db(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|_| Value::Object(Default::default()))
    }
}

fn attribute_key(key: &str) -> Result<(), Invalid> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY || !key.chars().all(ok_char) {
        return Err(Invalid::new(format!(
            "attribute key \"{}\" must be 1 to {MAX_ATTRIBUTE_KEY} characters of letters, digits, _ . : or -",
            key.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

/// Checks one attribute value and returns it in canonical form: numbers
/// that are whole and within ±2^53 become integers, so `-0.0`, `0` and
/// `0.0` are one value, as are `1` and `1.0`.
fn attribute_value(key: &str, value: &Value) -> Result<Value, Invalid> {
    match value {
        Value::String(s) if s.chars().any(|c| c.is_control() || is_bidi_control(c)) => {
            Err(Invalid::new(format!(
                "attribute \"{key}\" contains control or text-direction characters"
            )))
        }
        Value::String(_) | Value::Bool(_) => Ok(value.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(canonical_number(f)),
            _ => Err(Invalid::new(format!(
                "attribute \"{key}\" must be a finite number"
            ))),
        },
        _ => Err(Invalid::new(format!(
            "attribute \"{key}\" must be a string, a number or a boolean"
        ))),
    }
}

/// The largest magnitude below which every whole `f64` is exact.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn canonical_number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < EXACT_INTEGER {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// A value as stored and as compared by the `attribute` filter. Numbers are
/// written in plain decimal without an exponent (`1e300` as a 1 and 300
/// zeros, `1e-7` as `0.0000001`): the text PostgreSQL's `jsonb` prints for
/// that number and the text SQLite keeps, so the same filter matches on
/// both backends.
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => match n.as_f64() {
            Some(f) => format!("{f}"),
            None => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// One `attribute` filter of the members list, ready for the database: the
/// JSON path of the key and the value as compact JSON, which is how both
/// backends render the stored value for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMatch {
    pub key: String,
    pub json_value: String,
}

impl AttributeMatch {
    pub fn parse(key: &str, value: &Value) -> Result<Self, Invalid> {
        attribute_key(key)?;
        let value = attribute_value(key, value)?;
        Ok(Self {
            key: key.to_owned(),
            json_value: canonical_json(&value),
        })
    }
}

/// A BCP 47 language tag (`en-US`, `pt-BR`, `zh-Hant-TW`), stored in its
/// conventional case (language lower, script title, region upper).
pub fn locale(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    let bad = || {
        Invalid::new(format!(
            "locale \"{}\" is not a BCP 47 language tag such as en-US",
            text.chars().take(40).collect::<String>()
        ))
    };
    if text.len() > 64 {
        return Err(bad());
    }
    let tag = language_tags::LanguageTag::parse(text).map_err(|_| bad())?;
    tag.validate().map_err(|_| bad())?;
    Ok(tag
        .canonicalize()
        .map(|t| t.to_string())
        .unwrap_or_else(|_| tag.to_string()))
}

/// An IANA time zone name (`Europe/Amsterdam`, `UTC`), as the database
/// spells it.
pub fn timezone(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    text.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| {
            Invalid::new(format!(
                "timezone \"{}\" is not an IANA time zone such as Europe/Amsterdam",
                text.chars().take(40).collect::<String>()
            ))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn attributes_are_canonical_and_bounded() {
        let a = Attributes::parse(&json!({"b": 1, "a": "x", "c": true})).unwrap();
        assert_eq!(a.to_db(), r#"{"a":"x","b":1,"c":true}"#);
        assert!(Attributes::parse(&json!({"a": null})).is_err());
        assert!(Attributes::parse(&json!({"a": [1]})).is_err());
        assert!(Attributes::parse(&json!({"bad key": 1})).is_err());
        assert!(Attributes::parse(&json!([1])).is_err());
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(Attributes::parse(&Value::Object(many)).is_err());
        assert!(Attributes::parse(&json!({"a": "x".repeat(9000)})).is_err());
        assert!(Attributes::parse(&json!({"a": "x\u{202E}y"})).is_err());
    }

    #[test]
    fn numbers_have_one_stored_form() {
        let stored = |v: Value| Attributes::parse(&json!({ "n": v })).unwrap().to_db();
        assert_eq!(stored(json!(-0.0)), r#"{"n":0}"#);
        assert_eq!(stored(json!(1.0)), r#"{"n":1}"#);
        assert_eq!(stored(json!(1.5)), r#"{"n":1.5}"#);
        assert_eq!(stored(json!(1e-7)), r#"{"n":0.0000001}"#);
        let big = stored(json!(1e300));
        assert_eq!(big, format!("{{\"n\":1{}}}", "0".repeat(300)));
        let filter = AttributeMatch::parse("n", &json!(1e300)).unwrap();
        assert!(big.contains(&filter.json_value));
        assert_eq!(
            AttributeMatch::parse("n", &json!(-0.0)).unwrap().json_value,
            "0"
        );
    }

    #[test]
    fn locales_and_timezones() {
        assert_eq!(locale("en-us").unwrap(), "en-US");
        assert_eq!(locale("zh-hant-tw").unwrap(), "zh-Hant-TW");
        assert!(locale("english!!").is_err());
        assert!(locale("").is_err());
        assert_eq!(timezone("Europe/Amsterdam").unwrap(), "Europe/Amsterdam");
        assert!(timezone("Mars/Base").is_err());
    }
}
