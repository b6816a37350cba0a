//! The files under `/pkg` (the wasm bundle, its JavaScript glue, the stylesheet): served with a
//! `.br` or `.gz` twin compressed once at release time when the browser accepts one, instead of
//! compressing the same bytes again for every request.
//!
//! `gatehouse precompress` writes the twins (brotli at quality 11, gzip at level 9: the best each
//! format does, too slow to run per request). Only content-hashed
//! names get twins: a twin of `gatehouse.wasm` (the unhashed name `cargo leptos watch` reuses on
//! every rebuild) would go stale and be served in place of the new build. A file without a twin
//! is still compressed on the fly by the edge's `CompressionLayer`, which leaves responses that
//! already carry `Content-Encoding` alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::http::header::VARY;
use axum::http::HeaderValue;
use tower::Layer;
use tower_http::services::ServeDir;
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

use crate::server::http::cache::is_content_hashed;

/// Serves `dir`, preferring a file's `.br`, then `.gz`, twin when the request accepts it.
/// A folder is not a file: 404, never an index or a redirect to one.
///
/// ServeDir picks the twin by `Accept-Encoding` but does not say so: `Vary` is added here, or a
/// shared cache could hand the brotli bytes to a client that cannot read them.
pub fn serve_precompressed(dir: impl AsRef<Path>) -> SetResponseHeader<ServeDir, HeaderValue> {
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false);
    SetResponseHeaderLayer::appending(VARY, HeaderValue::from_static("accept-encoding"))
        .layer(files)
}

/// What `precompress` did to one file.
#[derive(Debug)]
pub struct Compressed {
    pub file: PathBuf,
    pub raw: u64,
    pub brotli: u64,
    pub gzip: u64,
}

/// The bundle's size as a first visit downloads it: the sum over the wasm, JavaScript and CSS
/// files `precompress` handled. (The TypeScript declarations wasm-bindgen writes beside them
/// get twins too, but no page ever requests them.)
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BundleSize {
    pub raw: u64,
    pub gzip: u64,
    pub brotli: u64,
}

impl BundleSize {
    pub fn of(files: &[Compressed]) -> Self {
        let loaded_by_pages = |file: &&Compressed| {
            let extension = file.file.extension().and_then(|e| e.to_str());
            matches!(extension, Some("wasm" | "js" | "css"))
        };
        files
            .iter()
            .filter(loaded_by_pages)
            .fold(Self::default(), |total, file| Self {
                raw: total.raw + file.raw,
                gzip: total.gzip + file.gzip,
                brotli: total.brotli + file.brotli,
            })
    }

    /// More than 10 % over `budget` (brotli bytes): the margin lets ordinary work land without
    /// a budget change each time, while a new dependency's weight does not slip in unnoticed.
    pub fn exceeds(&self, budget: u64) -> bool {
        self.brotli.saturating_mul(10) > budget.saturating_mul(11)
    }

    /// How far the brotli size is above (positive) or below (negative) `budget`, in percent.
    pub fn percent_over(&self, budget: u64) -> f64 {
        (self.brotli as f64 / budget.max(1) as f64 - 1.0) * 100.0
    }
}

/// Writes `<file>.br` and `<file>.gz` beside every content-hashed file in `dir` whose twins are
/// missing or older than it. The sizes of every such file, twins made now or before.
pub fn precompress(dir: &Path) -> std::io::Result<Vec<Compressed>> {
    let mut done = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let is_twin = name.ends_with(".br") || name.ends_with(".gz");
        if is_twin || !file.is_file() || !is_content_hashed(name) {
            continue;
        }
        let bytes = std::fs::read(&file)?;
        let brotli = twin(&file, "br", &bytes, |out, bytes| {
            // Window 2^24: the largest brotli allows, so the whole bundle is one window.
            let mut writer = brotli::CompressorWriter::new(out, 64 * 1024, 11, 24);
            writer.write_all(bytes)
        })?;
        let gzip = twin(&file, "gz", &bytes, |out, bytes| {
            let mut writer = flate2::write::GzEncoder::new(out, flate2::Compression::best());
            writer.write_all(bytes)?;
            writer.finish().map(drop)
        })?;
        done.push(Compressed {
            raw: bytes.len() as u64,
            file,
            brotli,
            gzip,
        });
    }
    Ok(done)
}

