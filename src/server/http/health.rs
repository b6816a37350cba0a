//! `/healthz`: the process is up. `/readyz`: it can serve, i.e. the database answers, and
//! so does Redis when one is configured (a load balancer then stops sending it traffic).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::server::state::AppState;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
}

pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: each dependency and its state. Only the state words are shown, never error
/// text (which could name hosts or users); the reason goes to the log.
#[derive(Serialize)]
pub struct Readiness {
    status: &'static str,
    database: &'static str,
    /// `not_configured` when limits are kept in-process.
    redis: &'static str,
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (database, redis) = tokio::join!(state.store.ping(), state.limits.ping());
    let database = match database {
        Ok(()) => "ok",
        Err(error) => {
            tracing::warn!(%error, "readiness check failed: database");
            "unavailable"
        }
    };
    let redis = match redis {
        None => "not_configured",
        Some(Ok(())) => "ok",
        Some(Err(error)) => {
            tracing::warn!(%error, "readiness check failed: redis");
            "unavailable"
        }
    };
    let ready = database == "ok" && redis != "unavailable";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let answer = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database,
        redis,
    };
    (status, Json(answer))
}
