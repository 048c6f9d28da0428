//! A real SMTP receiver for the tests: the server under test sends its mail
//! over a TCP socket to [`SmtpSink`], exactly as it would to a relay, and
//! the test reads back what arrived.
//!
//! It speaks the subset of RFC 5321 that a submitting client needs, in plain
//! text (no TLS, no AUTH): the 220 greeting, EHLO/HELO (EHLO advertises
//! 8BITMIME and SMTPUTF8), MAIL FROM, RCPT TO, DATA (354, then the message up
//! to `<CRLF>.<CRLF>` with its dot-stuffing undone), RSET, NOOP and QUIT;
//! any other command gets 502. A client may send any number of messages over
//! one connection, as a pooling client such as lettre does.
//!
//! It runs on plain std threads (one accepting, one per connection), so it
//! works under any async runtime, actix's single-threaded test runtime
//! included. Dropping the sink closes its socket and its open connections.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, PartType};

/// The longest command or message line read; a longer one ends the
/// connection (RFC 5321 allows 1,000 octets, this is far more lenient).
const MAX_LINE: u64 = 1 << 20;

/// How often [`SmtpSink::wait_for`] and [`SmtpSink::wait_for_async`] look.
const POLL: Duration = Duration::from_millis(20);

/// The name the sink gives itself in its greeting and EHLO reply.
const HOSTNAME: &str = "smtp-sink.test";

/// An SMTP server on 127.0.0.1 and a random port that keeps every message
/// it accepts. See the module docs.
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// One message as it came over the wire: its envelope and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The reverse path of MAIL FROM, without its angle brackets (empty for
    /// the null path `<>`).
    pub mail_from: String,
    /// The forward path of each RCPT TO, in order, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message (headers and body) with its dot-stuffing undone, every
    /// line with the line ending it was sent with.
    pub data: Vec<u8>,
}

/// A received message, parsed by mail-parser: its main headers decoded
/// (RFC 2047 words), its bodies decoded (quoted-printable, base64) and
/// picked out of a multipart/alternative.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The decoded Subject, empty when there is none.
    pub subject: String,
    /// The address of the first From mailbox (the whole header, display
    /// name included, is `header("From")`).
    pub from: String,
    /// The addresses of every To mailbox, in order.
    pub to: Vec<String>,
    /// The first text/plain body part, decoded; empty when there is none.
    pub text: String,
    /// The first text/html body part, decoded; empty when there is none.
    pub html: String,
    /// The top-level header fields in order: names as sent, values as sent
    /// but unfolded and trimmed (encoded words are left encoded).
    pub headers: Vec<(String, String)>,
}

/// What the sink's threads share with it.
#[derive(Default)]
struct State {
    /// Every accepted message, in the order they were accepted.
    messages: Vec<Received>,
    /// How many of the next messages to refuse with a 451.
    fail_next: usize,
    /// Set when the sink is dropped: the accepting thread stops.
    closed: bool,
    /// The open connections, shut down when the sink is dropped.
    open: HashMap<u64, TcpStream>,
    next_id: u64,
}

/// Locks the shared state. A thread that panicked while holding the lock
/// leaves consistent data (every update is a single push or assignment), so
/// a poisoned lock is used as it is.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SmtpSink {
    /// Binds 127.0.0.1 on a free port and starts accepting connections.
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("SmtpSink: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("SmtpSink: local address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        thread::Builder::new()
            .name(format!("smtp-sink-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &shared))
            .expect("SmtpSink: spawn the accepting thread");
        SmtpSink { addr, state }
    }

    /// The URL to give the server under test: `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Refuses the next `n` messages with `451 4.3.0 try again later` once
    /// their DATA is in (a transient failure: they are not kept). Replaces
    /// any count left from an earlier call.
    pub fn fail_next(&self, n: usize) {
        lock(&self.state).fail_next = n;
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        lock(&self.state).messages.clone()
    }

    /// Waits until at least `n` messages have arrived and returns all of
    /// them, polling every 20 ms. Blocks the calling thread: under an async
    /// runtime use [`SmtpSink::wait_for_async`].
    ///
    /// # Panics
    /// When `timeout` passes first, listing what did arrive.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            if let Some(messages) = self.arrived(n, start, timeout) {
                return messages;
            }
            thread::sleep(POLL);
        }
    }

    /// [`SmtpSink::wait_for`] for async tests: it sleeps on the runtime's
    /// timer, so the server under test keeps running on the same thread.
    ///
    /// # Panics
    /// When `timeout` passes first, listing what did arrive.
    pub async fn wait_for_async(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            if let Some(messages) = self.arrived(n, start, timeout) {
                return messages;
            }
            actix_web::rt::time::sleep(POLL).await;
        }
    }

    /// The messages when there are at least `n`, `None` while there is time
    /// left to wait for them.
    fn arrived(&self, n: usize, start: Instant, timeout: Duration) -> Option<Vec<Received>> {
        let messages = self.messages();
        if messages.len() >= n {
            return Some(messages);
        }
        if start.elapsed() < timeout {
            return None;
        }
        let mut listing = String::new();
        for (i, message) in messages.iter().enumerate() {
            let _ = write!(listing, "\n  #{}: {}", i + 1, message.summary());
        }
        panic!(
            "SmtpSink: expected at least {n} message(s) within {timeout:?}, {} arrived{listing}",
            messages.len(),
        );
    }
}

