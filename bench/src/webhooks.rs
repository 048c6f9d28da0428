//! Webhook delivery under createUser load: a small HTTP/1.1 receiver in
//! this process, and what it saw.
//!
//! The server's delivery worker POSTs each `member.created` event of the
//! writes org here while createUser runs. The lag of a delivery is the
//! time from the event's `occurredAt` (stamped by the server just before
//! the write transaction commits) to the moment this receiver had read the
//! whole request. Both clocks are this machine's wall clock.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::report::{DeliverySecond, WebhookDeliveries};

/// The event type the bench's endpoint subscribes to.
pub const EVENT_TYPE: &str = "member.created";

/// The longest request line or header line read; longer is a bad request.
const MAX_LINE: u64 = 16 * 1024;
/// The largest body read (an event is about 1 KB).
const MAX_BODY: usize = 1024 * 1024;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// One request the receiver read.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// When the whole request (headers and body) had been read.
    pub at: DateTime<Utc>,
    /// The event's `id` (the `webhook-id` header when the body has none).
    pub id: Option<String>,
    pub kind: Option<String>,
    pub org: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

impl Receipt {
    fn parse(at: DateTime<Utc>, request: &Request) -> Self {
        // A body that is not JSON still counts as a request received; it
        // just matches no event.
        let event: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let text = |name: &str| event[name].as_str().map(str::to_owned);
        Self {
            at,
            id: text("id").or_else(|| request.webhook_id.clone()),
            kind: text("type"),
            org: text("orgId"),
            occurred_at: event["occurredAt"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// What the connection threads share.
#[derive(Default)]
struct Shared {
    receipts: Mutex<Vec<Receipt>>,
    /// Requests answered 400 (malformed, or a body we do not read).
    rejected: AtomicU64,
    stopping: AtomicBool,
}

impl Shared {
    /// The receipts; a thread that panicked while holding the lock left
    /// whole entries behind (a push is all it does), so they are used.
    fn receipts(&self) -> MutexGuard<'_, Vec<Receipt>> {
        self.receipts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The receiver: a listener on 127.0.0.1 and a thread per connection, so
/// that the server's keep-alive connections each have their own reader
/// and none waits for another. Stops accepting when dropped.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        std::thread::Builder::new()
            .name("webhook-receiver".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accepting.stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = accepting.clone();
                    let spawned = std::thread::Builder::new()
                        .name("webhook-connection".into())
                        .spawn(move || serve(stream, &shared));
                    if let Err(error) = spawned {
                        eprintln!("      webhook receiver: no thread for a connection: {error}");
                    }
                }
            })?;
        Ok(Self { addr, shared })
    }

    /// The endpoint URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/roster-bench/webhooks", self.addr)
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        self.shared.receipts().clear();
        self.shared.rejected.store(0, Ordering::Relaxed);
    }

    /// A copy of what was received so far.
    pub fn receipts(&self) -> Vec<Receipt> {
        self.shared.receipts().clone()
    }

    /// Distinct `member.created` events of `org` received so far.
    pub fn distinct(&self, org: &str) -> usize {
        self.shared
            .receipts()
            .iter()
            .filter(|r| is_wanted(r, org))
            .filter_map(|r| r.id.as_deref())
            .collect::<HashSet<_>>()
            .len()
    }

