//! A small SMTP server on loopback, so the tests read the mail the app really sends: it speaks
//! enough of RFC 5321 for any client (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET,
//! NOOP, QUIT), keeps every message it accepts, and can be told to hold a connection or to
//! refuse a transaction.
//!
//! Tests wait for a message with `next_for`, which wakes when one arrives (bounded by a
//! timeout that only a failing test reaches), never by sleeping.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How long `next_for` waits before the test fails: far beyond a delivery (and its first
/// retry, one second after a refusal).
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);
/// Longest command or data line read (RFC 5321 allows 1000 bytes with the CRLF).
const MAX_LINE: usize = 4096;

pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    /// Accepted and not yet taken by `next_for`.
    messages: Mutex<Vec<Received>>,
    /// Counts arrivals, so a waiting test wakes on each.
    arrivals: watch::Sender<u64>,
    /// Replies to give, in turn, to the next `MAIL FROM`s instead of accepting them.
    refusals: Mutex<VecDeque<String>>,
    /// When set, the next connection waits here before the greeting.
    hold: Mutex<Option<Arc<Hold>>>,
    /// `MAIL FROM` commands seen: one per delivery attempt.
    attempts: AtomicUsize,
}

/// A connection held before the greeting: `entered` fires when the client is waiting,
/// `release` lets it go on.
#[derive(Default)]
pub struct Hold {
    pub entered: Notify,
    pub release: Notify,
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope: `MAIL FROM` and every `RCPT TO`.
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed.
    pub data: Vec<u8>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("its address");
        let shared = Arc::new(Shared::default());
        let accepting = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(converse(stream, shared.clone()));
                }
            }
        });
        Self {
            addr,
            shared,
            accepting,
        }
    }

    /// `SMTP_URL` for an app that sends here (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The next message for `address` (envelope recipient, any case), waiting for it.
    pub async fn next_for(&self, address: &str) -> Received {
        let mut arrivals = self.shared.arrivals.subscribe();
        let waited = tokio::time::timeout(ARRIVAL_LIMIT, async {
            loop {
                if let Some(message) = self.take_for(address) {
                    return message;
                }
                arrivals.changed().await.expect("the sink is running");
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("no mail for {address} within {ARRIVAL_LIMIT:?}"))
    }

    /// The messages for `address` that arrived and were not taken yet, without waiting.
    pub fn waiting_for(&self, address: &str) -> usize {
        let messages = self.shared.messages.lock().unwrap();
        messages.iter().filter(|m| m.is_for(address)).count()
    }

    /// Every message received and not taken yet, whoever it is for.
    pub fn waiting(&self) -> usize {
        self.shared.messages.lock().unwrap().len()
    }

    fn take_for(&self, address: &str) -> Option<Received> {
        let mut messages = self.shared.messages.lock().unwrap();
        let at = messages.iter().position(|m| m.is_for(address))?;
        Some(messages.remove(at))
    }

    /// The next `MAIL FROM` is answered with `reply` (e.g. `451 4.3.0 Try again later`)
    /// instead of being accepted.
    pub fn refuse_next(&self, reply: &str) {
        self.shared
            .refusals
            .lock()
            .unwrap()
            .push_back(reply.to_string());
    }

    /// Holds the next connection before its greeting until `release` is notified.
    pub fn hold_next(&self) -> Arc<Hold> {
        let hold = Arc::new(Hold::default());
        *self.shared.hold.lock().unwrap() = Some(hold.clone());
        hold
    }

    /// Delivery attempts seen (`MAIL FROM` commands), refused ones included.
    pub fn attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Received {
    fn is_for(&self, address: &str) -> bool {
        self.envelope_to
            .iter()
            .any(|to| to.eq_ignore_ascii_case(address))
    }

    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parseable message")
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().expect("a subject").to_string()
    }

    /// The text/plain part, decoded.
    pub fn text(&self) -> String {
        let message = self.parsed();
        assert_eq!(message.text_body.len(), 1, "one text part");
        message.body_text(0).expect("a text part").into_owned()
    }

    /// The text/html part, decoded.
    pub fn html(&self) -> String {
        let message = self.parsed();
        assert_eq!(message.html_body.len(), 1, "one HTML part");
        message.body_html(0).expect("an HTML part").into_owned()
    }

    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let message = self.parsed();
        let value = message.header(name)?;
        value
            .as_text()
            .map(str::to_string)
            .or_else(|| value.as_address().map(|a| format!("{a:?}")))
    }
}

