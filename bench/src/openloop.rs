//! The open-loop load driver (`roster-bench openloop`, run by `run` as its
//! own process, pinned to the load core like wrk).
//!
//! Requests are due on a fixed schedule, request `i` at `start + i / rate`,
//! whether or not earlier ones have been answered. A pacing thread releases
//! each request when it is due; whichever of the keep-alive HTTP/1.1
//! connections is free sends it. When all of them are busy the request
//! waits for one, and that wait counts: every latency is measured from the
//! request's scheduled time, not from when it went out (coordinated
//! omission corrected, as wrk2 does), and recorded in an HDR histogram.
//!
//! The requests and their checks are those of `bench/wrk/graphql.lua`: the
//! same bodies, paths, tokens and media types, `{n}` filled with a random
//! number below `range` and `{u}` with one unique in the run; a response
//! fails when its status is not 200, when it carries a GraphQL `errors`
//! member, or when `expect` is in it fewer than `expect_count` times.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::dataset::mix;
use crate::scenarios::Load;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What to send, and how fast: read as JSON from stdin by the subcommand.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// `host:port` of the server.
    pub addr: String,
    /// The path and query, with `{n}` and `{u}`.
    pub path: String,
    /// `None`: a plain GET.
    pub body: Option<String>,
    pub media: Option<String>,
    pub token: Option<String>,
    pub expect: Option<String>,
    pub expect_count: usize,
    /// Whether response bodies are read and checked (status always is).
    pub check: bool,
    pub range: usize,
    /// Makes `{u}` unique across runs and phases.
    pub run: String,
    /// Requests per second offered.
    pub rate: f64,
    pub seconds: f64,
    pub connections: usize,
    /// A request not answered within this counts as a timeout (an error).
    pub timeout_s: f64,
}

impl Spec {
    /// The spec of `load` against the server at `base` (`http://host:port`).
    pub fn of(load: &Load, base: &str, run: String, rate: f64, seconds: f64) -> Self {
        Self {
            addr: base.trim_start_matches("http://").to_owned(),
            path: load.path.clone(),
            body: load.body.clone(),
            media: load.media.map(str::to_owned),
            token: load.token.clone(),
            expect: load.expect.clone(),
            expect_count: load.expect_count,
            check: load.body.is_some() || load.expect.is_some(),
            range: load.range,
            run,
            rate,
            seconds,
            connections: CONNECTIONS,
            timeout_s: 10.0,
        }
    }
}

/// Connections the driver keeps open: enough that requests seldom wait for
/// a free one at the rates measured, so that the wait is the server's.
pub const CONNECTIONS: usize = 64;

/// One open-loop run's figures; latencies from each request's scheduled
/// send time to the end of its response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OpenLoop {
    /// The rate offered.
    pub target_rps: f64,
    pub seconds: f64,
    pub connections: usize,
    /// Requests due in the run (rate × seconds).
    pub scheduled: u64,
    /// Responses read (good or not).
    pub completed: u64,
    /// `completed` over the time from the start to the last response (at
    /// least the scheduled length).
    pub achieved_rps: f64,
    /// Failed checks, connection errors and timeouts.
    pub errors: u64,
    pub timeouts: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// How late requests went out, p99: a wait for a free connection or
    /// for the driver itself. Near 0 when the driver kept up.
    pub send_delay_p99_ms: f64,
}

/// Runs `spec`, returns its figures.
pub fn drive(spec: &Spec) -> Res<OpenLoop> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(drive_async(spec))
}

/// What one connection's task measured.
struct Tally {
    latency: Histogram<u64>,
    delay: Histogram<u64>,
    completed: u64,
    errors: u64,
    timeouts: u64,
    last: Option<Instant>,
    first_failure: Option<String>,
}

impl Tally {
    fn new() -> Res<Self> {
        Ok(Self {
            latency: histogram()?,
            delay: histogram()?,
            completed: 0,
            errors: 0,
            timeouts: 0,
            last: None,
            first_failure: None,
        })
    }

    fn fail(&mut self, what: String) {
        self.errors += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(what);
        }
    }
}

/// Microseconds, 1 µs to 10 minutes, 3 significant digits.
fn histogram() -> Res<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