impl Drop for SmtpSink {
    /// Stops the accepting thread and ends every open connection.
    fn drop(&mut self) {
        {
            let mut state = lock(&self.state);
            state.closed = true;
            for stream in state.open.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        // Wakes the accepting thread, which then sees `closed`.
        let _ = TcpStream::connect(self.addr);
    }
}

impl Received {
    /// The message parsed. See [`Mail`].
    ///
    /// # Panics
    /// When mail-parser cannot read it as a message at all.
    pub fn parsed(&self) -> Mail {
        Mail::parse(&self.data)
    }

    /// One line for a failure message: envelope and subject. Unlike
    /// [`Received::parsed`], never panics.
    fn summary(&self) -> String {
        let subject = MessageParser::default()
            .parse(&self.data)
            .and_then(|message| message.subject().map(str::to_owned));
        format!(
            "MAIL FROM:<{}> RCPT TO:{:?} Subject: {:?} ({} bytes)",
            self.mail_from,
            self.rcpt_to,
            subject.unwrap_or_default(),
            self.data.len(),
        )
    }
}

impl Mail {
    /// Parses a message as it came over the wire.
    ///
    /// # Panics
    /// When mail-parser cannot read it as a message at all.
    pub fn parse(data: &[u8]) -> Mail {
        let message = MessageParser::default().parse(data).unwrap_or_else(|| {
            panic!("SmtpSink: not a message: {}", String::from_utf8_lossy(data))
        });
        let address = |addr: &mail_parser::Addr<'_>| addr.address().map(str::to_owned);
        let headers = message
            .root_part()
            .headers
            .iter()
            .filter_map(|header| {
                let name = data.get(header.offset_field as usize..header.offset_start as usize)?;
                let value = data.get(header.offset_start as usize..header.offset_end as usize)?;
                let name = String::from_utf8_lossy(name);
                let name = name.trim_end().trim_end_matches(':').trim_end().to_owned();
                Some((name, unfold(&String::from_utf8_lossy(value))))
            })
            .collect();
        Mail {
            subject: message.subject().unwrap_or_default().to_owned(),
            from: message
                .from()
                .and_then(|from| from.iter().find_map(address))
                .unwrap_or_default(),
            to: message
                .all_to()
                .flat_map(|to| to.iter().filter_map(address))
                .collect(),
            // The body lists fall back to the other kind (an HTML-only
            // message has its HTML part as its text body): take only parts
            // of the kind asked for.
            text: message
                .text_bodies()
                .find_map(|part| match &part.body {
                    PartType::Text(text) => Some(text.to_string()),
                    _ => None,
                })
                .unwrap_or_default(),
            html: message
                .html_bodies()
                .find_map(|part| match &part.body {
                    PartType::Html(html) => Some(html.to_string()),
                    _ => None,
                })
                .unwrap_or_default(),
            headers,
        }
    }

    /// The value of the first header field with this name, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A header value without its folding (each CRLF before whitespace) and
/// without surrounding whitespace.
fn unfold(value: &str) -> String {
    value
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_owned()
}

/// The first link in `text` that starts with `prefix`: from there up to the
/// first whitespace, `"`, `<`, `>` or `'` (or the end). In HTML, an `&` in
/// the link stays written as `&amp;`.
pub fn link_in(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let rest = &text[start..];
    let end = rest[prefix.len()..]
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '\''))
        .map_or(rest.len(), |at| prefix.len() + at);
    Some(rest[..end].to_owned())
}

