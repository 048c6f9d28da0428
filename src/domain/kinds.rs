//! The closed sets of the domain: roles and statuses.
//!
//! The core admin API takes these as case-insensitive strings; the stored
//! form is the lower-case word.

use super::Invalid;

macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// The stored, lower-case form.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $word),+ }
            }

            /// Parses the word, ignoring case and surrounding blanks.
            pub fn parse(text: &str) -> Result<Self, Invalid> {
                let word = text.trim();
                $(if word.eq_ignore_ascii_case($word) { return Ok(Self::$variant); })+
                Err(Invalid::new(format!(
                    concat!($what, " must be one of: {}; got \"{}\""),
                    [$($word),+].join(", "),
                    word.chars().take(40).collect::<String>(),
                )))
            }

            /// Reads the stored form back; unknown words fall back to the
            /// first (least privileged) variant.
            pub fn from_db(text: &str) -> Self {
                Self::parse(text).unwrap_or([$(Self::$variant),+][0])
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum!(
    /// A member's role in an org.
    Role, "role" { User => "user", Admin => "admin" }
);
word_enum!(
    /// Whether a membership is in force.
    MemberStatus, "status" { Active => "active", Retired => "retired" }
);
word_enum!(
    /// Whether an org's tokens are honoured.
    OrgStatus, "org status" { Active => "active", Suspended => "suspended" }
);
word_enum!(
    /// A member's role in a group.
    GroupRole, "group role" { Member => "member", Manager => "manager" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_and_rejects_others() {
        assert_eq!(Role::parse(" ADMIN ").unwrap(), Role::Admin);
        assert_eq!(
            MemberStatus::parse("Retired").unwrap(),
            MemberStatus::Retired
        );
        let err = MemberStatus::parse("gone").unwrap_err();
        assert!(err.0.contains("active, retired"), "{err}");
    }
}
