//! Background work that `serve` starts: the webhook worker, reading the
//! outbox (the events table) and sending what it finds.
//!
//! Each instance runs one worker. A tick dispatches new events into
//! deliveries, then leases endpoints that have deliveries due and sends to
//! each, one request at a time per endpoint, at most `concurrency`
//! endpoints at once. Leases make any number of instances share the work
//! on one PostgreSQL without sending twice; a lease that is not renewed
//! (its instance died) expires and another instance takes the endpoint
//! over. See `docs/webhooks.md`.

pub mod mail;
pub mod sender;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::service::Service;
pub use sender::Sender;

/// Deliveries read per endpoint at a time: one turn.
const BATCH: i64 = 100;
/// How long one turn at an endpoint may take before the lease is given
/// back for others' turns (checked after each attempt).
const TURN: Duration = Duration::from_secs(5);
/// How often the queue gauges are measured.
const MEASURE_EVERY: Duration = Duration::from_secs(5);
/// How often settled deliveries older than [`KEEP_SETTLED`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long delivered and failed deliveries stay listed.
pub const KEEP_SETTLED: Duration = Duration::from_secs(30 * 24 * 3600);

/// The worker's settings (`ROSTER_WEBHOOK_*`).
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Endpoints sent to at once by this instance.
    pub concurrency: usize,
    /// How often to look for work when no local write wakes the worker.
    pub poll: Duration,
}

/// Invitation mails taken per look.
/// Invitation mails taken per look: one, leased just before it is sent,
/// so that a slow server cannot outlast the lease of mails still waiting.
const MAILS_AT_ONCE: i64 = 1;

/// Sends invitation mails as the outbox queues them (see
/// `Service::dispatch_webhooks`), one at a time, retrying failures later.
pub fn start_mail(service: Service, mailer: mail::Mailer, poll: Duration) {
    actix_web::rt::spawn(async move {
        loop {
            let jobs = match service.take_invitation_mails(MAILS_AT_ONCE).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, "taking invitation mails failed");
                    Vec::new()
                }
            };
            let more = jobs.len() as i64 >= MAILS_AT_ONCE;
            for job in &jobs {
                let outcome = match mailer.invitation(&job.mail) {
                    Ok(message) => mailer.send(message).await,
                    Err(error) => Err(error),
                };
                let outcome = match outcome {
                    Ok(()) => crate::service::MailOutcome::Sent,
                    Err(e) => crate::service::MailOutcome::Failed {
                        error: e.message,
                        permanent: e.permanent,
                    },
                };
                if let Err(error) = service.record_invitation_mail(job, outcome).await {
                    tracing::warn!(%error, "recording an invitation mail failed");
                }
            }
            if !more {
                actix_web::rt::time::sleep(poll).await;
            }
        }
    });
}

/// Starts the worker on the current (actix) runtime. `service` should be
/// on a pool of its own (see [`Service::on_pool`]).
pub fn start(service: Service, sender: Sender, settings: WorkerSettings) {
    // The process id first, so an operator (or a test) can tell whose
    // lease it is; the random part keeps restarts apart.
    let owner = format!("{}:{}", std::process::id(), uuid::Uuid::now_v7().simple());
    tracing::info!(instance = %owner, "webhook delivery started");
    let worker = Worker {
        service,
        sender,
        owner: Rc::from(owner),
        busy: Rc::default(),
        permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
    };
    actix_web::rt::spawn(worker.run(settings.poll));
}

struct Worker {
    service: Service,
    sender: Sender,
    /// This instance's name on the leases it holds.
    owner: Rc<str>,
    /// Endpoints this instance is sending to now.
    busy: Rc<RefCell<HashSet<String>>>,
    permits: Arc<Semaphore>,
}

