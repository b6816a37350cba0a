//! Structured logs through `tracing`. `RUST_LOG` picks the level (default: info for Gatehouse
//! and tower-http, warn elsewhere); `LOG_FORMAT=json` switches to one JSON object per line.
//! Timestamps are UTC (RFC 3339), the tracing-subscriber default.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,gatehouse=info,tower_http=info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = fmt().with_env_filter(filter).with_target(true);
    // `try_init`: tests may call this more than once.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
