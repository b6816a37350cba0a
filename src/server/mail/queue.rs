//! The delivery queue: a bounded backlog in memory, drained by one worker that runs a few
//! deliveries at a time, each retried with growing delays while the failure is transient.
//!
//! Sending never waits for the relay: a request puts its message in the backlog and goes on.
//! When the backlog is full (the relay has been away for a while) a new message is dropped and
//! logged rather than letting memory grow without bound. At shutdown the worker takes no new
//! messages and delivers what it holds until a deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lettre::Message;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::transport::{Delivered, Transport};

/// Messages waiting for a delivery slot. Each holds a few kilobytes.
pub const BACKLOG: usize = 500;
/// Deliveries in progress at once (each may be waiting to retry).
pub const CONCURRENT_DELIVERIES: usize = 4;

/// The waits between attempts: a transient failure is tried again after each, then given up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub delays: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// Five attempts over about six minutes: long enough for a relay restart or a burst of
    /// "421 try again later", short enough that a notice still arrives while it is news.
    fn default() -> Self {
        Self {
            delays: [1, 10, 60, 300].map(Duration::from_secs).to_vec(),
        }
    }
}

/// One message in the queue, with what its log lines name.
pub struct Job {
    pub message: Message,
    /// The `Message-ID` header: names the message in the logs instead of its recipient.
    pub message_id: String,
    /// Which message it is (`password_changed`).
    pub kind: &'static str,
    /// The link the development mailbox logs.
    pub link: Option<String>,
    pub request_id: Option<String>,
}

/// What happened to the messages, for tests and the logs.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The worker's side of the queue. `run` delivers until told to stop (or until every sender is
/// gone), then drains.
pub struct Worker {
    pub backlog: mpsc::Receiver<Job>,
    pub transport: Arc<Transport>,
    pub retry: RetryPolicy,
    pub counters: Arc<Counters>,
    /// Set to the drain deadline when the application stops.
    pub stop: watch::Receiver<Option<Instant>>,
}

impl Worker {
    pub async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
        let mut deliveries = JoinSet::new();
        loop {
            // A slot first, then a message: what waits stays in the bounded backlog.
            let slot = tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let job = tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                job = self.backlog.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let (transport, retry, counters) = (
                self.transport.clone(),
                self.retry.clone(),
                self.counters.clone(),
            );
            deliveries.spawn(async move {
                deliver(job, &transport, &retry, &counters).await;
                drop(slot);
            });
            // Forget the deliveries that are done, so the set holds only those in progress.
            while deliveries.try_join_next().is_some() {}
        }
        self.drain(slots, deliveries).await;
    }

    /// Refuses new messages, then delivers those already queued (still a few at a time) and
    /// lets the deliveries in progress finish, until the deadline; whatever is left then is
    /// logged as lost.
    async fn drain(mut self, slots: Arc<Semaphore>, mut deliveries: JoinSet<()>) {
        self.backlog.close();
        while deliveries.try_join_next().is_some() {}
        let pending = deliveries.len() + self.backlog.len();
        if pending == 0 {
            return;
        }
        tracing::info!(pending, "delivering the queued mail before stopping");
        let deadline = *self.stop.borrow();
        let (transport, retry, counters) = (&self.transport, &self.retry, &self.counters);
        let backlog = &mut self.backlog;
        let work = async {
            while let Ok(slot) = slots.clone().acquire_owned().await {
                let Ok(job) = backlog.try_recv() else { break };
                let (transport, retry, counters) =
                    (transport.clone(), retry.clone(), counters.clone());
                deliveries.spawn(async move {
                    deliver(job, &transport, &retry, &counters).await;
                    drop(slot);
                });
            }
            while deliveries.join_next().await.is_some() {}
        };
        let in_time = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, work).await.is_ok(),
            None => {
                work.await;
                true
            }
        };
        if !in_time {
            // Those that ended just before the deadline were delivered (or failed) already.
            while deliveries.try_join_next().is_some() {}
            let lost = deliveries.len() + self.backlog.len();
            deliveries.abort_all();
            self.counters
                .failed
                .fetch_add(lost as u64, Ordering::Relaxed);
            tracing::error!(
                event = "mail.lost",
                count = lost,
                "shutdown deadline reached: messages not delivered"
            );
        }
    }
}

/// Delivers one message, retrying transient failures; every outcome is logged with the
/// message id and the request that caused it, never the recipient.
async fn deliver(job: Job, transport: &Transport, retry: &RetryPolicy, counters: &Counters) {
    let span = tracing::info_span!(
        "mail",
        kind = job.kind,
        message_id = %job.message_id,
        request_id = job.request_id.as_deref().unwrap_or("-"),
    );
    async {
        let mut attempt = 1;
        loop {
            match transport.deliver(&job.message).await {
                Ok(Delivered::Relayed) => {
                    Counters::add(&counters.sent);
                    tracing::info!(event = "mail.sent", attempts = attempt);
                    return;
                }
                Ok(Delivered::Written(path)) => {
                    Counters::add(&counters.sent);
                    tracing::info!(
                        event = "mail.written",
                        path = %path.display(),
                        link = job.link.as_deref().unwrap_or("-"),
                        "development mailbox (no SMTP_URL): message written to a file"
                    );
                    return;
                }
                Err(error) => match retry.delays.get(attempt - 1) {
                    Some(delay) if error.transient => {
                        tracing::warn!(
                            event = "mail.retry",
                            attempt,
                            reason = %error,
                            retry_in_secs = delay.as_secs_f32(),
                        );
                        tokio::time::sleep(*delay).await;
                        attempt += 1;
                    }
                    _ => {
                        Counters::add(&counters.failed);
                        tracing::error!(
                            event = "mail.failed",
                            attempts = attempt,
                            reason = %error,
                            "message not delivered"
                        );
                        return;
                    }
                },
            }
        }
    }
    .instrument(span)
    .await
}
