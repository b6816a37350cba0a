//! The server binary: configuration, telemetry, build, run.

use std::process::ExitCode;

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
        _ => {
            eprintln!(
                "usage: gatehouse [serve]\n       gatehouse import-users FILE.csv|FILE.jsonl"
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
        database = %settings.database_url_for_logs(),
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

/// `gatehouse import-users FILE`: see `server::auth::import`.
async fn import_users(settings: &Settings, file: &str) -> ExitCode {
    let store = match gatehouse::server::db::connect(settings).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("gatehouse: database: {error}");
            return ExitCode::FAILURE;
        }
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