/// One connection: greeting, then commands until QUIT or the client goes away.
async fn converse(stream: TcpStream, shared: Arc<Shared>) {
    let hold = shared.hold.lock().unwrap().take();
    if let Some(hold) = hold {
        hold.entered.notify_one();
        hold.release.notified().await;
    }
    let (reader, mut out) = stream.into_split();
    let mut reader = BufReader::new(reader);
    if out
        .write_all(b"220 sink.test ESMTP test sink\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut reader).await else {
            return;
        };
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8".to_string()
        } else if upper.starts_with("HELO") {
            "250 sink.test".to_string()
        } else if upper.starts_with("MAIL FROM:") {
            shared.attempts.fetch_add(1, Ordering::SeqCst);
            let refusal = shared.refusals.lock().unwrap().pop_front();
            match refusal {
                Some(refusal) => {
                    from = None;
                    to.clear();
                    refusal
                }
                None => {
                    from = Some(angle_address(&line["MAIL FROM:".len()..]));
                    to.clear();
                    "250 2.1.0 OK".to_string()
                }
            }
        } else if upper.starts_with("RCPT TO:") {
            if from.is_some() {
                to.push(angle_address(&line["RCPT TO:".len()..]));
                "250 2.1.5 OK".to_string()
            } else {
                "503 5.5.1 MAIL first".to_string()
            }
        } else if upper == "DATA" {
            if from.is_none() || to.is_empty() {
                "503 5.5.1 RCPT first".to_string()
            } else {
                if out
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let Some(data) = read_data(&mut reader).await else {
                    return;
                };
                let received = Received {
                    envelope_from: from.take().unwrap_or_default(),
                    envelope_to: std::mem::take(&mut to),
                    data,
                };
                shared.messages.lock().unwrap().push(received);
                shared.arrivals.send_modify(|n| *n += 1);
                "250 2.0.0 OK: queued".to_string()
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 OK".to_string()
        } else if upper.starts_with("NOOP") {
            "250 2.0.0 OK".to_string()
        } else if upper == "QUIT" {
            let _ = out.write_all(b"221 2.0.0 Bye\r\n").await;
            return;
        } else {
            "502 5.5.2 Command not recognised".to_string()
        };
        if out
            .write_all(format!("{answer}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// One line without its CRLF; `None` when the client is gone or sends an endless line.
async fn read_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut line = Vec::new();
    let read = reader.read_until(b'\n', &mut line).await.ok()?;
    if read == 0 || line.len() > MAX_LINE {
        return None;
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).ok()
}

/// The message after DATA, up to the lone `.`, with the leading dot of each stuffed line
/// removed (RFC 5321 4.5.2).
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            return Some(data);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

/// `<alice@example.com> SIZE=123` → `alice@example.com`.
fn angle_address(argument: &str) -> String {
    let argument = argument.trim();
    match (argument.find('<'), argument.find('>')) {
        (Some(open), Some(close)) if open < close => argument[open + 1..close].to_string(),
        _ => argument
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[tokio::test]
async fn the_sink_speaks_smtp_unstuffs_dots_and_holds_and_refuses_on_request() {
    let sink = SmtpSink::start().await;
    let hold = sink.hold_next();
    sink.refuse_next("451 4.3.0 Try again later");
    let client = tokio::spawn({
        let addr = sink.addr;
        async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (reader, mut writer) = stream.into_split();
            let mut reader = BufReader::new(reader);
            let mut replies = Vec::new();
            replies.push(read_line(&mut reader).await.unwrap());
            for command in [
                "EHLO client.test",
                "MAIL FROM:<a@example.com>",
                "RSET",
                "NOOP",
                "MAIL FROM:<a@example.com> BODY=8BITMIME",
                "RCPT TO:<Bob@Example.com>",
                "DATA",
            ] {
                writer
                    .write_all(format!("{command}\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut reply = read_line(&mut reader).await.unwrap();
                // EHLO's reply has several lines; the last has a space after the code.
                while reply.as_bytes().get(3) == Some(&b'-') {
                    reply = read_line(&mut reader).await.unwrap();
                }
                replies.push(reply);
            }
            writer
                .write_all(b"Subject: dots\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
                .await
                .unwrap();
            replies.push(read_line(&mut reader).await.unwrap());
            replies.push(read_line(&mut reader).await.unwrap());
            replies
        }
    });
    crate::helpers::within("the message reaches the relay", hold.entered.notified()).await;
    assert_eq!(sink.waiting(), 0);
    hold.release.notify_one();
    let message = sink.next_for("bob@example.com").await;
    assert_eq!(message.envelope_from, "a@example.com");
    assert_eq!(message.data, b"Subject: dots\r\n\r\n.leading dot\r\n");
    let replies = client.await.unwrap();
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(
        codes,
        ["220", "250", "451", "250", "250", "250", "250", "354", "250", "221"]
    );
    assert_eq!(sink.attempts(), 2);
}