impl Worker {
    async fn run(self, poll: Duration) {
        let mut measured = std::time::Instant::now() - MEASURE_EVERY;
        let mut pruned = std::time::Instant::now();
        loop {
            let mut more = false;
            match self.service.dispatch_webhooks().await {
                Ok(read) => more = read >= 1000,
                Err(error) => tracing::warn!(%error, "dispatching webhook deliveries failed"),
            }
            self.claim().await;
            if measured.elapsed() >= MEASURE_EVERY {
                measured = std::time::Instant::now();
                if let Err(error) = self.service.measure_delivery_queue().await {
                    tracing::warn!(%error, "measuring the webhook queue failed");
                }
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = std::time::Instant::now();
                match self.service.prune_deliveries(KEEP_SETTLED).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, "old webhook deliveries pruned"),
                    Err(error) => tracing::warn!(%error, "pruning webhook deliveries failed"),
                }
            }
            if !more {
                let _ = actix_web::rt::time::timeout(poll, self.service.events_recorded()).await;
            }
        }
    }

    /// Leases endpoints with deliveries due, while permits last, and
    /// starts sending to each.
    async fn claim(&self) {
        let free = self.permits.available_permits();
        if free == 0 {
            return;
        }
        // Endpoints this instance is at now come back too: ask for enough.
        let busy = self.busy.borrow().len() as i64;
        let due = match self.service.due_webhooks(free as i64 + busy).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "looking for due webhook deliveries failed");
                return;
            }
        };
        for id in due {
            if self.busy.borrow().contains(&id) {
                continue;
            }
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                return;
            };
            match self.service.lease_webhook(&id, &self.owner).await {
                Ok(Some(endpoint)) => {
                    self.busy.borrow_mut().insert(id.clone());
                    let (service, sender, owner, busy) = (
                        self.service.clone(),
                        self.sender.clone(),
                        self.owner.clone(),
                        self.busy.clone(),
                    );
                    actix_web::rt::spawn(async move {
                        if send_to(&service, &sender, &owner, endpoint).await {
                            // Its turn ended with more due: the next turn
                            // (this endpoint's or another's) starts now,
                            // not at the next poll.
                            service.wake_delivery();
                        }
                        busy.borrow_mut().remove(&id);
                        drop(permit);
                    });
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "leasing a webhook endpoint failed"),
            }
        }
    }
}

/// One turn at an endpoint: its due deliveries in position order, one at
/// a time, until none is due, [`BATCH`] were sent or [`TURN`] has passed;
/// then the lease goes back, so that every endpoint gets its turn. Each
/// attempt is recorded before the next starts, with the endpoint read
/// again: a deleted, disabled or changed endpoint takes effect from the
/// next request on.
/// Returns whether the turn ended with deliveries possibly still due.
async fn send_to(
    service: &Service,
    sender: &Sender,
    owner: &str,
    endpoint: crate::service::LeasedEndpoint,
) -> bool {
    let started = std::time::Instant::now();
    let id = endpoint.id.clone();
    let due = match service.due_deliveries(&id, BATCH).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "reading due webhook deliveries failed");
            Vec::new()
        }
    };
    let mut current = Some(endpoint);
    for delivery in &due {
        let Some(endpoint) = current.take() else {
            break;
        };
        let attempt = sender.send(&endpoint, delivery).await;
        tracing::debug!(
            target: "roster::webhook",
            webhook = %endpoint.id,
            delivery = %delivery.id,
            event = %delivery.event_id,
            status = attempt.status_code,
            latency_ms = attempt.latency.as_millis() as u64,
            error = attempt.error.as_deref().unwrap_or(""),
            "webhook attempt"
        );
        match service
            .record_delivery(owner, &endpoint.id, &delivery.id, attempt)
            .await
        {
            // Stopped: the lease is no longer this instance's to give back.
            Ok(None) => return false,
            Ok(Some(now)) => current = Some(now),
            Err(error) => {
                // The lease runs out and the delivery is tried again.
                tracing::warn!(%error, "recording a webhook attempt failed");
                return false;
            }
        }
        if started.elapsed() >= TURN {
            break;
        }
    }
    if let Err(error) = service.release_webhook(&id, owner).await {
        tracing::warn!(%error, "releasing a webhook lease failed");
    }
    due.len() as i64 >= BATCH || started.elapsed() >= TURN
}