/// `file.<extension>`, written by `compress` unless it is already newer than `file`; its size.
fn twin(
    file: &Path,
    extension: &str,
    bytes: &[u8],
    compress: impl FnOnce(&mut Vec<u8>, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let mut path = file.as_os_str().to_owned();
    path.push(".");
    path.push(extension);
    let path = PathBuf::from(path);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    if let (Ok(twin), Ok(original)) = (modified(&path), modified(file)) {
        if twin >= original {
            return Ok(std::fs::metadata(&path)?.len());
        }
    }
    let mut out = Vec::new();
    compress(&mut out, bytes)?;
    // Written under a temporary name and renamed, so a server never serves half a twin.
    let partial = path.with_extension(format!("{extension}.partial"));
    std::fs::write(&partial, &out)?;
    std::fs::rename(&partial, &path)?;
    Ok(out.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn hashed_files_get_twins_that_decompress_to_them_and_others_none() {
        let dir = tempfile::tempdir().unwrap();
        let hashed = dir.path().join("gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.js");
        let plain = dir.path().join("gatehouse.js");
        let body = "export function hydrate() { return 42; }\n".repeat(200);
        std::fs::write(&hashed, &body).unwrap();
        std::fs::write(&plain, &body).unwrap();

        let done = precompress(dir.path()).unwrap();
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!(done[0].file, hashed);
        assert!(done[0].brotli < done[0].raw && done[0].gzip < done[0].raw);
        assert!(!dir.path().join("gatehouse.js.br").exists());

        let mut unbrotli = String::new();
        let br = std::fs::read(dir.path().join("gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.js.br")).unwrap();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_string(&mut unbrotli)
            .unwrap();
        assert_eq!(unbrotli, body);
        let mut ungzip = String::new();
        let gz = std::fs::read(dir.path().join("gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.js.gz")).unwrap();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut ungzip)
            .unwrap();
        assert_eq!(ungzip, body);

        // A second run leaves twins newer than their file alone and reports the same sizes.
        let again = precompress(dir.path()).unwrap();
        assert_eq!(
            (again[0].brotli, again[0].gzip),
            (done[0].brotli, done[0].gzip)
        );
    }

    #[test]
    fn the_budget_allows_ten_percent_and_not_a_byte_more() {
        let files = |brotli: &[u64]| -> Vec<Compressed> {
            brotli
                .iter()
                .zip(["gatehouse.1.wasm", "gatehouse.2.js", "gatehouse.3.css"])
                .map(|(&brotli, name)| Compressed {
                    file: PathBuf::from(name),
                    raw: brotli * 3,
                    gzip: brotli + brotli / 3,
                    brotli,
                })
                .collect()
        };
        let bundle = BundleSize::of(&files(&[500_000, 40_000, 10_000]));
        assert_eq!(
            bundle,
            BundleSize {
                raw: 1_650_000,
                gzip: 733_332,
                brotli: 550_000
            }
        );
        // TypeScript declarations are not part of what a page loads.
        let mut with_declarations = files(&[500_000, 40_000, 10_000]);
        with_declarations.push(Compressed {
            file: PathBuf::from("gatehouse.4.d.ts"),
            raw: 9_000,
            gzip: 3_000,
            brotli: 2_000,
        });
        assert_eq!(BundleSize::of(&with_declarations), bundle);
        assert!(!bundle.exceeds(500_000), "exactly 10 % over is allowed");
        assert!(BundleSize::of(&files(&[550_001])).exceeds(500_000));
        assert!(!bundle.exceeds(600_000));
        assert!((bundle.percent_over(500_000) - 10.0).abs() < 1e-9);
        assert!((bundle.percent_over(1_100_000) + 50.0).abs() < 1e-9);
    }
}
