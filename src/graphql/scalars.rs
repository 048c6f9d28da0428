//! The `Uuid` scalar of the contract (async-graphql's own is named `UUID`).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::domain::{GroupId, OrgId, UserId};

/// A UUID in its hyphenated text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uuid(pub uuid::Uuid);

#[Scalar(name = "Uuid")]
impl ScalarType for Uuid {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => uuid::Uuid::parse_str(text.trim())
                .map(Uuid)
                .map_err(|_| InputValueError::custom(format!("\"{text}\" is not a valid UUID"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.hyphenated().to_string())
    }
}

impl From<uuid::Uuid> for Uuid {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl From<Uuid> for OrgId {
    fn from(id: Uuid) -> Self {
        Self(id.0)
    }
}

impl From<Uuid> for UserId {
    fn from(id: Uuid) -> Self {
        Self(id.0)
    }
}

impl From<Uuid> for GroupId {
    fn from(id: Uuid) -> Self {
        Self(id.0)
    }
}
