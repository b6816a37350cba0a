//! Authentication benchmarks against the real server binary (release build), on loopback.
//!
//!   cargo bench --features ssr --bench auth -- timing   # enumeration: the four failure paths
//!   cargo bench --features ssr --bench auth -- flood    # 1,000 concurrent sign-ins
//!   cargo bench --features ssr --bench auth -- answers  # mail requests: known vs unknown address
//!
//! Figures go to docs/benchmarks.md. Nothing here asserts a speed: it measures and prints.

// Benchmark code: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(extra: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("APP_ENV", "development")
        .env("DATABASE_URL", sqlite_url(&dir))
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        // The benchmarks measure hashing and scheduling, not the limits in front of them.
        .env("RATE_LIMIT_LOGIN", "1000000/minute")
        .env("RATE_LIMIT_REGISTER", "1000000/minute")
        .env("RATE_LIMIT_GLOBAL", "1000000/minute")
        .env("RATE_LIMIT_MAIL", "1000000/minute")
        .env("RATE_LIMIT_MAIL_RECIPIENT", "1000000/minute")
        // The development mailbox, in the run's own directory (not the checkout's data/).
        .env("MAIL_DIR", dir.path().join("mail"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start the server binary");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        base,
        _dir: dir,
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/bench.db?mode=rwc", dir.path().display())
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn register(client: &reqwest::Client, base: &str, name: &str) {
    let email = format!("{name}@example.com");
    let res = client
        .post(format!("{base}/rpc/register"))
        .form(&[
            ("email", email.as_str()),
            ("username", name),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "register {name}: {}",
        res.status()
    );
}

async fn timed_login(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> (u16, Duration) {
    let start = Instant::now();
    let res = client
        .post(format!("{base}/rpc/login"))
        .form(&[("username", name), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let _ = res.bytes().await;
    (status, start.elapsed())
}

/// Imports `count` accounts `seed0…` with one bcrypt hash at the seed app's cost (passlib's
/// 12), as `gatehouse import-users` brings them over from the FastAPI app.
fn import_seed_accounts(database_url: &str, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed.csv");
    let hash = bcrypt::hash(PASSWORD, 12).unwrap();
    let mut csv = String::from("username,email,hash\n");
    for i in 0..count {
        csv.push_str(&format!("seed{i},seed{i}@example.com,{hash}\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["import-users", file.to_str().unwrap()])
        .env("APP_ENV", "development")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "import-users failed");
}

/// A fresh PostgreSQL database on `BENCH_POSTGRES_URL`'s server, dropped afterwards.
struct PostgresDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create(admin: &str) -> Self {
        use sqlx::Connection as _;
        let name = format!("gatehouse_bench_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        Self {
            admin: admin.to_string(),
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop_now(self) {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&self.admin).await.unwrap();
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await;
    }
}

/// The four ways a sign-in fails, interleaved so machine noise hits them alike: a wrong
/// password for a (new, argon2) account, a name with no account, a wrong password for an
/// account imported with a bcrypt hash (cost 12), and a password over bcrypt's 72 bytes for
/// such an account (refused without hashing). Every account fails at most twice, so the
/// per-account throttle never answers early. Run on SQLite, and on PostgreSQL when
/// `BENCH_POSTGRES_URL` names a server (a database is made and dropped); each with the
/// measured failure floor (the default) and with it off (`SIGN_IN_FAILURE_FLOOR_MS=0`), to
/// show what the floor hides.
async fn timing() {
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut backends = vec![("SQLite", None)];
    if let Ok(admin) = std::env::var("BENCH_POSTGRES_URL") {
        backends.push(("PostgreSQL", Some(admin)));
    }
    println!("| database | failure floor | path | samples | median | p10 | p90 |");
    println!("|---|---|---|---|---|---|---|");
    for (backend, admin) in &backends {
        for floor in [None, Some("0")] {
            let postgres = match admin {
                Some(admin) => Some(PostgresDatabase::create(admin).await),
                None => None,
            };
            let sqlite_dir = tempfile::tempdir().unwrap();
            let database_url = match &postgres {
                Some(db) => db.url.clone(),
                None => sqlite_url(&sqlite_dir),
            };
            import_seed_accounts(&database_url, samples);
            let mut vars = vec![("DATABASE_URL", database_url.as_str())];
            if let Some(floor) = floor {
                vars.push(("SIGN_IN_FAILURE_FLOOR_MS", floor));
            }
            let server = start(&vars).await;
            let client = reqwest::Client::new();
            for i in 0..samples {
                register(&client, &server.base, &format!("real{i}")).await;
            }
            // The first failure waits out the measurement (a second at most) before timing.
            let _ = timed_login(&client, &server.base, "warmup", "not the password").await;
            let too_long = "x".repeat(73);
            let paths = [
                (
                    "wrong password (argon2 account)",
                    "real",
                    "not the password",
                ),
                ("unknown user", "ghost", "not the password"),
                (
                    "wrong password (imported bcrypt account)",
                    "seed",
                    "not the password",
                ),
                (
                    "73-byte password (imported bcrypt account)",
                    "seed",
                    too_long.as_str(),
                ),
            ];
            let mut timings = vec![Vec::new(); paths.len()];
            for i in 0..samples {
                for (path, timing) in paths.iter().zip(timings.iter_mut()) {
                    let name = format!("{}{i}", path.1);
                    let (status, took) = timed_login(&client, &server.base, &name, path.2).await;
                    assert_eq!(status, 401, "{}", path.0);
                    timing.push(took);
                }
            }
            let floor_label = if floor.is_some() { "off" } else { "measured" };
            for (path, mut timing) in paths.iter().zip(timings) {
                timing.sort();
                println!(
                    "| {backend} | {floor_label} | {} | {samples} | {} | {} | {} |",
                    path.0,
                    ms(percentile(&timing, 0.5)),
                    ms(percentile(&timing, 0.1)),
                    ms(percentile(&timing, 0.9))
                );
            }
            drop(server);
            if let Some(db) = postgres {
                db.drop_now().await;
            }
        }
    }
}

/// 1,000 sign-ins at once, while a second client polls the cheap `/healthz` endpoint.
async fn flood() {
    const LOGINS: usize = 1000;
    // BENCH_HASH_QUEUE overrides the queue bound, to separate hashing from connection cost.
    let queue = std::env::var("BENCH_HASH_QUEUE").unwrap_or_else(|_| "64".into());
    let server = start(&[("PASSWORD_HASH_QUEUE", queue.as_str())]).await;
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2000)
        .build()
        .unwrap();
    register(&client, &server.base, "flooded").await;

    let probe = |label: &'static str| {
        let base = server.base.clone();
        async move {
            let client = reqwest::Client::new();
            let mut samples = Vec::new();
            for _ in 0..200 {
                let start = Instant::now();
                let _ = client
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await;
                samples.push(start.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            samples.sort();
            (label, samples)
        }
    };

    let idle = probe("idle").await;
    let rss_before = peak_rss_kib(pid);
    let started = Instant::now();
    let logins = (0..LOGINS).map(|i| {
        let client = client.clone();
        let base = server.base.clone();
        tokio::spawn(async move {
            // Distinct names: each attempt is a first failure, so only hashing limits them.
            let (status, took) =
                timed_login(&client, &base, &format!("nobody{i}"), "wrong password").await;
            (status, took)
        })
    });
    let handles: Vec<_> = logins.collect();
    let during = tokio::spawn(probe("during flood"));
    let mut by_status = std::collections::BTreeMap::new();
    let mut served = Vec::new();
    for h in handles {
        let (status, took) = h.await.unwrap();
        *by_status.entry(status).or_insert(0usize) += 1;
        if status == 401 {
            served.push(took);
        }
    }
    let elapsed = started.elapsed();
    let during = during.await.unwrap();
    served.sort();
    let rss_after = peak_rss_kib(pid);

    println!(
        "{LOGINS} concurrent sign-ins finished in {:.2} s",
        elapsed.as_secs_f64()
    );
    println!("answers: {by_status:?}  (401 = verified and refused, 503 = hashing queue full)");
    println!(
        "verified sign-ins: p50 {} / p99 {}",
        ms(percentile(&served, 0.5)),
        ms(percentile(&served, 0.99))
    );
    println!(
        "peak RSS: {} MiB before the flood, {} MiB after",
        rss_before / 1024,
        rss_after / 1024
    );
    println!("\n| /healthz latency | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (label, samples) in [idle, during] {
        println!(
            "| {label} | {} | {} | {} |",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99)),
            ms(*samples.last().unwrap_or(&Duration::ZERO))
        );
    }
}

/// One request's answer time.
async fn timed_post_form(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> (u16, Duration) {
    let start = Instant::now();
    let res = client.post(url).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let _ = res.bytes().await;
    (status, start.elapsed())
}

/// The requests whose answer must not tell whether an address has an account, each timed for
/// an address that has one and one that does not, interleaved so machine noise hits both
/// alike: a password reset (browser and API), a new confirmation link, and a sign-up when
/// verification is required (a new address against a taken one: both hash the password).
async fn answers() {
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let server = start(&[("EMAIL_VERIFICATION", "required")]).await;
    let client = reqwest::Client::new();
    let base = &server.base;
    // Accounts whose addresses are "known" below, made by the sign-up being measured later.
    for i in 0..samples {
        let (status, _) = timed_post_form(
            &client,
            &format!("{base}/rpc/register"),
            &[
                ("email", &format!("real{i}@example.com")),
                ("username", &format!("real{i}")),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
        assert_eq!(status, 200);
    }
    /// (sample, which address, the address) → (path, form).
    type Request = fn(usize, usize, &str) -> (String, Vec<(&'static str, String)>);
    let requests: [(&str, Request); 3] = [
        ("password reset (/rpc)", |_, _, email| {
            (
                "/rpc/request_password_reset".into(),
                vec![("email", email.into())],
            )
        }),
        ("new confirmation link (/rpc)", |_, _, email| {
            (
                "/rpc/request_verification_link".into(),
                vec![("email", email.into())],
            )
        }),
        (
            "sign-up, verification required (/rpc)",
            |i, which, email| {
                (
                    "/rpc/register".into(),
                    vec![
                        ("email", email.into()),
                        ("username", format!("new{i}_{which}")),
                        ("password", PASSWORD.into()),
                        ("password_confirm", PASSWORD.into()),
                    ],
                )
            },
        ),
    ];
    println!("| request | address | samples | status | median | p10 | p90 |");
    println!("|---|---|---|---|---|---|---|");
    for (label, request) in requests {
        let mut timings = [Vec::new(), Vec::new()];
        let mut statuses = [0u16, 0u16];
        for i in 0..samples {
            let addresses = [
                format!("real{i}@example.com"),
                format!("ghost{i}.{}@example.com", label.len()),
            ];
            for (which, address) in addresses.iter().enumerate() {
                let (path, form) = request(i, which, address);
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let (status, took) =
                    timed_post_form(&client, &format!("{base}{path}"), &form).await;
                statuses[which] = status;
                timings[which].push(took);
            }
        }
        for (which, name) in ["has an account", "has none"].iter().enumerate() {
            let timing = &mut timings[which];
            timing.sort();
            println!(
                "| {label} | {name} | {samples} | {} | {} | {} | {} |",
                statuses[which],
                ms(percentile(timing, 0.5)),
                ms(percentile(timing, 0.1)),
                ms(percentile(timing, 0.9))
            );
        }
    }
}

fn main() {
    let mode = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "timing".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match mode.as_str() {
        "timing" => runtime.block_on(timing()),
        "flood" => runtime.block_on(flood()),
        "answers" => runtime.block_on(answers()),
        other => eprintln!("unknown benchmark {other:?}: use `timing`, `flood` or `answers`"),
    }
}
