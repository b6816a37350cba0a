//! A short PostgreSQL outage: requests get 503 + Retry-After (never a 500 or a hang), the
//! instance reports not ready, and it recovers by itself when the database is back.
//!
//! The outage is made by a TCP proxy this test controls, between the app and PostgreSQL:
//! cutting it drops every open connection and refuses new ones, as a database restart does.
//! PostgreSQL only, in every run (also the SQLite one): an embedded SQLite file has no network
//! to lose.

use std::net::SocketAddr;

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::*;

struct CuttableProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl CuttableProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, watch_cut) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *watch_cut.borrow() {
                    continue; // dropped: connection reset
                }
                let mut cut = watch_cut.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

#[tokio::test]
async fn a_database_outage_is_503_and_the_app_recovers_by_itself() {
    // On PostgreSQL whatever backend the run tests: that is where it applies, and a test
    // that passed by returning early on SQLite would prove nothing there.
    let database = TestDatabase::on(TestBackend::Postgres).await;
    let mut url = reqwest::Url::parse(&database.url).unwrap();
    let upstream = SocketAddr::new(
        url.host_str().unwrap().parse().unwrap(),
        url.port().unwrap_or(5432),
    );
    let proxy = CuttableProxy::start(upstream).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    let app = spawn_app_with(&[
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_ACQUIRE_TIMEOUT_SECS", "1"),
    ])
    .await;
    let token = app.register_ok("alice", "alice@example.com").await;

    proxy.set_cut(true);
    for _ in 0..3 {
        let res = app.call("current_user", &[], Some(&token)).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()["retry-after"], "5");
    }
    let res = app.login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Back: the pool opens new connections on its own; no restart, no manual step.
    proxy.set_cut(false);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(app.current_username(&token).await.as_deref(), Some("alice"));
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}
