//! The files under `/pkg` (the wasm bundle, its JavaScript glue, the stylesheet).
//!
//! - A release build's files carry a content hash in their names (cargo-leptos `hash-files`),
//!   so their bytes can never change under a name: `pkg_files` reads them, with their `.br`
//!   and `.gz` twins, into memory once when the app starts, and answers from there. Served
//!   from disk, each request cost a file open, the twins' metadata and a read, and a hashed
//!   asset ran at a quarter of what the same layer stack does for `/healthz`
//!   (docs/benchmarks.md).
//! - Everything else (`cargo leptos watch` reuses unhashed names on every rebuild, so they must
//!   be read fresh; range requests; files added after start) goes to `ServeDir`, which also
//!   prefers a twin when the request accepts one.
//!
//! `gatehouse precompress` writes the twins (brotli at quality 11, gzip at level 9: the best each
//! format does, too slow to run per request). Only content-hashed
//! names get twins: a twin of `gatehouse.wasm` (the unhashed name `cargo leptos watch` reuses on
//! every rebuild) would go stale and be served in place of the new build. A file without a twin
//! is still compressed on the fly by the edge's `CompressionLayer`, which leaves responses that
//! already carry `Content-Encoding` alone.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, RANGE, VARY};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Router;
use leptos::config::LeptosOptions;
use tower::{Layer, ServiceExt};
use tower_http::services::ServeDir;
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

use crate::server::http::cache::is_content_hashed;

/// The stylesheet's path for the page shell: `/pkg/gatehouse.<hash>.css` when the build hashes
/// its file names, `/pkg/gatehouse.css` when it does not (`cargo leptos watch`).
///
/// Written here instead of rendering leptos_meta's `HashedStylesheet`, which finds the
/// binary's own path, then stats, reads and parses `hash.txt` beside it, on every page render
/// (as did leptos's `HydrationScripts` for the script names: see `page_scripts`). The
/// file is written with the binary and cannot change while it runs, so it is read once per
/// process, like the binary's path it is found by.
pub fn stylesheet_path(options: &LeptosOptions) -> String {
    static CSS_HASH: OnceLock<Option<String>> = OnceLock::new();
    let hash = options
        .hash_files
        .then(|| {
            CSS_HASH.get_or_init(|| {
                let binary = std::env::current_exe().ok()?;
                let hashes = std::fs::read_to_string(binary.parent()?.join(&*options.hash_file));
                css_hash(&hashes.ok()?)
            })
        })
        .and_then(Option::as_deref);
    css_path(&options.site_pkg_dir, &options.output_name, hash)
}

/// The `css: <hash>` line of cargo-leptos's `hash.txt`.
fn css_hash(hashes: &str) -> Option<String> {
    hashes.lines().find_map(|line| {
        let (file, hash) = line.split_once(':')?;
        (file.trim() == "css").then(|| hash.trim().to_string())
    })
}

fn css_path(pkg_dir: &str, output_name: &str, hash: Option<&str>) -> String {
    match hash {
        Some(hash) => format!("/{pkg_dir}/{output_name}.{hash}.css"),
        None => format!("/{pkg_dir}/{output_name}.css"),
    }
}

/// Serves `/pkg` from `dir`: content-hashed files from memory (read now), the rest from disk.
pub fn pkg_files(dir: PathBuf) -> Router {
    let in_memory = Arc::new(HashedFiles::load(&dir));
    let from_disk = serve_precompressed(dir);
    Router::new().fallback(move |request: Request| {
        let in_memory = in_memory.clone();
        let from_disk = from_disk.clone();
        async move {
            match in_memory.answer(&request) {
                Some(response) => response,
                None => {
                    let response = from_disk.oneshot(request).await;
                    response
                        .unwrap_or_else(|never: Infallible| match never {})
                        .into_response()
                }
            }
        }
    })
}

/// Serves `dir`, preferring a file's `.br`, then `.gz`, twin when the request accepts it.
/// A folder is not a file: 404, never an index or a redirect to one.
///
/// ServeDir picks the twin by `Accept-Encoding` but does not say so: `Vary` is added here, or a
/// shared cache could hand the brotli bytes to a client that cannot read them.
pub(crate) fn serve_precompressed(
    dir: impl AsRef<Path>,
) -> SetResponseHeader<ServeDir, HeaderValue> {
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false);
    SetResponseHeaderLayer::appending(VARY, HeaderValue::from_static("accept-encoding"))
        .layer(files)
}

/// One content-hashed file and its twins, as they were on disk at start-up.
struct HashedFile {
    content_type: HeaderValue,
    identity: Bytes,
    brotli: Option<Bytes>,
    gzip: Option<Bytes>,
}

/// The content-hashed files of the bundle directory, by name.
///
/// Written here rather than taken from a crate: the crates that serve files from memory
/// (memory-serve, rust-embed, axum-embed) embed them at compile time, and the bundle is built
/// by cargo-leptos beside the server, not before it.
#[derive(Default)]
struct HashedFiles(HashMap<String, HashedFile>);

