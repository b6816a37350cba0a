//! Outgoing mail: the foundation every message Gatehouse sends goes through (notices now;
//! verification, reset and address-change links later).
//!
//! - `settings`: `SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`, `MAIL_DIR`;
//! - `templates`: each message as text and HTML, from `templates/mail/`;
//! - `transport`: SMTP through lettre (tokio, rustls), or `.eml` files in development;
//! - `queue`: the bounded backlog and its worker, with retries.
//!
//! `Mailer::send` only queues: a request never waits for the relay, and whether a message
//! goes out changes nothing in the answer. Log lines name a message by its `Message-ID`, its
//! kind and the request that caused it, never by its recipient (an address is personal data).
//!
//! This module knows nothing of accounts or requests: the services decide who gets what.

mod queue;
pub mod settings;
pub mod templates;
mod transport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use self::settings::{MailSettings, PublicUrl, TransportSettings};
pub use self::templates::RenderedMail;

use self::queue::{Counters, Job, RetryPolicy, Worker};
use self::transport::Transport;

/// A message for one recipient, ready to queue.
pub struct OutgoingMail {
    /// The recipient's address. Personal data: it is never logged.
    pub to: String,
    /// Which message this is (`password_changed`), for the logs.
    pub kind: &'static str,
    pub content: RenderedMail,
    /// The request that caused it, so a failure can be traced back to it.
    pub request_id: Option<String>,
}

/// The handle the services send through; cheap to clone. The worker behind it is started
/// once, in `startup`.
#[derive(Clone)]
pub struct Mailer {
    backlog: mpsc::Sender<Job>,
    from: Mailbox,
    counters: Arc<Counters>,
    control: Arc<Control>,
}

struct Control {
    /// The drain deadline, sent to the worker when the application stops.
    stop: watch::Sender<Option<Instant>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Mailer {
    /// Builds the transport from the settings and starts the worker on the current runtime.
    /// The error says what lettre refused, never the URL.
    pub fn start(settings: &MailSettings) -> Result<Self, String> {
        let transport = Transport::from_settings(&settings.transport)?;
        Ok(Self::start_with(
            transport,
            settings.from.clone(),
            queue::BACKLOG,
            RetryPolicy::default(),
        ))
    }

    fn start_with(transport: Transport, from: Mailbox, backlog: usize, retry: RetryPolicy) -> Self {
        let (mailer, worker) = Self::unstarted(transport, from, backlog, retry);
        let running = tokio::spawn(worker.run());
        if let Ok(mut slot) = mailer.control.worker.lock() {
            *slot = Some(running);
        }
        mailer
    }

    /// The handle and its worker, not yet running (the queue's tests fill the backlog first).
    fn unstarted(
        transport: Transport,
        from: Mailbox,
        backlog: usize,
        retry: RetryPolicy,
    ) -> (Self, Worker) {
        let (sender, receiver) = mpsc::channel(backlog);
        let (stop, stopped) = watch::channel(None);
        let counters = Arc::new(Counters::default());
        let mailer = Self {
            backlog: sender,
            from,
            counters: counters.clone(),
            control: Arc::new(Control {
                stop,
                worker: Mutex::new(None),
            }),
        };
        let worker = Worker {
            backlog: receiver,
            transport: Arc::new(transport),
            retry,
            counters,
            stop: stopped,
        };
        (mailer, worker)
    }

    /// Queues `mail` and returns at once. A message that cannot be built, or finds the backlog
    /// full, is logged (with the request id) and dropped: the caller's answer does not change.
    pub fn send(&self, mail: OutgoingMail) {
        let (kind, request_id) = (mail.kind, mail.request_id.clone());
        let job = match self.compose(mail) {
            Ok(job) => job,
            Err(reason) => {
                Counters::add(&self.counters.dropped);
                tracing::error!(
                    event = "mail.invalid",
                    kind,
                    request_id = request_id.as_deref().unwrap_or("-"),
                    reason,
                    "message not sent"
                );
                return;
            }
        };
        let message_id = job.message_id.clone();
        let reason = match self.backlog.try_send(job) {
            Ok(()) => {
                tracing::debug!(event = "mail.queued", kind, message_id);
                return;
            }
            Err(TrySendError::Full(_)) => "the mail backlog is full",
            Err(TrySendError::Closed(_)) => "the mail queue has stopped (shutting down)",
        };
        Counters::add(&self.counters.dropped);
        tracing::error!(
            event = "mail.dropped",
            kind,
            message_id,
            request_id = request_id.as_deref().unwrap_or("-"),
            reason,
            "message not sent"
        );
    }

    fn compose(&self, mail: OutgoingMail) -> Result<Job, &'static str> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| "the recipient's address is not one the mail builder accepts")?;
        let message_id = format!(
            "<{}@{}>",
            uuid::Uuid::new_v4().simple(),
            self.from.email.domain()
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.content.subject)
            .message_id(Some(message_id.clone()))
            .header(AutoSubmitted)
            .multipart(MultiPart::alternative_plain_html(
                mail.content.text,
                mail.content.html,
            ))
            .map_err(|_| "the message could not be built")?;
        Ok(Job {
            message,
            message_id,
            kind: mail.kind,
            link: mail.content.link,
            request_id: mail.request_id,
        })
    }