/// Accepts connections until the sink is dropped, each on its own thread.
fn accept_loop(listener: &TcpListener, state: &Arc<Mutex<State>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Such as too many open files: give the tests a moment.
            thread::sleep(POLL);
            continue;
        };
        let id = {
            let mut shared = lock(state);
            if shared.closed {
                return;
            }
            shared.next_id += 1;
            let id = shared.next_id;
            if let Ok(clone) = stream.try_clone() {
                shared.open.insert(id, clone);
            }
            id
        };
        let shared = Arc::clone(state);
        let spawned = thread::Builder::new()
            .name(format!("smtp-sink-conn-{id}"))
            .spawn(move || {
                // Any I/O error just ends the connection.
                let _ = serve(stream, &shared);
                lock(&shared).open.remove(&id);
            });
        if spawned.is_err() {
            lock(state).open.remove(&id);
        }
    }
}

/// The envelope of the transaction in progress on one connection.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

/// Speaks SMTP on one connection until QUIT, end of input or an I/O error.
fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut reply = |text: &str| writer.write_all(format!("{text}\r\n").as_bytes());

    reply(&format!("220 {HOSTNAME} ESMTP ready"))?;
    let mut greeted = false;
    let mut tx = Transaction::default();
    let mut line = Vec::new();
    while read_line(&mut reader, &mut line)? {
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end_matches(['\r', '\n']);
        let upper = command.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or_default();
        let argument = command.get(verb.len()..).unwrap_or_default().trim();
        match verb {
            "EHLO" | "HELO" if argument.is_empty() => {
                reply("501 5.5.4 a domain or address is required")?;
            }
            "EHLO" => {
                greeted = true;
                tx = Transaction::default();
                reply(&format!(
                    "250-{HOSTNAME} greets {argument}\r\n250-8BITMIME\r\n250 SMTPUTF8"
                ))?;
            }
            "HELO" => {
                greeted = true;
                tx = Transaction::default();
                reply(&format!("250 {HOSTNAME}"))?;
            }
            "MAIL" if !upper.starts_with("MAIL FROM:") => {
                reply("501 5.5.4 syntax: MAIL FROM:<address>")?;
            }
            "MAIL" if !greeted => reply("503 5.5.1 send EHLO or HELO first")?,
            "MAIL" if tx.mail_from.is_some() => reply("503 5.5.1 nested MAIL command")?,
            "MAIL" => match path(command.get("MAIL FROM:".len()..).unwrap_or_default()) {
                Some(from) => {
                    tx.mail_from = Some(from);
                    reply("250 2.1.0 OK")?;
                }
                None => reply("501 5.1.7 bad sender address syntax")?,
            },
            "RCPT" if !upper.starts_with("RCPT TO:") => {
                reply("501 5.5.4 syntax: RCPT TO:<address>")?;
            }
            "RCPT" if tx.mail_from.is_none() => reply("503 5.5.1 need MAIL before RCPT")?,
            "RCPT" => match path(command.get("RCPT TO:".len()..).unwrap_or_default())
                .filter(|to| !to.is_empty())
            {
                Some(to) => {
                    tx.rcpt_to.push(to);
                    reply("250 2.1.5 OK")?;
                }
                None => reply("501 5.1.3 bad recipient address syntax")?,
            },
            "DATA" if tx.rcpt_to.is_empty() => reply("503 5.5.1 need RCPT before DATA")?,
            "DATA" => {
                reply("354 start mail input; end with <CRLF>.<CRLF>")?;
                let Some(data) = read_data(&mut reader)? else {
                    // The client went away mid-message: nothing is kept.
                    return Ok(());
                };
                let tx = std::mem::take(&mut tx);
                let answer = {
                    let mut shared = lock(state);
                    if shared.fail_next > 0 {
                        shared.fail_next -= 1;
                        "451 4.3.0 try again later".to_owned()
                    } else {
                        shared.messages.push(Received {
                            mail_from: tx.mail_from.unwrap_or_default(),
                            rcpt_to: tx.rcpt_to,
                            data,
                        });
                        format!("250 2.0.0 OK queued as {}", shared.messages.len())
                    }
                };
                reply(&answer)?;
            }
            "RSET" => {
                tx = Transaction::default();
                reply("250 2.0.0 OK")?;
            }
            "NOOP" => reply("250 2.0.0 OK")?,
            "QUIT" => {
                reply(&format!("221 2.0.0 {HOSTNAME} closing connection"))?;
                return Ok(());
            }
            _ => reply("502 5.5.2 command not implemented")?,
        }
    }
    Ok(())
}

/// Reads one line, line ending included, into `line`; `false` at the end of
/// input. A line longer than [`MAX_LINE`] is an error.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<bool> {
    line.clear();
    let read = reader.take(MAX_LINE).read_until(b'\n', line)?;
    if read as u64 == MAX_LINE && !line.ends_with(b"\n") {
        return Err(std::io::Error::other("SMTP line too long"));
    }
    Ok(read > 0)
}

