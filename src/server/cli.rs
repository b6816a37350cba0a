//! The command line: `gatehouse [serve]`, `gatehouse import-users FILE`,
//! `gatehouse audit verify`, `gatehouse two-factor reset ACCOUNT`, `gatehouse precompress`,
//! with `--help` and `--version` (clap).
//!
//! Exit status: 0 on success, 1 on failure (invalid configuration, database error, skipped
//! rows, a broken chain), 2 on a usage error (clap's own). The arguments are parsed before
//! the settings are read, so `--help` works whatever the environment holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::server::clock::{Clock, SystemClock};
use crate::server::db::Store;
use crate::server::http::static_files;
use crate::server::{audit, auth, db, Application, Settings};

/// The end of `gatehouse --help`: where the settings come from, and the exit status.
const AFTER_HELP: &str = "\
Environment:
  Settings are read from environment variables, and from a .env file in the working directory
  (real variables win). Every variable, with its default, is listed in README.md, section
  \"Configuration\" (and in .env.example). `gatehouse help <COMMAND>` says which a command reads.

Exit status: 0 on success, 1 on failure, 2 on a usage error.";

// `about` with no value: the package description from Cargo.toml.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// `None`: `gatehouse` alone serves, as `gatehouse serve` does.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Serve the web app and the JSON API (the default when no command is given)
    #[command(after_help = "\
