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

use super::password::{HashError, PasswordHasher};

/// Used until the start-up measurement is in (a fraction of a second): longer than any
/// verification the measurement could find on a working machine.
const BEFORE_CALIBRATION: Duration = Duration::from_secs(1);
/// Room for the activity-log writes and scheduling noise on top of the hashing.
const WRITE_MARGIN: Duration = Duration::from_millis(50);

/// The floor on a machine whose slowest verification takes `slowest`: half as long again, so
/// a busier moment than the measured one still finishes inside it, plus the log writes.
fn floor_for(slowest: Duration) -> Duration {
    slowest * 3 / 2 + WRITE_MARGIN
}

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
            if let Err(error) = handle.calibrate(&hasher).await {
                tracing::warn!(%error, "sign-in failure floor not measured; keeping 1 s")
            }
        });
        floor
    }

    /// Times the slowest verification on `hasher`'s pool and sets the floor from it.
    async fn calibrate(&self, hasher: &PasswordHasher) -> Result<Duration, HashError> {
        let slowest = hasher.slowest_verification().await?;
        let measured = floor_for(slowest);
        self.millis
            .store(measured.as_millis() as u64, Ordering::Relaxed);
        tracing::info!(
            floor_ms = measured.as_millis() as u64,
            slowest_verification_ms = slowest.as_millis() as u64,
            "sign-in failure floor measured"
        );
        Ok(slowest)
    }

    pub fn get(&self) -> Duration {
        Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }

    /// Waits until the floor has passed since `started`.
    pub async fn wait_out(&self, started: Instant) {
        tokio::time::sleep_until(started + self.get()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_half_again_the_slowest_verification_plus_the_write_margin() {
        assert_eq!(
            floor_for(Duration::from_millis(200)),
            Duration::from_millis(350)
        );
        assert_eq!(floor_for(Duration::ZERO), WRITE_MARGIN);
    }

    #[tokio::test]
    async fn calibration_times_a_real_verification_and_sets_the_floor_from_it() {
        let floor = FailureFloor::fixed(BEFORE_CALIBRATION);
        let slowest = floor
            .calibrate(&PasswordHasher::new(1).unwrap())
            .await
            .unwrap();
        assert!(slowest > Duration::ZERO, "nothing was timed");
        assert_eq!(
            floor.get(),
            Duration::from_millis(floor_for(slowest).as_millis() as u64)
        );
    }
}
