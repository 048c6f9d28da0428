//! Invitation mail: the templates (English and Dutch built in, replaced
//! or extended by files in `ROSTER_TEMPLATE_DIR`) and the SMTP transport
//! (lettre, TLS on rustls). What is sent when is decided by the service
//! (`Service::send_invitation_mails`); see `docs/invitations.md`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::service::InvitationMail;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The language used when the member's has no templates.
const FALLBACK: &str = "en";

/// One language's invitation: subject, plain text and HTML, with
/// `{{org}}`, `{{inviter}}`, `{{name}}`, `{{link}}` and `{{expires}}`.
#[derive(Debug, Clone)]
struct Template {
    subject: String,
    text: String,
    html: String,
}

/// Why a mail did not go out.
#[derive(Debug, Clone)]
pub struct MailError {
    pub message: String,
    /// The server refused it for good (5xx), or it cannot be made at all:
    /// trying again will not help.
    pub permanent: bool,
}

/// Sends invitation mails over SMTP.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: HashMap<String, Template>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `smtp_url` (see `ROSTER_SMTP_URL`), sending as `from`,
    /// with the templates of `template_dir` over the built-in ones.
    pub fn new(smtp_url: &str, from: &str, template_dir: Option<&Path>) -> Result<Self, String> {
        let transport = transport(&relay(smtp_url)?)?;
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("ROSTER_MAIL_FROM is not a mail address: {e}"))?;
        let mut templates = built_in();
        if let Some(dir) = template_dir {
            load_dir(dir, &mut templates)?;
        }
        Ok(Self {
            transport,
            from,
            templates,
        })
    }

    /// The mail for an invitation, in the member's language when there
    /// are templates for it, else in English.
    pub fn invitation(&self, mail: &InvitationMail) -> Result<Message, MailError> {
        let permanent = |message: String| MailError {
            message,
            permanent: true,
        };
        let template = self.template_for(mail.locale.as_deref());
        let expires = mail.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
        let values = [
            ("org", mail.org.as_str()),
            ("inviter", mail.inviter.as_str()),
            ("name", mail.to_name.as_str()),
            ("link", mail.link.as_str()),
            ("expires", expires.as_str()),
        ];
        let subject = render(&template.subject, &values, false);
        let to = Mailbox::new(
            Some(mail.to_name.clone()),
            mail.to_email
                .parse()
                .map_err(|e| permanent(format!("the member's email cannot be mailed: {e}")))?,
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject.lines().next().unwrap_or_default().trim())
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(
                render(&template.text, &values, false),
                render(&template.html, &values, true),
            ))
            .map_err(|e| permanent(format!("the mail cannot be made: {e}")))
    }

    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // The detail (host, addresses, TLS) is for the operator's
                // log; the org's admins see what kind of failure it was.
                tracing::warn!(error = %e, "the mail server did not take an invitation mail");
                let message = if e.is_permanent() {
                    "the mail server refused the mail"
                } else if e.is_transient() {
                    "the mail server asked to try again later"
                } else if e.is_timeout() {
                    "the mail server did not answer in time"
                } else {
                    "the mail server could not be reached"
                };
                Err(MailError {
                    message: message.into(),
                    permanent: e.is_permanent(),
                })
            }
        }
    }

    fn template_for(&self, locale: Option<&str>) -> &Template {
        let language = locale
            .and_then(|l| l.split(['-', '_']).next())
            .map(str::to_ascii_lowercase);
        language
            .and_then(|l| self.templates.get(&l))
            .or_else(|| self.templates.get(FALLBACK))
            .expect("the English templates are built in")
    }
}

/// How to reach the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Relay {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    /// TLS from the first byte (`smtps://`).
    Wrapper,
    /// STARTTLS, or no mail.
    Required,
    /// STARTTLS when offered.
    Opportunistic,
    None,
}

/// Reads `ROSTER_SMTP_URL`. `smtp://` asks for STARTTLS unless the URL
/// says otherwise (`?tls=opportunistic|none`) or the host is this machine:
/// credentials never cross a network in clear by default.
fn relay(text: &str) -> Result<Relay, String> {
    let url = url::Url::parse(text).map_err(|_| "ROSTER_SMTP_URL is not a URL".to_owned())?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "ROSTER_SMTP_URL names no host".to_owned())?
        .trim_matches(['[', ']'])
        .to_owned();
    // `smtp` is no special scheme: its IP literals come as plain names.
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let asked = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let tls = match (url.scheme(), asked.as_deref()) {
        ("smtps", _) => TlsMode::Wrapper,
        ("smtp", Some("required")) => TlsMode::Required,
        ("smtp", Some("opportunistic")) => TlsMode::Opportunistic,
        ("smtp", Some("none")) => TlsMode::None,
        ("smtp", None) if local => TlsMode::None,
        ("smtp", None) => TlsMode::Required,
        ("smtp", Some(other)) => {
            return Err(format!(
                "ROSTER_SMTP_URL: tls={other} is not one of required, opportunistic, none"
            ));
        }
        _ => return Err("ROSTER_SMTP_URL must start with smtp:// or smtps://".into()),
    };
    let port = url.port().unwrap_or(match tls {
        TlsMode::Wrapper => 465,
        _ => 587,
    });
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = (!url.username().is_empty()).then(|| {
        (
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        )
    });
    Ok(Relay {
        host,
        port,
        tls,
        credentials,
    })
}

