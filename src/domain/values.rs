//! Validated values: each constructor trims, normalises and checks, so a
//! value of these types is always fit to store.

use unicode_normalization::UnicodeNormalization;

use super::Invalid;

fn bounded(field: &str, text: &str, max: usize) -> Result<String, Invalid> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(Invalid::new(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(Invalid::new(format!(
            "{field} contains control or text-direction characters"
        )));
    }
    Ok(text.to_owned())
}

/// Characters that reorder how text is displayed (the Unicode bidirectional
/// embeddings, overrides, isolates and marks). Shown in a name or an id they
/// can make one value look like another, so no stored text may hold them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that take no space when shown: zero-width spaces and joiners,
/// the word joiner and the byte-order mark. An email address with one looks
/// like another address.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

fn required(field: &str, text: &str, max: usize) -> Result<String, Invalid> {
    let text = bounded(field, text, max)?;
    if text.is_empty() {
        return Err(Invalid::new(format!("{field} must not be empty")));
    }
    Ok(text)
}

/// An optional free-text field: blank becomes `None`.
pub fn optional_text(
    field: &str,
    text: Option<&str>,
    max: usize,
) -> Result<Option<String>, Invalid> {
    match text {
        None => Ok(None),
        Some(text) => Ok(Some(bounded(field, text, max)?).filter(|t| !t.is_empty())),
    }
}

/// The lower-cased form a name is searched by. Computed here rather than by
/// SQL `lower()`, which folds only ASCII on SQLite.
pub fn search_key(text: &str) -> String {
    text.to_lowercase()
}

/// A search term or lookup key as given by a caller: trimmed, at most 200
/// characters, no control characters (PostgreSQL refuses NUL in text).
pub fn search_term(field: &str, text: &str) -> Result<String, Invalid> {
    bounded(field, text, 200)
}

/// An email address in the form it is stored and compared by: trimmed,
/// Unicode NFC, lower-cased, and with an internationalised domain in its
/// ASCII (punycode) form, so that two spellings of one address are one
/// user.
///
/// Refused: control, text-direction and zero-width characters; quoted local
/// parts; domain literals (`a@[127.0.0.1]`); domains without a dot; labels
/// that start or end with `-`. The grammar itself is the `email_address`
/// crate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// The longest address SMTP can carry (RFC 5321 path limit less `<>`).
const MAX_EMAIL: usize = 254;

impl Email {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(format!(
                "\"{}\" is not a valid email address",
                shorten(text)
            ))
        };
        let trimmed = text.trim();
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c) || is_invisible(c))
        {
            return Err(bad());
        }
        let email: String = trimmed.nfc().collect::<String>().to_lowercase();
        let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
        if local.starts_with('"') || domain.starts_with('[') || domain.ends_with('.') {
            return Err(bad());
        }
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| bad())?;
        let email = format!("{local}@{domain}");
        let options = email_address::Options {
            minimum_sub_domains: 2,
            allow_domain_literal: false,
            allow_display_text: false,
            allow_long_local_parts: false,
        };
        if email.len() > MAX_EMAIL
            || email_address::EmailAddress::parse_with_options(&email, options).is_err()
        {
            return Err(bad());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A mobile number as given, with the digits-only form used for matching,
/// so "+31 6 1234-5678" and "+31612345678" are the same number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mobile {
    pub display: String,
    pub normalized: String,
}

impl Mobile {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let display = text.trim();
        let bad = |why: &str| {
            Invalid::new(format!(
                "\"{}\" is not a valid mobile number: {why}",
                shorten(text)
            ))
        };
        let mut normalized = String::with_capacity(display.len());
        for (i, c) in display.chars().enumerate() {
            match c {
                '0'..='9' => normalized.push(c),
                '+' if i == 0 => normalized.push(c),
                ' ' | '-' | '.' | '(' | ')' | '/' => {}
                _ => return Err(bad("use digits, an optional leading +, spaces or dashes")),
            }
        }
        let digits = normalized.trim_start_matches('+').len();
        if !(4..=15).contains(&digits) {
            return Err(bad("it must have 4 to 15 digits"));
        }
        Ok(Self {
            display: display.to_owned(),
            normalized,
        })
    }

    /// Only the matching form of a search term; it need not be a full number.
    pub fn normalize_for_search(text: &str) -> Result<String, Invalid> {
        Self::parse(text).map(|m| m.normalized)
    }
}

/// A first or last name.
pub struct PersonName;

impl PersonName {
    pub fn first(text: &str) -> Result<String, Invalid> {
        required("first name", text, 100)
    }

    pub fn last(text: &str) -> Result<String, Invalid> {
        bounded("last name", text, 100)
    }

