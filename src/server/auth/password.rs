//! argon2id password hashing (OWASP Password Storage cheat sheet parameters).
//!
//! Hashing is CPU- and memory-heavy (~19 MiB, tens of milliseconds), so it never runs on the
//! async workers. It runs on a dedicated pool of exactly `concurrency` threads, and a
//! semaphore bounds how many callers may wait for one, so a flood of sign-ins cannot exhaust
//! memory. (Not tokio's blocking pool: there each hash may land on a different thread, and
//! glibc keeps a freed 19 MiB block in every thread's malloc arena, measured at ~300 MiB
//! peak under a flood on 2 cores; with a fixed pool it is `concurrency` blocks.)
//!
//! The pool's threads run at a lower CPU priority than the request workers
//! (`HASH_THREAD_NICE_OFFSET`), so a flood of sign-ins keeps the cores busy without making every
//! other request wait for a core behind a 20 ms hash.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::server::metrics::name;

use crate::model::password::normalize_password;
use crate::server::error::ServiceError;

/// m = 19 MiB, t = 2, p = 1: OWASP's first recommended argon2id configuration.
pub const ARGON2_M_COST_KIB: u32 = 19 * 1024;
pub const ARGON2_T_COST: u32 = 2;
pub const ARGON2_P_COST: u32 = 1;

/// How many nice steps the hashing threads sit below the process's other threads (Linux;
/// nice values run from -20 to 19, higher is a lower priority).
///
/// With as many hashing threads as cores, a flood of sign-ins keeps every core hashing, and a
/// cheap request (a page, `/users/me`) that arrives meanwhile waits for the scheduler to take a
/// core from a hash. Two steps down, the kernel weighs a hashing thread at about two thirds of
/// a request worker (CFS weights 655 against 1024), so a woken worker gets a core sooner,
/// while hashing still takes every cycle the workers leave idle: sign-in throughput is the
/// same when nothing else runs. Measured against 5 steps (weight 335) in docs/benchmarks.md:
/// the same p99 gain for cheap requests during a sign-in flood, but when cheap requests
/// saturate the cores too, sign-ins kept 88 % of their rate at 2 and 68 % at 5. A sign-in
/// queue that never drains would turn sign-ins away (503), so not further.
pub const HASH_THREAD_NICE_OFFSET: i32 = 2;

/// The lowest priority Linux has (the highest nice value): a thread already near it goes no
/// further.
#[cfg(target_os = "linux")]
const NICE_LOWEST: i32 = 19;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),

    #[error("hashing pool closed")]
    Closed,
    /// More callers are waiting for an argon2 slot than the queue allows.
    #[error("password hashing queue is full")]
    Busy,
}

/// A full queue is saturation (503 + Retry-After); anything else is an internal fault.
impl From<HashError> for ServiceError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => ServiceError::Saturated("password hashing"),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Semaphore,
    /// Callers waiting for a permit, and how many may wait: past that, callers are turned
    /// away at once (503) instead of queueing without bound while holding a connection.
    waiting: AtomicUsize,
    queue_limit: usize,
    /// Exactly as many threads as permits: argon2's working memory stays in their arenas.
    pool: rayon::ThreadPool,
    /// Verified against when the account does not exist, so an unknown username costs the
    /// same argon2 work as a wrong password and timing does not reveal which it was.
    dummy_hash: String,
    verifications: AtomicU64,
}

