//! The least time a failed sign-in takes, whatever made it fail.
//!
//! An unknown name and a wrong password already cost one argon2 verification each (the
//! dummy hash), but other failures differ: an account imported from the seed app still has a
//! bcrypt hash (cost 12 ≈ 205 ms, against ≈ 15 ms for argon2), a password over bcrypt's
//! 72 bytes is refused without hashing at all, and only a real account's failure writes to
//! its activity log. Each difference would tell an attacker which names have accounts (and
//! which were imported). So every failed sign-in is answered no sooner than this floor after
//! its check began; the work, the log writes included, happens inside it.
//!
//! The floor is measured once at start-up on the hashing pool: 1.5 × the slower of today's
//! argon2 verification and a bcrypt hash at the seed app's cost (each the least of three
//! runs), plus 50 ms for the database writes. `SIGN_IN_FAILURE_FLOOR_MS` sets it instead (0 turns it off: tests only).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::password::PasswordHasher;

/// Used until the start-up measurement is in (a fraction of a second): longer than any
/// verification the measurement could find on a working machine.
const BEFORE_CALIBRATION: Duration = Duration::from_secs(1);
/// Room for the activity-log writes and scheduling noise on top of the hashing.
const WRITE_MARGIN: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct FailureFloor {
    millis: Arc<AtomicU64>,
}

impl FailureFloor {
    pub fn fixed(floor: Duration) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(floor.as_millis() as u64)),
        }
    }

    /// Measures the floor in the background; until then it is a conservative second.
    pub fn calibrated(hasher: PasswordHasher) -> Self {
        let floor = Self::fixed(BEFORE_CALIBRATION);
        let handle = floor.clone();
        tokio::spawn(async move {
            match hasher.slowest_verification().await {
                Ok(slowest) => {
                    let measured = slowest * 3 / 2 + WRITE_MARGIN;
                    handle
                        .millis
                        .store(measured.as_millis() as u64, Ordering::Relaxed);
                    tracing::info!(
                        floor_ms = measured.as_millis() as u64,
                        slowest_verification_ms = slowest.as_millis() as u64,
                        "sign-in failure floor measured"
                    );
                }
                Err(error) => {
                    tracing::warn!(%error, "sign-in failure floor not measured; keeping 1 s")
                }
            }
        });
        floor
    }

    pub fn get(&self) -> Duration {
        Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }

    /// Waits until the floor has passed since `started`.
    pub async fn wait_out(&self, started: Instant) {
        tokio::time::sleep_until(started + self.get()).await;
    }
}
