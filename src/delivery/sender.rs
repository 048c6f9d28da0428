//! One HTTP POST per delivery, signed the Standard Webhooks way, through
//! a client that only connects to allowed addresses, follows no redirect,
//! uses no proxy and reads at most [`MAX_RESPONSE_BYTES`] of an answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use standardwebhooks::Webhook;

use crate::domain::webhook::AddressPolicy;
use crate::service::{Attempt, DueDelivery, LeasedEndpoint};

/// The most of a receiver's answer that is read (then the connection is
/// dropped).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What a refused address says, to the org's admins in the delivery log.
const NOT_ALLOWED: &str = "the host resolves only to addresses this server may not connect to";

/// Sends deliveries.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: AddressPolicy,
    timeout: Duration,
}

/// Resolves names like the system does, then drops every address the
/// policy refuses: the client connects only to what is left, so a name
/// that points (or is re-pointed) inside the network gets nowhere.
struct GuardedResolver {
    policy: AddressPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("{NOT_ALLOWED}")]
struct AddressNotAllowed;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(AddressNotAllowed) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl Sender {
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .user_agent(concat!("Roster-Webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Self {
            client,
            policy,
            timeout,
        })
    }

    /// POSTs the event to the endpoint; what came of it. Never fails: every
    /// problem is an attempt that failed, with a reason.
    pub async fn send(&self, endpoint: &LeasedEndpoint, due: &DueDelivery) -> Attempt {
        let started = Instant::now();
        let failed = |error: String| Attempt {
            status_code: None,
            latency: started.elapsed(),
            error: Some(error),
        };
        let Ok(url) = reqwest::Url::parse(&endpoint.url) else {
            return failed("the endpoint URL is malformed".into());
        };
        // Saved when plain http was allowed, perhaps, but not now.
        if url.scheme() != "https" && !(url.scheme() == "http" && self.policy.allow_http) {
            return failed("plain http is not allowed on this server".into());
        }
        // A literal address is not resolved, so it is checked here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !self.policy.allows(ip)) {
            return failed(NOT_ALLOWED.into());
        }
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match sign(&endpoint.secrets, &due.event_id, timestamp, &due.body) {
            Ok(signature) => signature,
            Err(error) => return failed(error),
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &due.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(due.body.clone())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return failed(self.describe(&error)),
        };
        // Belt and braces: the address actually connected to.
        if let Some(remote) = response.remote_addr()
            && !self.policy.allows(remote.ip())
        {
            return failed(NOT_ALLOWED.into());
        }
        let status = response.status().as_u16();
        let mut read = 0usize;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if read >= MAX_RESPONSE_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    // The status came back; a body cut short or too slow
                    // does not undo it.
                    tracing::debug!(target: "roster::webhook", error = %error, "reading a webhook answer stopped");
                    break;
                }
            }
        }
        Attempt {
            status_code: Some(status),
            latency: started.elapsed(),
            error: None,
        }
    }

    /// An error as the org's admins read it: what went wrong, without our
    /// internals.
    fn describe(&self, error: &reqwest::Error) -> String {
        let mut source: Option<&dyn std::error::Error> = Some(error);
        while let Some(e) = source {
            if e.is::<AddressNotAllowed>() {
                return NOT_ALLOWED.into();
            }
            source = e.source();
        }
        if error.is_timeout() {
            format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )
        } else if error.is_connect() {
            "could not connect".into()
        } else if error.is_request() {
            "the request could not be sent".into()
        } else {
            "the connection failed".into()
        }
    }
}

/// The `webhook-signature` header: a `v1,` signature per secret, space
/// separated (the current secret first).
pub fn sign(secrets: &[String], id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let signer =
            Webhook::new(secret).map_err(|_| "the endpoint's secret is malformed".to_owned())?;
        signatures.push(
            signer
                .sign(id, timestamp, body.as_bytes())
                .map_err(|_| "the event could not be signed".to_owned())?,
        );
    }
    Ok(signatures.join(" "))
}