/// Lowers the calling thread's CPU priority by `HASH_THREAD_NICE_OFFSET` steps. Linux keeps a
/// nice value per thread (`setpriority(PRIO_PROCESS, tid)`); elsewhere it applies to the whole
/// process, so there the threads are left as they are. Relative to the thread's own value (a
/// new thread inherits its creator's), not an absolute one: a server started under `nice`
/// keeps its hashing below its workers, and an absolute value could raise the priority. Failing
/// is harmless (a container's seccomp profile may refuse the call): hashing then competes with
/// requests as before.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = Some(rustix::thread::gettid());
        let lowered = rustix::process::getpriority_process(tid).and_then(|current| {
            rustix::process::setpriority_process(
                tid,
                (current + HASH_THREAD_NICE_OFFSET).min(NICE_LOWEST),
            )
        });
        if let Err(err) = lowered {
            tracing::warn!(%err, "could not lower the hashing thread's priority");
        }
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Result<Self, HashError> {
        Self::with_queue(concurrency, usize::MAX)
    }

    /// At most `concurrency` hashes run at once and at most `queue_limit` callers wait.
    pub fn with_queue(concurrency: usize, queue_limit: usize) -> Result<Self, HashError> {
        let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let dummy_hash = hash_blocking(&params, "gatehouse dummy password, never valid")?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Semaphore::new(concurrency.max(1)),
                waiting: AtomicUsize::new(0),
                queue_limit,
                pool: rayon::ThreadPoolBuilder::new()
                    .num_threads(concurrency.max(1))
                    .thread_name(|i| format!("argon2-{i}"))
                    .start_handler(|_| lower_this_threads_priority())
                    .build()
                    .map_err(|e| HashError::Argon2(e.to_string()))?,
                dummy_hash,
                verifications: AtomicU64::new(0),
            }),
        })
    }

    /// A slot to run argon2 in: at once if one is free, else after queueing (bounded).
    async fn permit(&self) -> Result<SemaphorePermit<'_>, HashError> {
        if let Ok(permit) = self.inner.permits.try_acquire() {
            return Ok(permit);
        }
        // Decrements on every exit, including this future being dropped while it waits.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let queued = self.inner.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        let _waiting = Waiting(&self.inner.waiting);
        if queued > self.inner.queue_limit {
            metrics::counter!(name::HASH_REJECTED).increment(1);
            return Err(HashError::Busy);
        }
        metrics::gauge!(name::HASH_WAITING).set(queued as f64);
        let started = std::time::Instant::now();
        let permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Closed);
        metrics::histogram!(name::HASH_WAIT).record(started.elapsed().as_secs_f64());
        // This caller leaves the queue (`_waiting` counts it out when dropped, just after).
        metrics::gauge!(name::HASH_WAITING)
            .set(self.inner.waiting.load(Ordering::SeqCst).saturating_sub(1) as f64);
        permit
    }

    /// Hashes a new password (NFC-normalised first) into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let _permit = self.permit().await?;
        let params = self.inner.params.clone();
        self.run(move || hash_blocking(&params, &normalize_password(password.expose_secret())))
            .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// account, in which case the answer is always `false`. Either way exactly one argon2
    /// verification runs.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<&str>,
    ) -> Result<bool, HashError> {
        let _permit = self.permit().await?;
        let account_exists = stored.is_some();
        let phc = stored.unwrap_or(&self.inner.dummy_hash).to_string();
        let inner = self.inner.clone();
        let matched = self
            .run(move || {
                // Counted where the hash function has actually run, so the count proves the
                // work was done (a shortcut for unknown accounts would show as a missing one).
                let counted = |matched: bool| {
                    inner.verifications.fetch_add(1, Ordering::Relaxed);
                    matched
                };
                let password = normalize_password(password.expose_secret());
                if is_bcrypt(&phc) {
                    // Imported from the seed app (passlib). bcrypt reads only the first 72 bytes,
                    // so longer input is refused rather than compared by its prefix: extra
                    // characters are never silently ignored.
                    if password.len() > BCRYPT_MAX_BYTES {
                        return false;
                    }
                    return counted(bcrypt::verify(password.as_bytes(), &phc).unwrap_or(false));
                }
                let Ok(parsed) = PasswordHash::new(&phc) else {
                    return false;
                };
                // The stored string names its own algorithm and parameters; verification follows it.
                counted(
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok(),
                )
            })
            .await?;
        Ok(account_exists && matched)
    }

    /// A raw argon2id digest (32 bytes) of a short secret under `salt`, at the password
    /// parameters and through the same bounded pool: recovery codes (`recovery_codes`).
    pub async fn digest(&self, secret: SecretString, salt: Vec<u8>) -> Result<Vec<u8>, HashError> {
        let _permit = self.permit().await?;
        let params = self.inner.params.clone();
        self.run(move || {
            let mut out = vec![0u8; 32];
            argon2(&params)
                .hash_password_into(secret.expose_secret().as_bytes(), &salt, &mut out)
                .map(|()| out)
                .map_err(|e| HashError::Argon2(e.to_string()))
        })
        .await?
    }

    /// Runs `job` on the hashing pool and waits for its answer without blocking the runtime.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.pool.spawn(move || {
            let _ = tx.send(job());
        });
        rx.await.map_err(|_| HashError::Closed)
    }

    /// How long the slowest verification a sign-in may run takes on this machine: today's
    /// argon2, or bcrypt at the seed app's cost (accounts imported from it). Measured on the
    /// hashing pool, as sign-ins run; `FailureFloor` is built from it.
    pub async fn slowest_verification(&self) -> Result<Duration, HashError> {
        let _permit = self.permit().await?;
        let dummy = self.inner.dummy_hash.clone();
        self.run(move || {
            let time = |job: &dyn Fn()| {
                // The least of three: noise (another process, a page fault) only ever adds
                // time, so the minimum is the closest to what the work itself costs.
                (0..3)
                    .map(|_| {
                        let started = Instant::now();
                        job();
                        started.elapsed()
                    })
                    .min()
                    .unwrap_or_default()
            };
            let argon2 = time(&|| {
                if let Ok(parsed) = PasswordHash::new(&dummy) {
                    let _ = Argon2::default().verify_password(b"calibration", &parsed);
                }
            });
            // Hashing and verifying run the same key schedule, so this costs what a
            // verification of an imported hash does.
            let bcrypt = time(&|| {
                let _ = bcrypt::hash("calibration", SEED_BCRYPT_COST);
            });
            argon2.max(bcrypt)
        })
        .await
    }

    /// True when `stored` was made with weaker (or other) parameters than today's, so it
    /// should be replaced at the next successful sign-in.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return true;
        };
        let current = &self.inner.params;
        let param = |name: &str| parsed.params.get_decimal(name);
        parsed.algorithm.as_str() != "argon2id"
            || param("m").is_none_or(|m| m < current.m_cost())
            || param("t").is_none_or(|t| t < current.t_cost())
            || param("p").is_none_or(|p| p < current.p_cost())
    }

    /// How many verifications ran since start-up (tests prove both sign-in failure paths
    /// cost one verification each).
    pub fn verification_count(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }
}