Environment:
  Reads every setting: APP_ENV, DATABASE_URL, SECRET_KEY, LEPTOS_SITE_ADDR, REDIS_URL, SMTP_URL,
  PUBLIC_URL, RUST_LOG and the others listed in README.md, section \"Configuration\". Run it from
  the repository root (or wherever Cargo.toml and target/site are): the Leptos settings come from
  Cargo.toml.")]
    Serve,
    /// Import accounts with their existing password hashes from a CSV or JSON Lines file
    ///
    /// CSV (FILE.csv) has a `username,email,hash` header; any other extension is read as JSON
    /// Lines, one {"username","email","hash"} object per line. Hashes may be argon2 or
    /// bcrypt; a bcrypt hash becomes argon2id at the person's next sign-in. Rows that cannot
    /// be imported are listed by line and skipped, and then the exit status is 1.
    #[command(after_help = DATABASE_ENVIRONMENT)]
    ImportUsers {
        /// The file to import: FILE.csv or FILE.jsonl
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// The security activity log
    #[command(subcommand, after_help = DATABASE_ENVIRONMENT)]
    Audit(AuditCommand),
    /// Two-factor authentication, for operators
    #[command(subcommand, after_help = DATABASE_ENVIRONMENT)]
    TwoFactor(TwoFactorCommand),
    /// Write brotli and gzip copies of the built bundle, which `serve` sends instead
    ///
    /// Run after `cargo leptos build --release` (scripts/run.sh does). Only content-hashed file
    /// names get copies, and a copy newer than its file is kept. Prints each file's raw, gzip
    /// and brotli size.
    #[command(after_help = "\
Environment:
  Reads no setting of its own: DIR defaults to <site-root>/<site-pkg-dir> from Cargo.toml
  (LEPTOS_SITE_ROOT and LEPTOS_SITE_PKG_DIR override them), usually target/site/pkg.")]
    Precompress {
        /// The folder of built files (default: target/site/pkg)
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Exit with status 1 when the brotli copies together exceed BYTES by more than 10 %
        /// (scripts/test.sh passes the budget set in Cargo.toml)
        #[arg(long, value_name = "BYTES")]
        brotli_budget: Option<u64>,
    },
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum TwoFactorCommand {
    /// Turn two-factor off for an account whose owner lost the app and the recovery codes
    ///
    /// Check who is asking first. Every session and access token of the account ends, the
    /// activity log records it, and the owner is mailed. Exit status 0 when it was reset; 1
    /// when there is no such account or two-factor was not on.
    #[command(after_help = MAIL_ENVIRONMENT)]
    Reset {
        /// The account's username or email address
        #[arg(value_name = "ACCOUNT")]
        account: String,
    },
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum AuditCommand {
    /// Check every account's activity-log hash chain
    ///
    /// Exit status 0 when every chain is intact; 1 with one line per broken link otherwise.
    #[command(after_help = DATABASE_ENVIRONMENT)]
    Verify,
}

/// The environment of the commands that only open the database.
const DATABASE_ENVIRONMENT: &str = "\
Environment:
  Reads DATABASE_URL (and DATABASE_MAX_CONNECTIONS, DATABASE_ACQUIRE_TIMEOUT_SECS); the other
  settings are checked as for `serve` (so in production SECRET_KEY, SMTP_URL and PUBLIC_URL must
  be set). Every variable is listed in README.md, section \"Configuration\".";

/// The environment of the commands that also send mail.
const MAIL_ENVIRONMENT: &str = "\
Environment:
  Reads DATABASE_URL, and the mail settings (SMTP_URL, MAIL_FROM, PUBLIC_URL, MAIL_DIR) for the
  notice to the account's owner; the other settings are checked as for `serve`. Every variable
  is listed in README.md, section \"Configuration\".";

/// Parses the command line (exiting with clap's usage error, or after `--help` /
/// `--version`) and runs the command.
pub async fn run() -> ExitCode {
    Cli::parse().run().await
}

impl Cli {
    pub async fn run(self) -> ExitCode {
        // A build step: it must work where the server's settings (a production SECRET_KEY,
        // SMTP_URL) are not set.
        let command = match self.command.unwrap_or(Command::Serve) {
            Command::Precompress { dir, brotli_budget } => return precompress(dir, brotli_budget),
            command => command,
        };
        let settings = match Settings::from_env() {
            Ok(settings) => settings,
            Err(error) => {
                tracing::error!(%error, "invalid configuration");
                eprintln!("gatehouse: {error}");
                return ExitCode::FAILURE;
            }
        };
        match command {
            Command::Serve => serve(settings).await,
            Command::ImportUsers { file } => import_users(&settings, &file).await,
            Command::Audit(AuditCommand::Verify) => verify_audit_log(&settings).await,
            Command::TwoFactor(TwoFactorCommand::Reset { account }) => {
                reset_two_factor(&settings, &account).await
            }
            Command::Precompress { dir, brotli_budget } => precompress(dir, brotli_budget),
        }
    }
}

/// `gatehouse precompress [DIR] [--brotli-budget BYTES]`.
fn precompress(dir: Option<PathBuf>, brotli_budget: Option<u64>) -> ExitCode {
    let dir = match dir {
        Some(dir) => dir,
        None => match leptos::config::get_configuration(Some("Cargo.toml")) {
            Ok(conf) => Path::new(conf.leptos_options.site_root.as_ref())
                .join(conf.leptos_options.site_pkg_dir.as_ref()),
            Err(error) => {
                eprintln!("gatehouse: cannot read the Leptos settings in Cargo.toml: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let files = match static_files::precompress(&dir) {
        Ok(files) if files.is_empty() => {
            eprintln!(
                "gatehouse: no content-hashed file in {} (build with `cargo leptos build --release` first)",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
        Ok(files) => files,
        Err(error) => {
            eprintln!("gatehouse: cannot precompress {}: {error}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let row = |name: &str, raw: u64, gzip: u64, brotli: u64| {
        println!("{name:<48} {raw:>10} {gzip:>10} {brotli:>10}");
    };
    println!(
        "{:<48} {:>10} {:>10} {:>10}",
        "file", "raw", "gzip", "brotli"
    );
    for file in &files {
        let name = file.file.file_name().unwrap_or_default().to_string_lossy();
        row(&name, file.raw, file.gzip, file.brotli);
    }
    let total = static_files::BundleSize::of(&files);
    row("total", total.raw, total.gzip, total.brotli);
    match brotli_budget {
        Some(budget) if total.exceeds(budget) => {
            eprintln!(
                "gatehouse: the bundle is {} bytes brotli, {:.1} % over its budget of {budget} bytes \
                 (10 % allowed). Find what grew (README, \"Release build\"), or raise the budget in \
                 Cargo.toml with the reason in docs/benchmarks.md.",
                total.brotli,
                total.percent_over(budget)
            );
            ExitCode::FAILURE
        }
        Some(budget) => {
            println!(
                "brotli total {} bytes: within the budget of {budget} bytes + 10 % ({:+.1} %)",
                total.brotli,
                total.percent_over(budget)
            );
            ExitCode::SUCCESS
        }
        None => ExitCode::SUCCESS,
    }
}

/// `gatehouse serve`: runs until SIGTERM / SIGINT.
async fn serve(settings: Settings) -> ExitCode {
    if settings.secret_key_is_ephemeral {
        tracing::warn!(
            "SECRET_KEY is not set (or too short): using a random key for this process only. \
             Tokens signed with it stop working at restart. Set SECRET_KEY (32+ bytes) to keep them."
        );
    }
    if !settings.session.cookie_secure {
        tracing::warn!("session cookies are sent without Secure (development over plain http)");
    }

    // Leptos settings (site address, asset paths) come from Cargo.toml's
    // [package.metadata.leptos], overridden by LEPTOS_* variables such as LEPTOS_SITE_ADDR.
    let leptos_options = match leptos::config::get_configuration(Some("Cargo.toml")) {
        Ok(conf) => conf.leptos_options,
        Err(error) => {
            eprintln!("gatehouse: could not read the Leptos configuration (run from the repository root): {error}");
            return ExitCode::FAILURE;
        }
    };

    tracing::info!(
        environment = ?settings.environment,
        database = %settings.database.url_for_logs(),
        mail = %settings.mail.transport.describe_for_logs(),
        public_url = %settings.mail.public_url.origin(),
        "starting"
    );
    let app = match Application::build(settings, leptos_options).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "start-up failed");
            eprintln!("gatehouse: {error}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("http://{}", app.local_addr());
    tracing::info!(%url, "listening");
    println!("Gatehouse is running at {url}");
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server error");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(settings: &Settings) -> Option<Arc<dyn Store>> {
    match db::connect(&settings.database).await {
        Ok(store) => Some(store),
        Err(error) => {
            eprintln!("gatehouse: database: {error}");
            None
        }
    }
}

/// `gatehouse audit verify`: checks every account's activity-log hash chain. Exit status 0
/// when all are intact, 1 with one line per broken link otherwise.
async fn verify_audit_log(settings: &Settings) -> ExitCode {
    let Some(store) = open_store(settings).await else {
        return ExitCode::FAILURE;
    };
    let result = audit::verify(store.as_ref()).await;
    store.close().await;
    match result {
        Ok(report) if report.is_intact() => {
            println!(
                "audit log intact: {} event(s) in {} chain(s)",
                report.events, report.chains
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!(
                "audit log TAMPERED: {} problem(s) in {} event(s), {} chain(s)",
                report.problems.len(),
                report.events,
                report.chains
            );
            for problem in &report.problems {
                println!("  {problem}");
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("gatehouse: database: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `gatehouse two-factor reset ACCOUNT`: see `server::auth::two_factor::reset_by_operator`.
async fn reset_two_factor(settings: &Settings, account: &str) -> ExitCode {
    use crate::server::auth::two_factor::{reset_by_operator, OperatorReset};
    use crate::server::auth::Notices;
    use crate::server::mail::Mailer;

    let Some(store) = open_store(settings).await else {
        return ExitCode::FAILURE;
    };
    let mailer = match Mailer::start(&settings.mail) {
        Ok(mailer) => mailer,
        Err(error) => {
            eprintln!("gatehouse: mail: {error}");
            return ExitCode::FAILURE;
        }
    };
    let notices = Notices::new(
        mailer.clone(),
        settings.mail.public_url.clone(),
        Arc::new(SystemClock),
    );
    let result = reset_by_operator(store.clone(), Arc::new(SystemClock), notices, account).await;
    // The notice is queued: wait for it before the process ends.
    mailer.drain(std::time::Duration::from_secs(30)).await;
    store.close().await;
    match result {
        Ok(OperatorReset::Reset {
            username,
            sessions_ended,
        }) => {
            println!(
                "two-factor authentication is off for {username}; {sessions_ended} session(s) ended; the owner was mailed"
            );
            ExitCode::SUCCESS
        }
        Ok(OperatorReset::NotEnabled) => {
            println!("two-factor authentication is not on for that account: nothing to do");
            ExitCode::FAILURE
        }
        Ok(OperatorReset::NoSuchAccount) => {
            println!("no account has that username or email address");
            ExitCode::FAILURE
        }
        Err(error) => {
            // The operator's own terminal: the details help, and reach no client.
            eprintln!("gatehouse: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `gatehouse import-users FILE`: see `server::auth::import`.
async fn import_users(settings: &Settings, file: &Path) -> ExitCode {
    let Some(store) = open_store(settings).await else {
        return ExitCode::FAILURE;
    };
    let now = SystemClock.now();
    let result = auth::import::import_users(store.as_ref(), file, now).await;
    store.close().await;
    match result {
        Ok(report) => {
            println!(
                "imported {} user(s), skipped {}",
                report.imported,
                report.skipped.len()
            );
            for (line, reason) in &report.skipped {
                println!("  line {line}: {reason}");
            }
            if let Some((count, highest)) = report.costlier_bcrypt {
                println!(
                    "note: {count} bcrypt hash(es) cost more than 12 (up to {highest}): a failed \
                     sign-in of those accounts can outlast the measured failure floor. Set \
                     SIGN_IN_FAILURE_FLOOR_MS above their verification time (README, \
                     \"Enumeration\")."
                );
            }
            if report.skipped.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("gatehouse: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Command>, ErrorKind> {
        Cli::try_parse_from(std::iter::once("gatehouse").chain(args.iter().copied()))
            .map(|cli| cli.command)
            .map_err(|error| error.kind())
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_serves_and_each_command_parses() {
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&["serve"]), Ok(Some(Command::Serve)));
        assert_eq!(
            parse(&["import-users", "users.csv"]),
            Ok(Some(Command::ImportUsers {
                file: "users.csv".into()
            }))
        );
        assert_eq!(
            parse(&["audit", "verify"]),
            Ok(Some(Command::Audit(AuditCommand::Verify)))
        );
        assert_eq!(
            parse(&["two-factor", "reset", "alice"]),
            Ok(Some(Command::TwoFactor(TwoFactorCommand::Reset {
                account: "alice".into()
            })))
        );
        assert_eq!(
            parse(&["precompress"]),
            Ok(Some(Command::Precompress {
                dir: None,
                brotli_budget: None
            }))
        );
        assert_eq!(
            parse(&["precompress", "site/pkg", "--brotli-budget", "200000"]),
            Ok(Some(Command::Precompress {
                dir: Some("site/pkg".into()),
                brotli_budget: Some(200_000)
            }))
        );
    }

    #[test]
    fn missing_or_extra_arguments_are_usage_errors() {
        for args in [
            &["import-users"][..],
            &["import-users", "a.csv", "b.csv"],
            &["audit"],
            &["audit", "repair"],
            &["two-factor", "reset"],
            &["two-factor", "disable", "alice"],
            &["serve", "now"],
            &["precompress", "a", "b"],
            &["bogus"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
