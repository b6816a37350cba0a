//! `gatehouse import-users FILE`: brings accounts over from another system (the seed FastAPI
//! app) with their existing password hashes, so nobody has to reset a password.
//!
//! Accepted: CSV with a `username,email,hash` header, or JSON Lines with those three keys
//! (chosen by the file extension: `.csv`, else JSON Lines). Hashes may be argon2 PHC strings
//! or passlib/bcrypt (`$2a$`/`$2b$`/`$2y$`); anything else is refused, never stored. A bcrypt
//! (or weaker argon2) hash is replaced by an argon2id one at the person's next sign-in.

use std::path::Path;

use serde::Deserialize;

use crate::model::email::{canonical_email, normalize_email, validate_email};
use crate::model::username::{canonical_username, validate_username};
use crate::server::db::{NewUser, Store, StoreError};

use super::password::{bcrypt_cost, is_supported_hash, SEED_BCRYPT_COST};
use super::public_id;

#[derive(Debug, Deserialize)]
struct Record {
    username: String,
    email: String,
    hash: String,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    /// (line number, reason) for each record left out.
    pub skipped: Vec<(usize, String)>,
    /// Imported bcrypt hashes costlier than the seed app's (12), the highest cost among
    /// them: each failed sign-in of such an account may outlast the measured failure floor,
    /// so the operator is told to set one (`auth::failure_floor`).
    pub costlier_bcrypt: Option<(usize, u32)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn import_users(
    store: &dyn Store,
    path: &Path,
    now: i64,
) -> Result<ImportReport, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let records: Vec<(usize, Result<Record, String>)> = if is_csv {
        csv::Reader::from_reader(text.as_bytes())
            .deserialize::<Record>()
            .enumerate()
            // Line 1 is the header.
            .map(|(i, r)| (i + 2, r.map_err(|e| format!("unreadable CSV record: {e}"))))
            .collect()
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                (
                    i + 1,
                    serde_json::from_str(line).map_err(|e| format!("unreadable JSON: {e}")),
                )
            })
            .collect()
    };

    let mut report = ImportReport::default();
    for (line, record) in records {
        let record = match record.and_then(check) {
            Ok(record) => record,
            Err(reason) => {
                report.skipped.push((line, reason));
                continue;
            }
        };
        let user = NewUser {
            public_id: public_id::generate(),
            username: record.username.trim().to_string(),
            username_canonical: canonical_username(&record.username),
            email: normalize_email(&record.email),
            email_canonical: canonical_email(&record.email),
            password_hash: record.hash.trim().to_string(),
            created_at: now,
        };
        match store.insert_user(&user).await {
            Ok(_) => {
                report.imported += 1;
                if let Some(cost) =
                    bcrypt_cost(&user.password_hash).filter(|c| *c > SEED_BCRYPT_COST)
                {
                    let (count, highest) = report.costlier_bcrypt.unwrap_or((0, cost));
                    report.costlier_bcrypt = Some((count + 1, highest.max(cost)));
                }
            }
            Err(StoreError::UniqueViolation) => report
                .skipped
                .push((line, "username or email already exists".into())),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(report)
}

fn check(record: Record) -> Result<Record, String> {
    validate_username(&record.username)
        .map_err(|e| format!("username: {}", e.message.unwrap_or_default()))?;
    validate_email(&record.email)
        .map_err(|e| format!("email: {}", e.message.unwrap_or_default()))?;
    if !is_supported_hash(record.hash.trim()) {
        return Err("hash: not an argon2 or bcrypt hash".into());
    }
    Ok(record)
}