impl HashedFiles {
    /// Reads every content-hashed wasm, JavaScript and CSS file of `dir`, and their twins.
    /// A directory that cannot be read (none built yet) leaves everything to the disk.
    fn load(dir: &Path) -> Self {
        let read = |path: &Path| std::fs::read(path).ok().map(Bytes::from);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Self::default();
        };
        let mut files = HashMap::new();
        for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(content_type) = bundle_content_type(name) else {
                continue;
            };
            if !is_content_hashed(name) {
                continue;
            }
            let Some(identity) = read(&path) else {
                continue;
            };
            let file = HashedFile {
                content_type: HeaderValue::from_static(content_type),
                identity,
                brotli: read(&twin_path(&path, "br")),
                gzip: read(&twin_path(&path, "gz")),
            };
            files.insert(name.to_string(), file);
        }
        tracing::debug!(
            files = files.len(),
            "content-hashed bundle files kept in memory"
        );
        Self(files)
    }

    /// The answer for a plain `GET` or `HEAD` of a file held here; `None` for anything else
    /// (the disk answers that: other files, other methods, ranges).
    fn answer(&self, request: &Request) -> Option<Response> {
        let method = request.method();
        if (method != Method::GET && method != Method::HEAD)
            || request.headers().contains_key(RANGE)
        {
            return None;
        }
        let name = request.uri().path().strip_prefix('/')?;
        let file = self.0.get(name)?;
        let (encoding, bytes) = match preferred_twin(request.headers(), file) {
            Some((encoding, bytes)) => (Some(encoding), bytes),
            None => (None, &file.identity),
        };
        let mut response = Response::new(Body::from(bytes.clone()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, file.content_type.clone());
        // The same bytes are not sent to every client: a shared cache must key on this.
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(encoding) = encoding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        Some(response)
    }
}

/// The types of the files a page loads from the bundle; others are left to the disk.
fn bundle_content_type(name: &str) -> Option<&'static str> {
    match name.rsplit('.').next()? {
        "wasm" => Some("application/wasm"),
        "js" => Some("text/javascript"),
        "css" => Some("text/css"),
        _ => None,
    }
}

/// The twin to send: of the twins made that the client accepts at all, the one it takes most
/// gladly, brotli on a tie; none (the file itself) when it accepts neither.
fn preferred_twin<'a>(
    headers: &HeaderMap,
    file: &'a HashedFile,
) -> Option<(&'static str, &'a Bytes)> {
    let made = [("br", &file.brotli), ("gzip", &file.gzip)];
    made.into_iter()
        .filter_map(|(coding, twin)| Some((quality(headers, coding), coding, twin.as_ref()?)))
        .filter(|(q, ..)| *q > 0.0)
        // Brotli comes first: a later twin replaces the best so far only when preferred.
        .reduce(|best, next| if next.0 > best.0 { next } else { best })
        .map(|(_, coding, twin)| (coding, twin))
}

/// How gladly the client takes `coding`, by `Accept-Encoding` (RFC 9110, 12.5.3): its `q`
/// (1 when not given), else that of `*`, else 0 (not at all). Written here because tower-http
/// keeps its own parser private.
fn quality(headers: &HeaderMap, coding: &str) -> f32 {
    let mut wildcard = 0.0;
    let items = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for item in items {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let q = parts
            .find_map(|param| {
                let (key, value) = param.split_once('=')?;
                key.trim().eq_ignore_ascii_case("q").then(|| value.trim())
            })
            .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
        if name.eq_ignore_ascii_case(coding) {
            return q;
        }
        if name == "*" {
            wildcard = q;
        }
    }
    wildcard
}