async fn drive_async(spec: &Spec) -> Res<OpenLoop> {
    let rate = spec.rate.max(0.1);
    let total = (rate * spec.seconds).round().max(1.0) as u64;
    let spec = Arc::new(spec.clone());
    let tickets = Arc::new(Semaphore::new(0));
    let next = Arc::new(AtomicU64::new(0));
    // Connect every connection before the schedule starts.
    let mut senders = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections.max(1) {
        senders.push(connect(&spec.addr).await?);
    }
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::new();
    for sender in senders {
        let (spec, tickets, next) = (spec.clone(), tickets.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            connection(spec, sender, tickets, next, start, rate, total).await
        }));
    }
    // The pacer: a thread of its own, whose sleep is finer than the
    // runtime's 1 ms timer, releases each request when it is due.
    let pacer = {
        let tickets = tickets.clone();
        let extra = spec.connections;
        std::thread::spawn(move || {
            let mut released = 0u64;
            while released < total {
                let now = Instant::now();
                if now < start {
                    std::thread::sleep(start - now);
                    continue;
                }
                let due = (((now - start).as_secs_f64() * rate).floor() as u64 + 1).min(total);
                if due > released {
                    tickets.add_permits((due - released) as usize);
                    released = due;
                }
                if released < total {
                    let at = start + Duration::from_secs_f64(released as f64 / rate);
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                }
            }
            // One more for each connection: each then finds the schedule
            // done and stops.
            tickets.add_permits(extra);
        })
    };
    let mut tally = Tally::new()?;
    for task in tasks {
        let t = task.await??;
        tally.latency.add(&t.latency)?;
        tally.delay.add(&t.delay)?;
        tally.completed += t.completed;
        tally.errors += t.errors;
        tally.timeouts += t.timeouts;
        tally.last = tally.last.max(t.last);
        if tally.first_failure.is_none() {
            tally.first_failure = t.first_failure;
        }
    }
    pacer.join().map_err(|_| "the pacing thread panicked")?;
    if let Some(failure) = &tally.first_failure {
        eprintln!("      first failure: {failure}");
    }
    let elapsed = tally
        .last
        .map_or(spec.seconds, |last| (last - start).as_secs_f64())
        .max(spec.seconds);
    let ms = |us: u64| us as f64 / 1000.0;
    let h = &tally.latency;
    Ok(OpenLoop {
        target_rps: spec.rate,
        seconds: spec.seconds,
        connections: spec.connections,
        scheduled: total,
        completed: tally.completed,
        achieved_rps: tally.completed as f64 / elapsed,
        errors: tally.errors,
        timeouts: tally.timeouts,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
        send_delay_p99_ms: ms(tally.delay.value_at_quantile(0.99)),
    })
}

async fn connect(addr: &str) -> Res<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One connection: takes the next due request, sends it, reads and checks
/// the answer, until the schedule is done.
async fn connection(
    spec: Arc<Spec>,
    sender: SendRequest<Full<Bytes>>,
    tickets: Arc<Semaphore>,
    next: Arc<AtomicU64>,
    start: Instant,
    rate: f64,
    total: u64,
) -> Result<Tally, String> {
    let mut tally = Tally::new().map_err(|e| e.to_string())?;
    let mut sender = Some(sender);
    let timeout = Duration::from_secs_f64(spec.timeout_s);
    let seed = mix(spec.run.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b))));
    loop {
        match tickets.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        let n = (mix(seed ^ i) % spec.range.max(1) as u64).to_string();
        let u = format!("{}-ol-{i}", spec.run);
        let fill = |text: &str| {
            if text.contains('{') {
                text.replace("{n}", &n).replace("{u}", &u)
            } else {
                text.to_owned()
            }
        };
        let (path, body) = (fill(&spec.path), spec.body.as_deref().map(fill));
        // A connection the server closed (keep-alive ended, or an error)
        // is opened again before the request goes.
        if sender.as_ref().is_some_and(|s| s.is_closed()) {
            sender = None;
        }
        let sent = Instant::now();
        let _ = tally
            .delay
            .record(sent.saturating_duration_since(scheduled).as_micros() as u64);
        let answer = tokio::time::timeout(timeout, async {
            // A kept-alive connection the server closed while it was idle
            // fails before any answer: the request goes once more on a new
            // one, as HTTP clients do (its latency still counts from the
            // schedule).
            let reused = sender.is_some();
            for attempt in 0..2 {
                let mut s = match sender.take() {
                    Some(s) => s,
                    None => connect(&spec.addr)
                        .await
                        .map_err(|e| format!("connect: {e}"))?,
                };
                let request = build(&spec, path.clone(), body.clone())
                    .map_err(|e| format!("a request could not be built: {e}"))?;
                match exchange(&mut s, request).await {
                    Ok(answer) => {
                        sender = Some(s);
                        return Ok(answer);
                    }
                    Err(error) if reused && attempt == 0 && !error.is_timeout() => continue,
                    Err(error) => return Err(format!("HTTP: {error}")),
                }
            }
            Err("HTTP: the connection closed twice".to_owned())
        })
        .await;
        let done = Instant::now();
        match answer {
            Err(_) => {
                // The connection is mid-request: it is dropped.
                sender = None;
                tally.timeouts += 1;
                tally.fail("timed out".into());
            }
            Ok(Err(error)) => tally.fail(error),
            Ok(Ok((status, body))) => {
                tally.completed += 1;
                tally.last = Some(done);
                let _ = tally
                    .latency
                    .record(done.saturating_duration_since(scheduled).as_micros() as u64);
                if let Some(what) = failure(&spec, status, &body) {
                    tally.fail(what);
                }
            }
        }
    }
    Ok(tally)
}

