//! Unicode NFC normalisation, the one step of the password rules that needs Unicode data.
//!
//! The server uses `unicode-normalization`. In the browser the same rule calls the engine's
//! own `String.prototype.normalize("NFC")`: the crate's composition and decomposition tables
//! are ~85 KB of the wasm (the largest data in the bundle), and every browser already ships
//! them. The rules themselves stay in one place (`password`); only where the tables come from
//! differs. The browser's Unicode version may be newer or older than the crate's, which
//! could only change the character count of a password using characters added in between:
//! the browser's answer is a preview, and the server's is the one that counts.

/// `text` in Normalization Form C.
pub fn nfc(text: &str) -> String {
    imp::nfc(text)
}

#[cfg(not(all(feature = "hydrate", target_arch = "wasm32")))]
mod imp {
    use unicode_normalization::UnicodeNormalization;

    pub fn nfc(text: &str) -> String {
        text.nfc().collect()
    }
}

#[cfg(all(feature = "hydrate", target_arch = "wasm32"))]
mod imp {
    pub fn nfc(text: &str) -> String {
        js_sys::JsString::from(text).normalize("NFC").into()
    }
}

#[cfg(test)]
mod tests {
    use super::nfc;

    #[test]
    fn composes_a_decomposed_accent_and_leaves_composed_text_alone() {
        assert_eq!(nfc("e\u{301}"), "\u{e9}");
        assert_eq!(nfc("\u{e9}"), "\u{e9}");
        // Compatibility characters are NFKC's business, not NFC's.
        assert_eq!(nfc("\u{fb01}"), "\u{fb01}");
        assert_eq!(nfc("  spaced  "), "  spaced  ");
    }
}