    /// Requests received so far, of any kind.
    pub fn requests(&self) -> usize {
        self.shared.receipts().len()
    }

    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        // Wakes the accepting thread, which then sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A request as far as the receiver reads it.
struct Request {
    webhook_id: Option<String>,
    body: Vec<u8>,
    /// The client asked to close after this request.
    close: bool,
}

/// Answers the requests of one connection, in turn, until it closes.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !shared.stopping.load(Ordering::Relaxed) {
        match read_request(&mut reader) {
            Ok(Some(request)) => {
                let at = Utc::now();
                // Answer first: parsing and recording then happen while
                // the worker records its attempt, not before.
                let answered = writer.write_all(OK).is_ok();
                let receipt = Receipt::parse(at, &request);
                shared.receipts().push(receipt);
                if !answered || request.close {
                    return;
                }
            }
            Ok(None) => return,
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                shared.rejected.fetch_add(1, Ordering::Relaxed);
                let _ = writer.write_all(BAD_REQUEST);
                return;
            }
            // A connection reset or cut short mid-request.
            Err(_) => return,
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// One line, at most [`MAX_LINE`] long, without its line end; `None` at
/// the end of the stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    let read = reader.by_ref().take(MAX_LINE).read_line(&mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if !line.ends_with('\n') {
        return Err(if read as u64 >= MAX_LINE {
            invalid("a line too long")
        } else {
            io::ErrorKind::UnexpectedEof.into()
        });
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The next request of a connection: `None` when the client closed it
/// between requests.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    // Empty lines before a request line are ignored (RFC 9112, 2.2).
    let start = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => {}
            Some(line) => break line,
        }
    };
    let mut words = start.split_whitespace();
    let (Some(_method), Some(_target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Err(invalid("a malformed request line"));
    };
    let mut close = version == "HTTP/1.0";
    let mut length = 0usize;
    let mut webhook_id = None;
    loop {
        let line = read_line(reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("a header without a colon"))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = value
                    .parse()
                    .map_err(|_| invalid("a malformed content-length"))?;
            }
            "transfer-encoding" if !value.eq_ignore_ascii_case("identity") => {
                // The worker sends a Content-Length; a chunked body would
                // show up here as rejected requests.
                return Err(invalid("a transfer-encoding other than identity"));
            }
            "connection" => {
                if value.eq_ignore_ascii_case("close") {
                    close = true;
                } else if value.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
            "webhook-id" => webhook_id = Some(value.to_owned()),
            _ => {}
        }
    }
    if length > MAX_BODY {
        return Err(invalid("a body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        webhook_id,
        body,
        close,
    }))
}

/// Whether a receipt is one the bench's endpoint asked for.
fn is_wanted(receipt: &Receipt, org: &str) -> bool {
    receipt.org.as_deref() == Some(org) && receipt.kind.as_deref() == Some(EVENT_TYPE)
}

/// How waiting for the deliveries to catch up ended.
pub struct Waited {
    pub seconds: f64,
    /// `member.created` events of the org written during the load.
    pub created: u64,
}

