//! Server only: configuration, start-up, authentication, storage, outgoing mail, HTTP
//! plumbing, operators' metrics, the command line.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod env;
pub mod error;
pub mod http;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::Settings;
pub use startup::Application;
pub use state::AppState;
