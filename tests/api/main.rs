//! Integration tests: one binary, each test with its own app, port and SQLite file.

mod helpers;

mod config_and_health;
mod login;
mod pages;
mod register;
mod sessions;