/// Waits until the receiver has every event `created` counts (asked again
/// each time, so that a createUser still committing when wrk stopped is
/// counted), nothing new arrived for `idle`, or `limit` passed. `settle`:
/// the least wait, for those last commits.
pub fn wait_for_deliveries(
    receiver: &Receiver,
    org: &str,
    created: &mut dyn FnMut() -> Result<u64, Box<dyn std::error::Error>>,
    settle: Duration,
    idle: Duration,
    limit: Duration,
) -> Result<Waited, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut seen = receiver.requests();
    let mut last_new = Instant::now();
    loop {
        let expected = created()?;
        let now_seen = receiver.requests();
        if now_seen != seen {
            seen = now_seen;
            last_new = Instant::now();
        }
        let caught_up = receiver.distinct(org) as u64 >= expected;
        if (caught_up && started.elapsed() >= settle)
            || last_new.elapsed() >= idle
            || started.elapsed() >= limit
        {
            return Ok(Waited {
                seconds: started.elapsed().as_secs_f64(),
                created: expected,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value below which `share` of `sorted` lies (nearest rank); 0 for
/// none.
fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from)
        .num_microseconds()
        .map_or(f64::MAX, |us| us as f64 / 1000.0)
}

/// The figures, from what the receiver read. `load` is the createUser
/// load's window (its phases, start to end).
pub fn summarize(
    receipts: &[Receipt],
    rejected: u64,
    org: &str,
    created: u64,
    load: (DateTime<Utc>, DateTime<Utc>),
    waited_s: f64,
) -> WebhookDeliveries {
    let (start, end) = load;
    let load_s = millis(start, end) / 1000.0;
    let mut ids = HashSet::new();
    let mut duplicates = 0;
    let mut other = rejected;
    // The first receipt of each event: its lag is the delivery's lag.
    let mut firsts = Vec::new();
    for receipt in receipts {
        let (true, Some(id), Some(occurred_at)) =
            (is_wanted(receipt, org), &receipt.id, receipt.occurred_at)
        else {
            other += 1;
            continue;
        };
        if ids.insert(id.as_str()) {
            firsts.push((receipt.at, millis(occurred_at, receipt.at)));
        } else {
            duplicates += 1;
        }
    }
    let in_load = firsts
        .iter()
        .filter(|(at, _)| *at >= start && *at <= end)
        .count();
    let last = firsts.iter().map(|(at, _)| *at).max();
    let mut by_second: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (at, lag) in &firsts {
        let second = ((*at - start).num_milliseconds() as f64 / 1000.0).floor() as i64;
        by_second.entry(second).or_default().push(*lag);
    }
    let timeline = by_second
        .into_iter()
        .map(|(second, mut lags)| {
            lags.sort_by(f64::total_cmp);
            DeliverySecond {
                second,
                delivered: lags.len() as u64,
                lag_p50_ms: percentile(&lags, 0.50),
                lag_max_ms: lags.last().copied().unwrap_or(0.0),
            }
        })
        .collect();
    let mut lags: Vec<f64> = firsts.iter().map(|(_, lag)| *lag).collect();
    lags.sort_by(f64::total_cmp);
    WebhookDeliveries {
        created,
        delivered: firsts.len() as u64,
        duplicates,
        other,
        load_s,
        delivered_in_load: in_load as u64,
        per_second: in_load as f64 / load_s.max(1e-3),
        created_per_second: created as f64 / load_s.max(1e-3),
        lag_p50_ms: percentile(&lags, 0.50),
        lag_p99_ms: percentile(&lags, 0.99),
        lag_max_ms: lags.last().copied().unwrap_or(0.0),
        last_after_load_s: last.map_or(0.0, |last| (millis(end, last) / 1000.0).max(0.0)),
        waited_s,
        timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(body: &str, extra: &str) -> String {
        format!(
            "POST /h HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn reads_keep_alive_requests_in_turn() {
        let body = r#"{"id":"e1","type":"member.created","orgId":"o","occurredAt":"2026-11-29T22:17:09.108822+00:00"}"#;
        let text = format!("{}\r\n{}", post(body, "webhook-id: e1\r\n"), post("{}", ""));
        let mut reader = BufReader::new(text.as_bytes());
        let first = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(first.body, body.as_bytes());
        assert_eq!(first.webhook_id.as_deref(), Some("e1"));
        assert!(!first.close);
        let receipt = Receipt::parse(Utc::now(), &first);
        assert_eq!(receipt.kind.as_deref(), Some("member.created"));
        assert!(receipt.occurred_at.is_some());
        assert_eq!(read_request(&mut reader).unwrap().unwrap().body, b"{}");
        assert!(read_request(&mut reader).unwrap().is_none());
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        let chunked = "POST /h HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n";
        let error = read_request(&mut BufReader::new(chunked.as_bytes()))
            .err()
            .unwrap();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let cut = "POST /h HTTP/1.1\r\ncontent-length: 10\r\n\r\n{}";
        assert!(read_request(&mut BufReader::new(cut.as_bytes())).is_err());
    }

    #[test]
    fn lag_duplicates_and_strays() {
        let start = Utc::now();
        let end = start + chrono::Duration::seconds(2);
        let receipt = |id: &str, org: &str, lag_ms: i64, at_ms: i64| Receipt {
            at: start + chrono::Duration::milliseconds(at_ms),
            id: Some(id.into()),
            kind: Some(EVENT_TYPE.into()),
            org: Some(org.into()),
            occurred_at: Some(start + chrono::Duration::milliseconds(at_ms - lag_ms)),
        };
        let receipts = [
            receipt("a", "o", 10, 100),
            receipt("b", "o", 30, 1500),
            receipt("a", "o", 10_000, 2500),
            receipt("c", "o", 50, 3000),
            receipt("z", "other", 1, 200),
        ];
        let s = summarize(&receipts, 1, "o", 4, (start, end), 1.0);
        assert_eq!((s.delivered, s.duplicates, s.other), (3, 1, 2));
        assert_eq!(s.delivered_in_load, 2);
        assert_eq!(s.per_second, 1.0);
        assert_eq!((s.lag_p50_ms, s.lag_p99_ms), (30.0, 50.0));
        assert_eq!(s.last_after_load_s, 1.0);
        assert_eq!(s.timeline.len(), 3);
    }
}
