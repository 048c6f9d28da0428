//! The console's page frame and the small pieces pages share.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::CSRF_FIELD;

/// htmx settings: no inline styles or eval (the CSP forbids both), no
/// copies of pages in local storage (they hold people's data), and error
/// pages swapped in like any other so their sentence is seen.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"refreshOnHistoryMiss":true,"selfRequestsOnly":true,"responseHandling":[{"code":"204","swap":false},{"code":"[2345]..","swap":true}]}"#;

/// A sentence shown above a page's content.
#[derive(Debug, Clone)]
pub enum Notice {
    Ok(String),
    Error(String),
}

impl Notice {
    pub fn render(&self) -> Markup {
        match self {
            Self::Ok(text) => html! { div.notice.ok role="status" { (text) } },
            Self::Error(text) => html! { div.notice.error role="alert" { (text) } },
        }
    }
}

/// Which section of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Members,
    Groups,
    Activity,
    Integrations,
    Import,
    Orgs,
}

/// What the frame around a signed-in page needs.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The org's id and name, when the page is about one.
    pub org: Option<(&'a str, &'a str)>,
    pub section: Section,
    pub csrf: &'a str,
    pub operator: bool,
    pub notice: Option<Notice>,
}

/// A whole page for a signed-in caller.
pub fn page(frame: Frame<'_>, content: Markup) -> Markup {
    let link = |section: Section, path: &str, label: &str| {
        let current = (frame.section == section).then_some("page");
        html! { li { a href=(path) aria-current=[current] { (label) } } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(frame.title)) }
            body hx-boost="true" {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    a.brand href="/admin" { "Roster" }
                    @if let Some((_, name)) = frame.org {
                        span.org { (name) }
                    }
                    nav.main aria-label="Main" {
                        ul {
                            @if let Some((id, _)) = frame.org {
                                (link(Section::Members, &format!("/admin/orgs/{id}/members"), "Members"))
                                (link(Section::Groups, &format!("/admin/orgs/{id}/groups"), "Groups"))
                                (link(Section::Activity, &format!("/admin/orgs/{id}/activity"), "Activity"))
                                (link(Section::Integrations, &format!("/admin/orgs/{id}/integrations"), "Integrations"))
                                (link(Section::Import, &format!("/admin/orgs/{id}/import"), "Import"))
                            }
                            @if frame.operator {
                                (link(Section::Orgs, "/admin/orgs", "Orgs"))
                            }
                        }
                    }
                    form.signout method="post" action="/admin/sign-out" {
                        (csrf(frame.csrf))
                        button.secondary type="submit" { "Sign out" }
                    }
                }
                main #content tabindex="-1" {
                    h1 { (frame.title) }
                    @if let Some(notice) = &frame.notice { (notice.render()) }
                    (content)
                }
            }
        }
    }
}

/// A page without the signed-in frame (sign-in, errors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                main.signin #content {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="htmx-config" content=(HTMX_CONFIG);
        meta name="referrer" content="same-origin";
        title { (title) " · Roster" }
        link rel="stylesheet" href="/admin/assets/console.css";
        script src="/admin/assets/htmx.min.js" defer {}
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// A table in a wrapper that scrolls sideways on narrow screens.
pub fn table(caption: &str, head: &[&str], rows: Markup) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.muted { (caption) }
                thead { tr { @for h in head { th scope="col" { (h) } } } }
                tbody { (rows) }
            }
        }
    }
}

/// Text of a JSON value (empty for null).
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A timestamp as `2026-11-30 08:15 UTC` (empty for null).
pub fn when(value: &Value) -> String {
    let Some(raw) = value.as_str() else {
        return String::new();
    };
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| raw.to_owned())
}

/// Lower-case words for an enum value (`RETIRED` → `retired`).
pub fn word(value: &Value) -> String {
    text(value).to_lowercase().replace('_', " ")
}

/// A string percent-encoded for a query string.
pub fn query_value(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Pretty JSON for a `<pre>`.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