    pub fn display(text: &str) -> Result<String, Invalid> {
        required("name", text, 200)
    }
}

/// The display name a user gets when none is given: "first last".
pub fn display_name(first: &str, last: &str) -> String {
    format!("{first} {last}").trim().to_owned()
}

/// The most characters an externalId may have, on write and on lookup
/// alike, so that every stored one can be found again.
pub const MAX_EXTERNAL_ID: usize = 255;

/// An org's own id for a person: non-empty, at most [`MAX_EXTERNAL_ID`]
/// characters, no control or text-direction characters.
pub struct ExternalId;

impl ExternalId {
    pub fn parse(text: &str) -> Result<String, Invalid> {
        required("externalId", text, MAX_EXTERNAL_ID)
    }
}

/// The name an org gives an API token: 1 to 100 characters, unique in the
/// org.
pub struct TokenName;

impl TokenName {
    pub fn parse(text: &str) -> Result<String, Invalid> {
        required("token name", text, 100)
    }
}

/// An org's url-safe handle: lower-case letters, digits and dashes.
pub struct Slug;

impl Slug {
    pub fn parse(text: &str) -> Result<String, Invalid> {
        let slug = text.trim();
        let ok = (2..=63).contains(&slug.len())
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if ok {
            Ok(slug.to_owned())
        } else {
            Err(Invalid::new(format!(
                "slug \"{}\" must be 2 to 63 lower-case letters, digits or dashes, \
                 not starting or ending with a dash",
                shorten(text)
            )))
        }
    }
}

/// An org's display name.
pub struct OrgName;

impl OrgName {
    pub fn parse(text: &str) -> Result<String, Invalid> {
        required("org name", text, 200)
    }
}

/// A group's name and the key that makes it unique within the org,
/// ignoring case.
pub struct GroupName;

impl GroupName {
    pub fn parse(text: &str) -> Result<(String, String), Invalid> {
        let name = required("group name", text, 200)?;
        let key = search_key(&name);
        Ok((name, key))
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.trim().chars().take(60).collect();
    if text.trim().chars().count() > 60 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ann.Lee@Example.COM ").unwrap().as_str(),
            "ann.lee@example.com"
        );
        for bad in [
            "",
            "ann",
            "@x.org",
            "ann@",
            "a b@x.org",
            "ann@x..org",
            "ann@.x",
            "ann@localhost",
            "ann@[127.0.0.1]",
            "\"ann lee\"@x.org",
            "ann@-x.org",
            "ann@x-.org",
            "ann@x.org.",
            "an\u{200B}n@x.org",
            "ann@x\u{202E}gro.org",
            "ann\u{0007}@x.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn email_spellings_of_one_address_are_equal() {
        // NFC: "é" precomposed and as e + combining accent.
        assert_eq!(
            Email::parse("Jos\u{e9}@example.com").unwrap(),
            Email::parse("Jose\u{301}@example.com").unwrap()
        );
        // An internationalised domain is kept in its ASCII form.
        assert_eq!(
            Email::parse("ann@Bücher.example").unwrap().as_str(),
            "ann@xn--bcher-kva.example"
        );
        assert_eq!(
            Email::parse("ann@bücher.example").unwrap(),
            Email::parse("ann@xn--bcher-kva.example").unwrap()
        );
    }

    #[test]
    fn names_and_ids_refuse_direction_overrides() {
        assert!(PersonName::first("Ann\u{202E}").is_err());
        assert!(ExternalId::parse("e-\u{2066}1").is_err());
        assert!(ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID)).is_ok());
        assert!(ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID + 1)).is_err());
        assert!(PersonName::first("Zoë").is_ok());
    }

    #[test]
    fn mobile_forms_match() {
        let a = Mobile::parse("+31 6 1234-5678").unwrap();
        let b = Mobile::parse("+31612345678").unwrap();
        assert_eq!(a.normalized, b.normalized);
        assert_eq!(a.display, "+31 6 1234-5678");
        assert!(Mobile::parse("call me").is_err());
        assert!(Mobile::parse("12").is_err());
        assert!(Mobile::parse("1+2345").is_err());
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme-corp").is_ok());
        for bad in ["A", "Acme", "-acme", "acme-", "ac me", "a"] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn group_names_compare_without_case() {
        assert_eq!(
            GroupName::parse(" Sales ").unwrap(),
            ("Sales".into(), "sales".into())
        );
    }

    #[test]
    fn display_name_defaults() {
        assert_eq!(display_name("Ann", ""), "Ann");
        assert_eq!(display_name("Ann", "Lee"), "Ann Lee");
    }
}