/// Reads a message after the 354 up to the line holding a lone `.`, and
/// undoes the dot-stuffing (RFC 5321 4.5.2). `None` when the input ends
/// first.
fn read_data(reader: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    while read_line(reader, &mut line)? {
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
    Ok(None)
}

/// The address in a MAIL FROM or RCPT TO argument: `<a@b>` (its parameters,
/// such as `BODY=8BITMIME`, ignored) or, leniently, a bare `a@b`. `None` when
/// the brackets are not closed or the argument is empty.
fn path(argument: &str) -> Option<String> {
    let argument = argument.trim_start();
    if let Some(rest) = argument.strip_prefix('<') {
        return rest.find('>').map(|end| rest[..end].to_owned());
    }
    argument.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    //! The sink driven by hand over a raw socket, for the commands and
    //! encodings a client library may not show.

    use super::*;

    /// A bare SMTP client: one command, one whole reply.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Client {
        fn connect(sink: &SmtpSink) -> (Client, String) {
            let address = sink.url().trim_start_matches("smtp://").to_owned();
            let stream = TcpStream::connect(address).expect("connect to the sink");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("read timeout");
            let mut client = Client {
                reader: BufReader::new(stream.try_clone().expect("clone")),
                writer: stream,
            };
            let greeting = client.reply();
            (client, greeting)
        }

        /// Reads one reply, all lines of a multi-line one.
        fn reply(&mut self) -> String {
            let mut reply = String::new();
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line).expect("read a reply");
                reply.push_str(&line);
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    return reply;
                }
            }
        }

        /// Sends `text` as it is (add the CRLF) and reads the reply.
        fn send(&mut self, text: &str) -> String {
            self.writer.write_all(text.as_bytes()).expect("write");
            self.reply()
        }
    }

    /// A multipart/alternative message: quoted-printable text with a
    /// dot-stuffed line, base64 HTML, an encoded-word subject.
    const MESSAGE: &str = "From: \"Roster\" <noreply@roster.test>\r\n\
        To: Ann <ann@example.com>, bob@example.com\r\n\
        Subject: =?utf-8?q?Invitation_=C3=A0_Acme?=\r\n\
        X-Roster-Kind: invitation\r\n\
        X-Folded: one\r\n two\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
        \r\n\
        --b1\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n\
        Caf=C3=A9. Accept: https://roster.test/accept?token=3Dabc&x=3D1 now\r\n\
        ..leading dot\r\n\
        --b1\r\n\
        Content-Type: text/html; charset=utf-8\r\n\
        Content-Transfer-Encoding: base64\r\n\
        \r\n\
        PHA+Q2Fmw6k8YSBocmVmPSJodHRwczovL3Jvc3Rlci50ZXN0L2FjY2VwdCI+Z288L2E+PC9wPg==\r\n\
        --b1--\r\n";

    #[test]
    fn speaks_smtp_and_parses_what_it_keeps() {
        let sink = SmtpSink::start();
        assert!(sink.url().starts_with("smtp://127.0.0.1:"));
        let (mut c, greeting) = Client::connect(&sink);
        assert!(greeting.starts_with("220 "), "{greeting}");

        assert!(c.send("MAIL FROM:<a@b>\r\n").starts_with("503 "));
        assert!(c.send("HELO\r\n").starts_with("501 "));
        assert!(c.send("HELO client.test\r\n").starts_with("250 "));
        let ehlo = c.send("ehlo client.test\r\n");
        assert!(ehlo.starts_with("250-"), "{ehlo}");
        assert!(ehlo.contains("\r\n250-8BITMIME\r\n"), "{ehlo}");
        assert!(ehlo.ends_with("\r\n250 SMTPUTF8\r\n"), "{ehlo}");
        assert!(c.send("NOOP\r\n").starts_with("250 "));
        assert!(c.send("VRFY ann\r\n").starts_with("502 "));
        assert!(c.send("\r\n").starts_with("502 "));
        assert!(c.send("RCPT TO:<ann@example.com>\r\n").starts_with("503 "));
        assert!(c.send("DATA\r\n").starts_with("503 "));
        assert!(c.send("MAIL FROM:<x@y>\r\n").starts_with("250 "));
        assert!(c.send("MAIL FROM:<x@y>\r\n").starts_with("503 "));
        assert!(c.send("RSET\r\n").starts_with("250 "));
        assert!(c.send("RCPT TO:<ann@example.com>\r\n").starts_with("503 "));

        // Refused once, then kept, on the same connection.
        sink.fail_next(1);
        for expected in ["451 4.3.0 try again later\r\n", "250 "] {
            let mail = c.send("MAIL FROM:<noreply@roster.test> BODY=8BITMIME\r\n");
            assert!(mail.starts_with("250 "), "{mail}");
            assert!(c.send("RCPT TO:<ann@example.com>\r\n").starts_with("250 "));
            assert!(c.send("rcpt to:<bob@example.com>\r\n").starts_with("250 "));
            assert!(c.send("DATA\r\n").starts_with("354 "));
            let answer = c.send(&format!("{MESSAGE}.\r\n"));
            assert!(answer.starts_with(expected), "{answer}");
        }
        // A null reverse path.
        assert!(c.send("MAIL FROM:<>\r\n").starts_with("250 "));
        assert!(c.send("RCPT TO:<>\r\n").starts_with("501 "));
        assert!(c.send("RCPT TO:<ann@example.com>\r\n").starts_with("250 "));
        assert!(c.send("DATA\r\n").starts_with("354 "));
        assert!(c.send("Subject: bounce\r\n\r\n.\r\n").starts_with("250 "));
        assert!(c.send("QUIT\r\n").starts_with("221 "));

        let messages = sink.wait_for(2, Duration::from_secs(5));
        assert_eq!(messages.len(), 2);
        assert_eq!(messages, sink.messages());
        let first = &messages[0];
        assert_eq!(first.mail_from, "noreply@roster.test");
        assert_eq!(first.rcpt_to, ["ann@example.com", "bob@example.com"]);
        assert!(first.data.ends_with(b"\r\n--b1--\r\n"));
        assert_eq!(messages[1].mail_from, "");
        assert_eq!(messages[1].parsed().subject, "bounce");

        let mail = first.parsed();
        assert_eq!(mail.subject, "Invitation à Acme");
        assert_eq!(mail.from, "noreply@roster.test");
        assert_eq!(mail.to, ["ann@example.com", "bob@example.com"]);
        assert_eq!(
            mail.text,
            "Café. Accept: https://roster.test/accept?token=abc&x=1 now\r\n.leading dot"
        );
        assert_eq!(
            mail.html,
            "<p>Café<a href=\"https://roster.test/accept\">go</a></p>"
        );
        assert_eq!(mail.header("x-roster-kind"), Some("invitation"));
        assert_eq!(mail.header("X-FOLDED"), Some("one two"));
        assert_eq!(
            mail.header("Subject"),
            Some("=?utf-8?q?Invitation_=C3=A0_Acme?=")
        );
        assert_eq!(
            mail.header("From"),
            Some("\"Roster\" <noreply@roster.test>")
        );
        assert_eq!(mail.header("Cc"), None);
        assert_eq!(mail.headers[0].0, "From");
        assert_eq!(mail.headers[5].0, "MIME-Version");

        assert_eq!(
            link_in(&mail.text, "https://roster.test/accept?").as_deref(),
            Some("https://roster.test/accept?token=abc&x=1")
        );
        assert_eq!(
            link_in(&mail.html, "https://roster.test/").as_deref(),
            Some("https://roster.test/accept")
        );
        assert_eq!(link_in(&mail.text, "ftp://"), None);
    }

    #[actix_web::test]
    async fn waits_without_blocking_the_runtime() {
        let sink = SmtpSink::start();
        let address = sink.url().trim_start_matches("smtp://").to_owned();
        // A sender on its own thread, started only once the wait has begun.
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            let stream = TcpStream::connect(address).expect("connect");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            let mut line = String::new();
            for command in [
                "",
                "EHLO client.test\r\n",
                "MAIL FROM:<a@b.test>\r\n",
                "RCPT TO:<c@d.test>\r\n",
                "DATA\r\n",
                "Subject: later\r\n\r\nhi\r\n.\r\n",
                "QUIT\r\n",
            ] {
                writer.write_all(command.as_bytes()).expect("write");
                // Skips to the last line of the reply.
                loop {
                    line.clear();
                    reader.read_line(&mut line).expect("read");
                    if line.as_bytes().get(3) != Some(&b'-') {
                        break;
                    }
                }
            }
        });
        let messages = sink.wait_for_async(1, Duration::from_secs(5)).await;
        assert_eq!(messages[0].parsed().subject, "later");
        assert_eq!(messages[0].parsed().text, "hi\r\n");
        sender.join().expect("sender");
    }

    #[test]
    #[should_panic(expected = "expected at least 1 message(s) within 50ms, 0 arrived")]
    fn waiting_too_long_panics() {
        SmtpSink::start().wait_for(1, Duration::from_millis(50));
    }
}