/// `file.<extension>`: where `precompress` writes a twin.
fn twin_path(file: &Path, extension: &str) -> PathBuf {
    let mut path = file.as_os_str().to_owned();
    path.push(".");
    path.push(extension);
    PathBuf::from(path)
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
        // A window as large as the file (brotli allows 2^10 to 2^24), so the whole bundle is
        // one window; no larger, as quality 11's memory grows with it, whatever the file's size.
        let window = (usize::BITS - bytes.len().leading_zeros()).clamp(10, 24);
        let brotli = twin(&file, "br", &bytes, |out, bytes| {
            let mut writer = brotli::CompressorWriter::new(out, 64 * 1024, 11, window);
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
    let path = twin_path(file, extension);
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
    fn the_stylesheet_is_named_by_the_css_line_of_the_hash_file() {
        // As cargo-leptos 0.3.10 writes it.
        let hashes = "js: NH2iefkOnj-CuTAhUa9NKA\nwasm: inQhDxFovaBy9d_8_f-1dw\ncss: VlxjMM-a9zd3AwxBZ5-60g\n";
        let hash = css_hash(hashes);
        assert_eq!(hash.as_deref(), Some("VlxjMM-a9zd3AwxBZ5-60g"));
        assert_eq!(
            css_path("pkg", "gatehouse", hash.as_deref()),
            "/pkg/gatehouse.VlxjMM-a9zd3AwxBZ5-60g.css"
        );
        assert_eq!(css_hash("js: abc\nwasm: def\n"), None);
        assert_eq!(css_path("pkg", "gatehouse", None), "/pkg/gatehouse.css");
    }

    #[test]
    fn unhashed_builds_link_the_plain_stylesheet() {
        let options = LeptosOptions::builder()
            .output_name("gatehouse")
            .hash_files(false)
            .build();
        assert_eq!(stylesheet_path(&options), "/pkg/gatehouse.css");
    }

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

    fn accepting(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        let cases = [
            ("gzip, br", "br", 1.0),
            ("BR", "br", 1.0),
            ("gzip;q=0.8, br;Q=0.3", "br", 0.3),
            ("gzip;q=0.8, br;q=0.3", "gzip", 0.8),
            ("gzip ; q=0.5", "gzip", 0.5),
            ("*;q=0.2", "br", 0.2),
            ("br;q=0, *", "br", 0.0),
            ("*, br;q=0", "br", 0.0),
            ("identity", "gzip", 0.0),
            ("br;q=nonsense", "br", 0.0),
        ];
        for (accept, coding, q) in cases {
            assert_eq!(quality(&accepting(accept), coding), q, "{accept}: {coding}");
        }
        assert_eq!(quality(&HeaderMap::new(), "br"), 0.0);
        // Several header lines are one list.
        let mut headers = accepting("gzip;q=0.4");
        headers.append(ACCEPT_ENCODING, HeaderValue::from_static("br;q=0.9"));
        assert_eq!(
            (quality(&headers, "gzip"), quality(&headers, "br")),
            (0.4, 0.9)
        );
    }

    #[test]
    fn the_twin_sent_is_the_one_the_client_prefers_among_those_made() {
        let file = |brotli: bool, gzip: bool| HashedFile {
            content_type: HeaderValue::from_static("text/css"),
            identity: Bytes::from_static(b"file"),
            brotli: brotli.then(|| Bytes::from_static(b"brotli twin")),
            gzip: gzip.then(|| Bytes::from_static(b"gzip twin")),
        };
        let chosen = |accept: &str, file: &HashedFile| {
            preferred_twin(&accepting(accept), file).map(|(encoding, _)| encoding)
        };
        let both = file(true, true);
        assert_eq!(
            chosen("gzip, br", &both),
            Some("br"),
            "a tie goes to brotli"
        );
        assert_eq!(chosen("br;q=0.5, gzip", &both), Some("gzip"));
        assert_eq!(chosen("br;q=0.5, gzip;q=0", &both), Some("br"));
        assert_eq!(chosen("identity", &both), None);
        assert_eq!(chosen("br, gzip", &file(false, true)), Some("gzip"));
        assert_eq!(chosen("gzip;q=1, br;q=0.1", &file(true, false)), Some("br"));
        assert_eq!(chosen("gzip", &file(true, false)), None);
        assert_eq!(chosen("br, gzip", &file(false, false)), None);
        // The bytes sent are that twin's.
        let (_, bytes) = preferred_twin(&accepting("gzip"), &both).unwrap();
        assert_eq!(bytes.as_ref(), b"gzip twin");
    }

    #[test]
    fn only_hashed_bundle_files_are_held_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css",
            "gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css.br",
            "gatehouse.Ab3-_x0aB1cD2eF3gH4iJ5.wasm",
            "gatehouse.Cd3-_x0aB1cD2eF3gH4iJ5.js",
            "gatehouse.Ef3-_x0aB1cD2eF3gH4iJ5.d.ts",
            "gatehouse.js",
        ] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let held = HashedFiles::load(dir.path());
        let mut names: Vec<&str> = held.0.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "gatehouse.Ab3-_x0aB1cD2eF3gH4iJ5.wasm",
                "gatehouse.Cd3-_x0aB1cD2eF3gH4iJ5.js",
                "gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css",
            ]
        );
        let css = &held.0["gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css"];
        assert_eq!(css.content_type, "text/css");
        assert_eq!(
            css.brotli.as_deref(),
            Some(&b"gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css.br"[..])
        );
        assert!(css.gzip.is_none());
        let wasm = &held.0["gatehouse.Ab3-_x0aB1cD2eF3gH4iJ5.wasm"];
        assert_eq!(wasm.content_type, "application/wasm");
        assert_eq!(
            held.0["gatehouse.Cd3-_x0aB1cD2eF3gH4iJ5.js"].content_type,
            "text/javascript"
        );
        // No folder yet (nothing built): nothing held, the disk answers.
        assert!(HashedFiles::load(&dir.path().join("missing")).0.is_empty());
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
