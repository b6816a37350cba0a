//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know it reads
//! them: without this line, adding a migration would not rebuild the crate. Nothing else
//! belongs here (it runs for the browser build too).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
