//! Public handles for rows that clients may name: a session in the session list, an account
//! in an access token's `sub`. 128 bits from the OS CSPRNG as 32 lower-case hex characters,
//! the same shape the migrations give existing rows (`lower(hex(randomblob(16)))`).
//!
//! A handle is unrelated to the row's internal sequential id and to any secret, so showing it
//! tells nobody how many accounts exist, which one came first, or anything usable to sign in.

use rand::RngCore;

const BYTES: usize = 16;

pub fn generate() -> String {
    let mut bytes = [0u8; BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `candidate` has the shape of a handle: 32 lower-case hex characters. Lets a
/// lookup skip the database for anything else (an old token's numeric `sub`, junk).
pub fn is_well_formed(candidate: &str) -> bool {
    candidate.len() == BYTES * 2
        && candidate
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_random_lower_case_hex_of_128_bits() {
        let a = generate();
        assert_eq!(a.len(), 32);
        assert!(is_well_formed(&a), "{a}");
        assert_ne!(a, generate());
    }

    #[test]
    fn only_the_handle_shape_is_well_formed() {
        for bad in [
            "",
            "1",
            "42",
            &"A".repeat(32),
            &"g".repeat(32),
            &"a".repeat(31),
            &"a".repeat(33),
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
        assert!(is_well_formed(&"0f".repeat(16)));
    }
}
