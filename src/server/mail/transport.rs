//! How a message leaves: over SMTP to the relay in `SMTP_URL` (lettre on tokio, rustls), or,
//! in development without one, as a `.eml` file in the mailbox folder.

use std::path::PathBuf;
use std::time::Duration;

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::settings::TransportSettings;

/// How long one SMTP step (connecting, each command) may take before the attempt fails and
/// counts as transient. lettre's own default is a minute; a relay that slow is unwell, and the
/// queue retries later rather than holding a delivery slot.
const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Mailbox {
        files: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

/// What became of a message that left.
#[derive(Debug)]
pub enum Delivered {
    /// The relay accepted it.
    Relayed,
    /// Development: written to this file.
    Written(PathBuf),
}

/// Why an attempt failed, in words fit for the log: SMTP replies are reduced to their code,
/// because a relay's text often repeats the recipient's address.
#[derive(Debug)]
pub struct DeliveryError {
    /// Worth another attempt later: a 4xx reply, a network failure, a timeout.
    pub transient: bool,
    pub reason: String,
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl Transport {
    /// Builds the transport; nothing connects until the first message. The error names what
    /// lettre refused, never the URL (it may hold a password).
    pub fn from_settings(settings: &TransportSettings) -> Result<Self, String> {
        match settings {
            TransportSettings::Smtp { url } => {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map(|builder| Self::Smtp(builder.timeout(Some(SMTP_COMMAND_TIMEOUT)).build()))
                    .map_err(|error| format!("SMTP_URL was not accepted: {error}"))
            }
            TransportSettings::Mailbox { dir } => Ok(Self::Mailbox {
                files: AsyncFileTransport::new(dir),
                dir: dir.clone(),
            }),
        }
    }

    pub async fn deliver(&self, message: &Message) -> Result<Delivered, DeliveryError> {
        match self {
            Self::Smtp(smtp) => smtp
                .send(message.clone())
                .await
                .map(|_| Delivered::Relayed)
                .map_err(smtp_failure),
            Self::Mailbox { files, dir } => {
                // Made on the first message, so a development server that sends nothing leaves
                // nothing behind.
                let written = async {
                    tokio::fs::create_dir_all(dir).await?;
                    files
                        .send(message.clone())
                        .await
                        .map_err(std::io::Error::other)
                };
                match written.await {
                    Ok(id) => Ok(Delivered::Written(dir.join(format!("{id}.eml")))),
                    Err(error) => Err(DeliveryError {
                        transient: false,
                        reason: format!("could not write to {}: {error}", dir.display()),
                    }),
                }
            }
        }
    }
}

fn smtp_failure(error: lettre::transport::smtp::Error) -> DeliveryError {
    if let Some(code) = error.status() {
        return DeliveryError {
            transient: error.is_transient(),
            reason: format!(
                "the relay answered {code} ({})",
                if error.is_transient() {
                    "transient"
                } else {
                    "permanent"
                }
            ),
        };
    }
    // No reply to read: the relay could not be reached, the connection broke, or a step timed
    // out, all of which may pass. A TLS failure (a certificate the system does not trust) or
    // a refused client setting will not; neither will a reply lettre cannot parse.
    let transient = !(error.is_tls() || error.is_client() || error.is_response());
    DeliveryError {
        transient,
        reason: error.to_string(),
    }
}