/// passlib's default bcrypt cost, which the seed app's hashes were made with.
pub const SEED_BCRYPT_COST: u32 = 12;

/// bcrypt's input limit; it ignores everything after it.
const BCRYPT_MAX_BYTES: usize = 72;

/// passlib / bcrypt PHC-like strings: `$2a$`, `$2b$`, `$2y$`.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
}

/// The cost of a bcrypt hash (`$2b$12$…` → 12), `None` for anything else.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    if !is_bcrypt(hash) {
        return None;
    }
    hash.get(4..6)?.parse().ok()
}

/// True for the hash formats `gatehouse import-users` accepts.
pub fn is_supported_hash(hash: &str) -> bool {
    is_bcrypt(hash)
        || PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    /// Linux only: elsewhere the threads keep the process's priority.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_a_lower_priority_than_their_callers() {
        let thread_nice = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let caller = thread_nice().unwrap();
        let hasher = PasswordHasher::new(2).unwrap();
        for _ in 0..4 {
            let on_pool = hasher.run(thread_nice).await.unwrap().unwrap();
            assert_eq!(
                on_pool,
                (caller + HASH_THREAD_NICE_OFFSET).min(NICE_LOWEST),
                "hashing at {on_pool}, caller at {caller}"
            );
        }
        assert_eq!(
            thread_nice().unwrap(),
            caller,
            "the caller's own is unchanged"
        );
    }

    #[tokio::test]
    async fn hash_round_trip_accepts_the_right_password_only() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher
            .hash(secret("correct horse battery staple"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify(secret("correct horse battery staple"), Some(&hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify(secret("correct horse battery stapl"), Some(&hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn hashes_are_salted() {
        let hasher = PasswordHasher::new(2).unwrap();
        let a = hasher.hash(secret("same password")).await.unwrap();
        let b = hasher.hash(secret("same password")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn verification_is_nfc_insensitive_but_otherwise_exact() {
        let hasher = PasswordHasher::new(2).unwrap();
        let hash = hasher.hash(secret("caf\u{e9} au lait")).await.unwrap();
        assert!(hasher
            .verify(secret("cafe\u{301} au lait"), Some(&hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify(secret(" caf\u{e9} au lait"), Some(&hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn unknown_account_runs_one_verification_and_fails() {
        let hasher = PasswordHasher::new(2).unwrap();
        let before = hasher.verification_count();
        // Even the dummy password itself must not verify for a missing account.
        assert!(!hasher
            .verify(secret("gatehouse dummy password, never valid"), None)
            .await
            .unwrap());
        assert_eq!(hasher.verification_count(), before + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_past_the_queue_are_turned_away_not_queued() {
        let hasher = PasswordHasher::with_queue(1, 1).unwrap();
        let hash = hasher.hash(secret("queue test password")).await.unwrap();
        // Hold the only slot, fill the one queue place, then one more caller arrives.
        let held = hasher.inner.permits.acquire().await.unwrap();
        let queued = {
            let hasher = hasher.clone();
            let hash = hash.clone();
            tokio::spawn(async move {
                hasher
                    .verify(secret("queue test password"), Some(&hash))
                    .await
            })
        };
        // Bounded too: a queue that turns its first caller away never shows a waiting
        // caller, and the test should then fail, not spin.
        tokio::time::timeout(Duration::from_secs(20), async {
            while hasher.inner.waiting.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the first caller past the held slot waits in the queue");
        // Bounded: a queue that miscounts makes this caller wait for the held slot, and the
        // test should then fail, not hang.
        let refused = tokio::time::timeout(
            Duration::from_secs(20),
            hasher.verify(secret("queue test password"), Some(&hash)),
        )
        .await
        .expect("the caller past the queue is answered at once, not queued");
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        drop(held);
        assert!(
            queued.await.unwrap().unwrap(),
            "the queued caller still gets its answer"
        );
        assert_eq!(hasher.inner.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_are_marked_for_upgrade() {
        let hasher = PasswordHasher::new(2).unwrap();
        let seed_hash = bcrypt::hash("seed app password", 4).unwrap();
        assert!(seed_hash.starts_with("$2b$"));
        assert!(is_supported_hash(&seed_hash));
        assert!(hasher
            .verify(secret("seed app password"), Some(&seed_hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify(secret("seed app passwor"), Some(&seed_hash))
            .await
            .unwrap());
        assert!(hasher.needs_rehash(&seed_hash));
    }

    #[tokio::test]
    async fn bcrypt_never_matches_on_a_72_byte_prefix() {
        let hasher = PasswordHasher::new(2).unwrap();
        let long = "x".repeat(72);
        let seed_hash = bcrypt::hash(&long, 4).unwrap();
        let longer = format!("{long}and more");
        assert!(!hasher
            .verify(secret(&longer), Some(&seed_hash))
            .await
            .unwrap());
        assert!(hasher
            .verify(secret(&long), Some(&seed_hash))
            .await
            .unwrap());
    }

    #[test]
    fn the_cost_of_a_bcrypt_hash_is_read_from_it() {
        assert_eq!(bcrypt_cost(&bcrypt::hash("pw", 5).unwrap()), Some(5));
        assert_eq!(bcrypt_cost("$2y$14$abcdefghijklmnopqrstuv"), Some(14));
        assert_eq!(bcrypt_cost("$argon2id$v=19$m=19456,t=2,p=1$x$y"), None);
        assert_eq!(bcrypt_cost("$2b$"), None);
    }

    #[test]
    fn weaker_parameters_need_a_rehash() {
        let hasher = PasswordHasher::new(1).unwrap();
        let weak = Params::new(8 * 1024, 1, 1, None).unwrap();
        let weak_hash = hash_blocking(&weak, "pw").unwrap();
        assert!(hasher.needs_rehash(&weak_hash));
        let current = hash_blocking(&hasher.inner.params, "pw").unwrap();
        assert!(!hasher.needs_rehash(&current));
        assert!(hasher.needs_rehash("not a phc string"));
    }

    /// Each parameter on its own: a hash weaker in any one of them is replaced at the next
    /// sign-in, and one at least as strong in all of them (or of another argon2 variant) is
    /// not, or is.
    #[test]
    fn each_parameter_and_the_variant_decide_a_rehash_on_their_own() {
        let hasher = PasswordHasher::new(1).unwrap();
        let current = &hasher.inner.params;
        let (m, t, p) = (current.m_cost(), current.t_cost(), current.p_cost());
        let with = |m, t, p| hash_blocking(&Params::new(m, t, p, None).unwrap(), "pw").unwrap();
        assert!(hasher.needs_rehash(&with(m - 1024, t, p)), "less memory");
        assert!(hasher.needs_rehash(&with(m, t - 1, p)), "fewer passes");
        assert!(
            !hasher.needs_rehash(&with(m + 1024, t + 1, p + 1)),
            "stronger in every parameter"
        );
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, current.clone())
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(hasher.needs_rehash(&argon2i), "{argon2i}");
    }

    #[test]
    fn only_bcrypt_and_argon2_hashes_can_be_imported() {
        let argon2id = hash_blocking(&Params::new(8 * 1024, 1, 1, None).unwrap(), "pw").unwrap();
        assert!(is_supported_hash(&argon2id));
        assert!(is_supported_hash(&bcrypt::hash("pw", 4).unwrap()));
        for unsupported in [
            "",
            "plain text password",
            "$pbkdf2-sha256$29000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$1$saltsalt$hashhashhashhashhash",
            "5f4dcc3b5aa765d61d8327deb882cf99",
        ] {
            assert!(!is_supported_hash(unsupported), "{unsupported}");
            assert!(!is_bcrypt(unsupported), "{unsupported}");
        }
    }

    #[test]
    fn a_full_queue_is_saturation_and_other_faults_are_internal() {
        assert!(matches!(
            ServiceError::from(HashError::Busy),
            ServiceError::Saturated("password hashing")
        ));
        assert!(matches!(
            ServiceError::from(HashError::Closed),
            ServiceError::Internal(message) if message == "hashing pool closed"
        ));
    }

    /// The failure floor is built from this: it must measure real argon2 work (19 MiB and two
    /// passes cannot finish in a millisecond on any machine), not answer a default.
    #[tokio::test]
    async fn the_slowest_verification_is_measured_not_assumed() {
        let hasher = PasswordHasher::new(1).unwrap();
        let slowest = hasher.slowest_verification().await.unwrap();
        assert!(slowest > Duration::from_millis(1), "{slowest:?}");
    }
}
