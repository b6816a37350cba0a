//! The server binary: `.env`, telemetry, then the command line (`server::cli`: `serve`, the
//! default, `import-users FILE`, `audit verify`).

use std::process::ExitCode;

use gatehouse::server::{cli, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` is optional; real environment variables win over it.
    let _ = dotenvy::dotenv();
    telemetry::init();
    cli::run().await
}
