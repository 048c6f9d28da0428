//! Typed ids: an `OrgId` cannot be passed where a `UserId` is expected.
//!
//! All ids are UUIDs; new ones are v7 so they sort by creation time. The
//! database stores them as their hyphenated lower-case text, the one form
//! both backends share.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::Corrupt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The text form the database keeps.
            pub fn as_db(&self) -> String {
                self.0.hyphenated().to_string()
            }

            /// Reads an id back from the database's text form. Every stored
            /// id was written by `as_db`, so a malformed one is corrupted
            /// data: an error, never a made-up id.
            pub fn from_db(text: &str) -> Result<Self, Corrupt> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| Corrupt(format!("malformed {} {text:?}", stringify!($name))))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// An organisation.
    OrgId
);
id_type!(
    /// A global user identity.
    UserId
);
id_type!(
    /// A group inside one org.
    GroupId
);
