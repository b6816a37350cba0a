//! The server binary: configuration, telemetry, build, run.

use std::process::ExitCode;

use gatehouse::server::db::Store;
use gatehouse::server::{telemetry, Application, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` is optional; real environment variables win over it.
    let _ = dotenvy::dotenv();
    telemetry::init();

    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            eprintln!("gatehouse: {error}");
            return ExitCode::FAILURE;
        }
    };

    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => {}
        ["import-users", file] => return import_users(&settings, file).await,
        ["audit", "verify"] => return verify_audit_log(&settings).await,
        _ => {
            eprintln!(
                "usage: gatehouse [serve]\n       gatehouse import-users FILE.csv|FILE.jsonl\n       gatehouse audit verify"
            );
            return ExitCode::from(2);
        }
    }
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

async fn open_store(settings: &Settings) -> Option<std::sync::Arc<dyn Store>> {
    match gatehouse::server::db::connect(&settings.database).await {
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
    let result = gatehouse::server::audit::verify(store.as_ref()).await;
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

/// `gatehouse import-users FILE`: see `server::auth::import`.
async fn import_users(settings: &Settings, file: &str) -> ExitCode {
    let Some(store) = open_store(settings).await else {
        return ExitCode::FAILURE;
    };
    let now = gatehouse::server::clock::Clock::now(&gatehouse::server::clock::SystemClock);
    let result = gatehouse::server::auth::import::import_users(
        store.as_ref(),
        std::path::Path::new(file),
        now,
    )
    .await;
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