    /// At shutdown: stops taking messages, delivers those queued or in progress for at most
    /// `within`, and returns when done (what is left then is logged as lost).
    pub async fn drain(&self, within: Duration) {
        let worker = self
            .control
            .worker
            .lock()
            .ok()
            .and_then(|mut worker| worker.take());
        let _ = self.control.stop.send(Some(Instant::now() + within));
        if let Some(worker) = worker {
            let _ = worker.await;
        }
    }

    /// Messages the relay accepted (or, in development, written to files).
    pub fn sent(&self) -> u64 {
        self.counters
            .sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Messages given up on: a permanent refusal, retries exhausted, or the shutdown deadline.
    pub fn failed(&self) -> u64 {
        self.counters
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Messages never queued: the backlog was full, the queue had stopped, or the message
    /// could not be built.
    pub fn dropped(&self) -> u64 {
        self.counters
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no person wrote this, so vacation responders
/// and the like do not answer it.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn mailer_writing_to(dir: &Path, backlog: usize) -> (Mailer, Worker) {
        let settings = TransportSettings::Mailbox {
            dir: dir.to_path_buf(),
        };
        Mailer::unstarted(
            Transport::from_settings(&settings).unwrap(),
            "Gatehouse <no-reply@auth.example.com>".parse().unwrap(),
            backlog,
            RetryPolicy::default(),
        )
    }

    fn mail(n: usize) -> OutgoingMail {
        OutgoingMail {
            to: format!("person{n}@example.com"),
            kind: "test",
            content: RenderedMail {
                subject: format!("Message {n}"),
                text: "Plain words.\n".into(),
                html: "<p>Marked-up words.</p>".into(),
                link: Some("https://auth.example.com/login".into()),
            },
            request_id: Some(format!("request-{n}")),
        }
    }

    fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_full_backlog_drops_and_counts_what_does_not_fit_and_a_drain_delivers_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mailbox = dir.path().join("mail");
        // The worker is not running yet, so nothing leaves the backlog of two.
        let (mailer, worker) = mailer_writing_to(&mailbox, 2);
        for n in 0..3 {
            mailer.send(mail(n));
        }
        assert_eq!(mailer.dropped(), 1);
        if let Ok(mut slot) = mailer.control.worker.lock() {
            *slot = Some(tokio::spawn(worker.run()));
        }
        // Told to stop before it has taken anything, the worker still delivers both.
        mailer.drain(Duration::from_secs(30)).await;
        assert_eq!(files_in(&mailbox).len(), 2);
        assert_eq!((mailer.sent(), mailer.failed()), (2, 0));
        // After the drain nothing more is taken.
        mailer.send(mail(4));
        assert_eq!(mailer.dropped(), 2);
        assert_eq!(files_in(&mailbox).len(), 2);
    }

    #[tokio::test]
    async fn the_development_mailbox_writes_a_message_any_mail_reader_can_parse() {
        use mail_parser::MessageParser;

        let dir = tempfile::tempdir().unwrap();
        let (mailer, worker) = mailer_writing_to(dir.path(), 8);
        if let Ok(mut slot) = mailer.control.worker.lock() {
            *slot = Some(tokio::spawn(worker.run()));
        }
        mailer.send(mail(1));
        mailer.drain(Duration::from_secs(30)).await;
        let files = files_in(dir.path());
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().unwrap(), "eml");
        let raw = std::fs::read(&files[0]).unwrap();
        let message = MessageParser::default().parse(&raw).expect("a message");
        assert_eq!(message.subject(), Some("Message 1"));
        let from = message.from().and_then(|f| f.first()).unwrap();
        assert_eq!(from.name(), Some("Gatehouse"));
        assert_eq!(from.address(), Some("no-reply@auth.example.com"));
        assert_eq!(
            message.to().and_then(|t| t.first()).unwrap().address(),
            Some("person1@example.com")
        );
        // Mail lines end in CRLF, whatever the template used.
        assert_eq!(message.body_text(0).as_deref(), Some("Plain words.\r\n"));
        assert_eq!(
            message.body_html(0).as_deref(),
            Some("<p>Marked-up words.</p>")
        );
        assert!(message
            .message_id()
            .is_some_and(|id| id.ends_with("@auth.example.com")));
        assert_eq!(
            message.header("Auto-Submitted").and_then(|v| v.as_text()),
            Some("auto-generated")
        );
    }

    #[tokio::test]
    async fn a_shutdown_waits_for_a_stuck_relay_only_until_its_deadline() {
        // A relay that accepts the connection and never greets.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("smtp://{}", silent.local_addr().unwrap());
        let transport =
            Transport::from_settings(&TransportSettings::Smtp { url: url.into() }).unwrap();
        let mailer = Mailer::start_with(
            transport,
            "no-reply@example.com".parse().unwrap(),
            8,
            RetryPolicy::default(),
        );
        mailer.send(mail(1));
        mailer.drain(Duration::from_millis(200)).await;
        assert_eq!((mailer.sent(), mailer.failed()), (0, 1));
    }

    #[test]
    fn an_address_the_builder_refuses_is_dropped_not_queued() {
        let dir = tempfile::tempdir().unwrap();
        let (mailer, _worker) = mailer_writing_to(dir.path(), 8);
        let mut bad = mail(1);
        bad.to = "not an address".into();
        mailer.send(bad);
        assert_eq!(mailer.dropped(), 1);
        assert_eq!(mailer.backlog.capacity(), 8, "nothing was queued");
    }
}
