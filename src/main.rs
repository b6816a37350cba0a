//! The server binary: `.env`, telemetry, then the command line (`server::cli`: `serve`, the
//! default, `import-users FILE`, `audit verify`).

use std::process::ExitCode;

use gatehouse::server::{cli, telemetry};

/// mimalloc instead of the system's malloc: page renders allocate and free many small objects,
/// and the pages run 1.5-2.4x faster on it than on glibc's (docs/benchmarks.md). Set in the
/// binary only, so the library stays usable with whatever allocator an embedding program picks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` is optional; real environment variables win over it.
    let _ = dotenvy::dotenv();
    telemetry::init();
    cli::run().await
}