/// One request and its whole answer on a connection.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn build(spec: &Spec, path: String, body: Option<String>) -> Res<hyper::Request<Full<Bytes>>> {
    let mut request = hyper::Request::builder()
        .uri(path)
        .header(hyper::header::HOST, &spec.addr);
    if let Some(token) = &spec.token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let media = spec.media.as_deref();
    Ok(match body {
        Some(body) => {
            let media = media.unwrap_or("application/json");
            request
                .method(hyper::Method::POST)
                .header(hyper::header::CONTENT_TYPE, media)
                .header(hyper::header::ACCEPT, media)
                .body(Full::new(Bytes::from(body)))?
        }
        None => {
            if let Some(media) = media {
                request = request.header(hyper::header::ACCEPT, media);
            }
            request
                .method(hyper::Method::GET)
                .body(Full::new(Bytes::new()))?
        }
    })
}

/// Why a response fails the scenario's check, if it does (the rules of
/// `bench/wrk/graphql.lua`).
fn failure(spec: &Spec, status: u16, body: &[u8]) -> Option<String> {
    let bad = status != 200
        || spec.check
            && (find(body, b"\"errors\"", 1)
                || spec
                    .expect
                    .as_ref()
                    .is_some_and(|e| !find(body, e.as_bytes(), spec.expect_count.max(1))));
    bad.then(|| {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        format!("{status} {text}")
    })
}

/// Whether `what` occurs at least `times` times in `text`.
fn find(text: &[u8], what: &[u8], times: usize) -> bool {
    if what.is_empty() {
        return true;
    }
    let mut found = 0;
    let mut at = 0;
    while found < times {
        match text[at..].windows(what.len()).position(|w| w == what) {
            Some(p) => {
                found += 1;
                at += p + what.len();
            }
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(expect: Option<&str>, count: usize) -> Spec {
        Spec {
            addr: "127.0.0.1:1".into(),
            path: "/graphql".into(),
            body: Some("{}".into()),
            media: None,
            token: None,
            expect: expect.map(str::to_owned),
            expect_count: count,
            check: true,
            range: 1,
            run: "t".into(),
            rate: 1.0,
            seconds: 1.0,
            connections: 1,
            timeout_s: 1.0,
        }
    }

    #[test]
    fn checks_as_the_wrk_script_does() {
        let s = spec(Some(r#""status":"201""#), 2);
        let two = br#"[{"status":"201"},{"status":"201"}]"#;
        assert!(failure(&s, 200, two).is_none());
        assert!(failure(&s, 200, br#"[{"status":"201"},{"status":"409"}]"#).is_some());
        assert!(failure(&s, 500, two).is_some());
        assert!(failure(&s, 200, br#"{"errors":[],"status":"201""status":"201"}"#).is_some());
        let unchecked = Spec {
            check: false,
            ..spec(None, 1)
        };
        assert!(failure(&unchecked, 200, b"anything").is_none());
        assert!(failure(&unchecked, 404, b"").is_some());
    }

    /// A server answering every request with `{"ok":1}` after `pause`,
    /// one thread per connection; its address.
    fn server(pause: Duration) -> String {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    loop {
                        let mut length = 0;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        std::thread::sleep(pause);
                        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{\"ok\":1}";
                        if writer.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn sends_on_schedule_and_checks() {
        let s = Spec {
            addr: server(Duration::ZERO),
            expect: Some(r#""ok":1"#.into()),
            rate: 400.0,
            seconds: 0.5,
            connections: 4,
            ..spec(None, 1)
        };
        let r = drive(&s).unwrap();
        assert_eq!((r.scheduled, r.completed, r.errors), (200, 200, 0));
        assert!(r.achieved_rps > 300.0, "{r:?}");
        let bad = drive(&Spec {
            expect: Some("missing".into()),
            ..s
        })
        .unwrap();
        assert_eq!(bad.errors, 200);
    }

    /// One connection to a server that takes 20 ms a request, offered 100
    /// a second: requests queue, and their latency counts from their
    /// scheduled time (closed-loop timing would show about 20 ms).
    #[test]
    fn latency_counts_from_the_schedule() {
        let s = Spec {
            addr: server(Duration::from_millis(20)),
            rate: 100.0,
            seconds: 0.4,
            connections: 1,
            ..spec(None, 1)
        };
        let r = drive(&s).unwrap();
        assert_eq!((r.completed, r.errors), (40, 0));
        assert!(r.p50_ms < 20.0 * 20.0 && r.max_ms > 300.0, "{r:?}");
        assert!(r.p99_ms > 150.0, "{r:?}");
    }

    #[test]
    fn counts_occurrences() {
        assert!(find(b"abab", b"ab", 2));
        assert!(!find(b"aba", b"ab", 2));
        assert!(find(b"", b"", 3));
    }
}