fn transport(relay: &Relay) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let parameters = || {
        TlsParameters::new(relay.host.clone())
            .map_err(|e| format!("ROSTER_SMTP_URL: cannot set up TLS: {e}"))
    };
    let tls = match relay.tls {
        TlsMode::Wrapper => Tls::Wrapper(parameters()?),
        TlsMode::Required => Tls::Required(parameters()?),
        TlsMode::Opportunistic => Tls::Opportunistic(parameters()?),
        TlsMode::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&relay.host)
        .port(relay.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some((user, pass)) = &relay.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(builder.build())
}

fn built_in() -> HashMap<String, Template> {
    let mut templates = HashMap::new();
    templates.insert(
        "en".to_owned(),
        Template {
            subject: include_str!("templates/invitation.en.subject").into(),
            text: include_str!("templates/invitation.en.txt").into(),
            html: include_str!("templates/invitation.en.html").into(),
        },
    );
    templates.insert(
        "nl".to_owned(),
        Template {
            subject: include_str!("templates/invitation.nl.subject").into(),
            text: include_str!("templates/invitation.nl.txt").into(),
            html: include_str!("templates/invitation.nl.html").into(),
        },
    );
    templates
}

/// Reads `invitation.<language>.{subject,txt,html}` from `dir`: each file
/// replaces that part of a built-in language; a new language needs all
/// three.
fn load_dir(dir: &Path, templates: &mut HashMap<String, Template>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read ROSTER_TEMPLATE_DIR {}: {e}", dir.display()))?;
    let mut parts: HashMap<String, HashMap<String, String>> = HashMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pieces: Vec<&str> = name.split('.').collect();
        let [kind, language, part] = pieces[..] else {
            continue;
        };
        if kind != "invitation" || !["subject", "txt", "html"].contains(&part) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())
            .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        parts
            .entry(language.to_ascii_lowercase())
            .or_default()
            .insert(part.to_owned(), text);
    }
    for (language, mut given) in parts {
        let base = templates.get(&language).cloned();
        let mut take = |part: &str, built_in: Option<&String>| {
            given
                .remove(part)
                .or_else(|| built_in.cloned())
                .ok_or_else(|| {
                    format!(
                        "ROSTER_TEMPLATE_DIR has templates for \"{language}\" without \
                     invitation.{language}.{part}"
                    )
                })
        };
        let template = Template {
            subject: take("subject", base.as_ref().map(|b| &b.subject))?,
            text: take("txt", base.as_ref().map(|b| &b.text))?,
            html: take("html", base.as_ref().map(|b| &b.html))?,
        };
        templates.insert(language, template);
    }
    Ok(())
}

/// Puts the values in for their `{{name}}`s, escaped in HTML.
fn render(template: &str, values: &[(&str, &str)], html: bool) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        let value = if html {
            escape_html(value)
        } else {
            (*value).to_owned()
        };
        out = out.replace(&format!("{{{{{name}}}}}"), &value);
    }
    out
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_ask_for_tls_off_this_machine() {
        let tls = |u: &str| relay(u).unwrap().tls;
        assert_eq!(tls("smtp://u:p@mail.example.com:587"), TlsMode::Required);
        assert_eq!(tls("smtp://127.0.0.1:2525"), TlsMode::None);
        assert_eq!(tls("smtp://localhost"), TlsMode::None);
        assert_eq!(tls("smtp://[::1]:25"), TlsMode::None);
        assert_eq!(tls("smtp://10.0.0.1:25"), TlsMode::Required);
        assert_eq!(tls("smtp://127.0.0.1:25?tls=required"), TlsMode::Required);
        assert_eq!(
            tls("smtp://mail.example.com?tls=opportunistic"),
            TlsMode::Opportunistic
        );
        assert_eq!(tls("smtp://mail.example.com?tls=none"), TlsMode::None);
        assert_eq!(tls("smtps://mail.example.com"), TlsMode::Wrapper);
        let full = relay("smtps://me%40x.example:p%20w@mail.example.com").unwrap();
        assert_eq!(full.port, 465);
        assert_eq!(
            full.credentials,
            Some(("me@x.example".into(), "p w".into()))
        );
        assert_eq!(relay("smtp://mail.example.com").unwrap().port, 587);
        assert!(relay("http://mail.example.com").is_err());
        assert!(relay("smtp://mail.example.com?tls=maybe").is_err());
        assert!(relay("not a url").is_err());
    }

    #[test]
    fn values_are_escaped_in_html_only() {
        let values = [("org", "A&B <Co>"), ("link", "https://x/?a=1&b=2")];
        assert_eq!(
            render("{{org}}: {{link}}", &values, true),
            "A&amp;B &lt;Co&gt;: https://x/?a=1&amp;b=2"
        );
        assert_eq!(
            render("{{org}}: {{link}}", &values, false),
            "A&B <Co>: https://x/?a=1&b=2"
        );
    }

    #[test]
    fn template_files_replace_and_add_languages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("invitation.en.subject"), "Come to {{org}}").unwrap();
        std::fs::write(dir.path().join("invitation.de.subject"), "Willkommen").unwrap();
        let mut templates = built_in();
        let refused = load_dir(dir.path(), &mut templates).unwrap_err();
        assert!(refused.contains("invitation.de."), "{refused}");
        std::fs::write(dir.path().join("invitation.de.txt"), "{{link}}").unwrap();
        std::fs::write(dir.path().join("invitation.de.html"), "<a>{{link}}</a>").unwrap();
        let mut templates = built_in();
        load_dir(dir.path(), &mut templates).unwrap();
        assert_eq!(templates["en"].subject, "Come to {{org}}");
        assert!(templates["en"].text.contains("{{link}}"), "the rest stays");
        assert_eq!(templates["de"].subject, "Willkommen");
        assert!(templates["nl"].subject.contains("nodigt"));
    }
}
