//! SCIM filters (RFC 7644 §3.4.2.2), parsed in full into a tree: `eq ne co
//! sw ew gt ge lt le pr`, `and or not`, parentheses, value paths such as
//! `emails[type eq "work"]` (and a sub-attribute after one, as PATCH paths
//! write `emails[type eq "work"].value`). Attribute names and operators
//! are case-insensitive, so names are kept lower-cased. What a filter may
//! name is decided where it becomes SQL (`db::scim`).

use serde_json::Value;

/// A boolean as identity providers send it: `true`, or `"True"` /
/// `"false"` as text.
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// How a User list is ordered (`sortBy`): by id unless asked otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserSort {
    #[default]
    Id,
    UserName,
    Created,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// `[urn:]name[.sub]`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when written (`urn:…:User`).
    pub uri: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// `name` or `name.sub`, as written after the URN.
    pub fn dotted(&self) -> String {
        match &self.sub {
            Some(sub) => format!("{}.{sub}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

/// Why a filter did not parse, said for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

fn bad(message: impl Into<String>) -> FilterError {
    FilterError(message.into())
}

/// The longest filter accepted, and the deepest nesting.
const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Number(serde_json::Number),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    /// `.` right after `]`.
    Dot,
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            ']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
            }
            '.' if tokens.last() == Some(&Token::CloseBracket) => {
                tokens.push(Token::Dot);
                i += 1;
            }
            '"' => {
                // A JSON string: find its end, honouring escapes.
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(bad("a string in the filter is not closed"));
                }
                i += 1;
                let raw: String = chars[start..i].iter().collect();
                let value: String = serde_json::from_str(&raw)
                    .map_err(|_| bad("a string in the filter is malformed"))?;
                tokens.push(Token::Str(value));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                let number: serde_json::Number = raw
                    .parse()
                    .map_err(|_| bad(format!("\"{raw}\" is not a number")))?;
                tokens.push(Token::Number(number));
            }
            c if c.is_ascii_alphabetic() || c == '$' || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], ':' | '.' | '_' | '-' | '$'))
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(bad(format!("unexpected \"{other}\" in the filter"))),
        }
    }
    Ok(tokens)
}

/// Parses an attribute path: `name`, `name.sub`, `urn:…:name[.sub]`.
pub fn parse_path(text: &str) -> Result<AttrPath, FilterError> {
    let lower = text.to_ascii_lowercase();
    let (uri, rest) = if lower.starts_with("urn:") {
        // The URN ends at the last colon; what follows is the attribute.
        match lower.rsplit_once(':') {
            Some((uri, rest)) if !rest.is_empty() => (Some(uri.to_owned()), rest.to_owned()),
            _ => return Err(bad(format!("\"{text}\" names no attribute"))),
        }
    } else {
        (None, lower)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name.to_owned(), Some(sub.to_owned())),
        None => (rest, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
    };
    if !valid(&name) || sub.as_deref().is_some_and(|s| !valid(s)) {
        return Err(bad(format!("\"{text}\" is not an attribute path")));
    }
    Ok(AttrPath { uri, name, sub })
}

