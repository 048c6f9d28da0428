//! Membership attributes and the profile fields with external standards:
//! BCP 47 locales and IANA time zones.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Invalid;

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
            attribute_value(key, value)?;
            map.insert(key.clone(), value.clone());
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

    /// The stored form: compact JSON, keys sorted.
    pub fn to_db(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
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

fn attribute_value(key: &str, value: &Value) -> Result<(), Invalid> {
    match value {
        Value::String(s) if s.contains('\0') => Err(Invalid::new(format!(
            "attribute \"{key}\" contains a NUL character"
        ))),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(Invalid::new(format!(
            "attribute \"{key}\" must be a string, a number or a boolean"
        ))),
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
        attribute_value(key, value)?;
        Ok(Self {
            key: key.to_owned(),
            json_value: value.to_string(),
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