/// Parses a filter.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_LEN {
        return Err(bad(format!("a filter may be at most {MAX_LEN} characters")));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(bad("the filter is empty"));
    }
    let mut parser = Parser { tokens, at: 0 };
    let filter = parser.or(0)?;
    if parser.at != parser.tokens.len() {
        return Err(bad("the filter has more after a complete expression"));
    }
    Ok(filter)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(bad("the filter nests too deeply"));
        }
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if self.keyword("not") && self.tokens.get(self.at + 1) == Some(&Token::Open) {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.group(depth)?)));
        }
        if self.peek() == Some(&Token::Open) {
            return self.group(depth);
        }
        self.attribute(depth)
    }

    fn group(&mut self, depth: usize) -> Result<Filter, FilterError> {
        self.next(); // (
        let inner = self.or(depth + 1)?;
        match self.next() {
            Some(Token::Close) => Ok(inner),
            _ => Err(bad("a \"(\" in the filter is not closed")),
        }
    }

    fn attribute(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let word = match self.next() {
            Some(Token::Word(word)) => word,
            _ => return Err(bad("expected an attribute name in the filter")),
        };
        let path = parse_path(&word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.or(depth + 1)?;
            if self.next() != Some(Token::CloseBracket) {
                return Err(bad("a \"[\" in the filter is not closed"));
            }
            let value_path = Filter::ValuePath {
                path: path.clone(),
                filter: Box::new(inner),
            };
            // `emails[type eq "work"].value eq "x"`: the sub-attribute of
            // the matching value, compared.
            if self.peek() == Some(&Token::Dot) {
                self.at += 1;
                let sub = match self.next() {
                    Some(Token::Word(sub)) => sub.to_ascii_lowercase(),
                    _ => return Err(bad("expected a sub-attribute after \"].\"")),
                };
                let sub_path = AttrPath {
                    sub: Some(sub),
                    ..path
                };
                let compared = self.comparison(sub_path)?;
                let Filter::ValuePath { path, filter } = value_path else {
                    unreachable!("built just above")
                };
                return Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(Filter::And(filter, Box::new(compared))),
                });
            }
            return Ok(value_path);
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let op = match self.next() {
            Some(Token::Word(op)) if op.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(path));
            }
            Some(Token::Word(op)) => CompareOp::parse(&op)
                .ok_or_else(|| bad(format!("\"{op}\" is not a filter operator")))?,
            _ => {
                return Err(bad(
                    "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
                ));
            }
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Number(n)) => Value::Number(n),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
            _ => {
                return Err(bad(
                    "expected a value (a string, number, true, false or null)",
                ));
            }
        };
        Ok(Filter::Compare { path, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            uri: None,
            name: name.into(),
            sub: sub.map(Into::into),
        }
    }

    fn eq(name: &str, value: Value) -> Filter {
        Filter::Compare {
            path: path(name, None),
            op: CompareOp::Eq,
            value,
        }
    }

    #[test]
    fn parses_the_grammar() {
        assert_eq!(
            parse("userName Eq \"ann@example.com\"").unwrap(),
            eq("username", json!("ann@example.com"))
        );
        assert_eq!(
            parse("title pr and (active eq true or not (userType eq \"Intern\"))").unwrap(),
            Filter::And(
                Box::new(Filter::Present(path("title", None))),
                Box::new(Filter::Or(
                    Box::new(eq("active", json!(true))),
                    Box::new(Filter::Not(Box::new(eq("usertype", json!("Intern"))))),
                )),
            )
        );
        // and binds tighter than or.
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3").unwrap(),
            Filter::Or(
                Box::new(eq("a", json!(1))),
                Box::new(Filter::And(
                    Box::new(eq("b", json!(2))),
                    Box::new(eq("c", json!(3)))
                )),
            )
        );
        assert_eq!(
            parse("emails[type eq \"work\" and value co \"@example.com\"]").unwrap(),
            Filter::ValuePath {
                path: path("emails", None),
                filter: Box::new(Filter::And(
                    Box::new(eq("type", json!("work"))),
                    Box::new(Filter::Compare {
                        path: path("value", None),
                        op: CompareOp::Co,
                        value: json!("@example.com"),
                    }),
                )),
            }
        );
        let urn = parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"7\"",
        )
        .unwrap();
        let Filter::Compare { path: p, .. } = urn else {
            panic!("a comparison")
        };
        assert_eq!(p.name, "employeenumber");
        assert_eq!(
            p.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user")
        );
        assert_eq!(
            parse("name.familyName sw \"O'\\\"Br\"").unwrap(),
            Filter::Compare {
                path: path("name", Some("familyname")),
                op: CompareOp::Sw,
                value: json!("O'\"Br"),
            }
        );
        assert!(matches!(
            parse("emails[type eq \"work\"].value eq \"a@b.c\"").unwrap(),
            Filter::ValuePath { .. }
        ));
        assert!(matches!(
            parse("meta.lastModified gt \"2026-01-01T00:00:00Z\"").unwrap(),
            Filter::Compare {
                op: CompareOp::Gt,
                ..
            }
        ));
    }

    #[test]
    fn refuses_what_is_not_a_filter() {
        for text in [
            "",
            "userName",
            "userName eq",
            "userName xx \"a\"",
            "userName eq \"a",
            "(userName eq \"a\"",
            "userName eq \"a\" and",
            "userName eq \"a\" extra",
            "emails[type eq \"work\"",
            "1name eq \"a\"",
            "userName eq unquoted",
            "user#name eq \"a\"",
        ] {
            assert!(parse(text).is_err(), "{text:?} must not parse");
        }
        let deep = format!("{}a eq 1{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).is_err());
    }
}
