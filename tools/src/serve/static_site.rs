//! The drawing page as static files (`serve --static DIR`): it classifies drawings in the
//! browser, with no server of ours; any static file host serves it.
//!
//! The directory gets `index.html` (the served page in its static mode), `model.onnx` (the
//! network, exported by the caller), `model.json` (the normalization and class names the page
//! feeds the model with) and [`STATIC_ASSETS`]: the server's preprocessing (`mnist_style`)
//! compiled to WebAssembly and onnxruntime-web's single-threaded WebAssembly build, which
//! `bash web/build.sh` puts in `web/dist` (onnxruntime-web pinned in `web/package.json`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::PAGE;

/// The files the static page loads besides `index.html`, `model.onnx` and `model.json`.
pub const STATIC_ASSETS: [&str; 4] = [
    "mnist_style.wasm",
    "ort.wasm.min.js",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
];

/// Why the static page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StaticSiteError {
    /// An asset is not in the assets directory.
    #[error(
        "`{}` is missing: build the page's assets with `bash web/build.sh` (or pass --assets DIR)",
        path.display()
    )]
    MissingAsset {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be written.
    #[error("cannot write `{}`: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        message: String,
    },
}

/// The drawing page in its static mode: it answers with onnxruntime-web and hides the
/// "random test digit" button (which asks the server).
pub fn static_page() -> String {
    let page = PAGE.replacen(
        "<html lang=\"en\">",
        "<html lang=\"en\" data-mode=\"static\">",
        1,
    );
    page.replacen(
        "<script>",
        "<script src=\"ort.wasm.min.js\"></script>\n<script>",
        1,
    )
}

/// Writes the static page into `dir` (created if missing): `index.html`, `model.onnx`,
/// `model.json` and the [`STATIC_ASSETS`] copied from `assets`. Every asset is read before
/// anything is written; each file is replaced only once complete. Returns the files written.
pub fn write_static_site(
    dir: &Path,
    model_onnx: &[u8],
    model_json: &Value,
    assets: &Path,
) -> Result<Vec<PathBuf>, StaticSiteError> {
    // Read before anything is written: a missing asset leaves no half-written site.
    let mut copies = vec![];
    for name in STATIC_ASSETS {
        let path = assets.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(_) if !path.is_file() => return Err(StaticSiteError::MissingAsset { path }),
            Err(e) => {
                return Err(StaticSiteError::MissingAsset {
                    path: PathBuf::from(format!("{} ({e})", path.display())),
                });
            }
        };
        copies.push((name, bytes));
    }
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        mnist_lab::write_atomic(&path, bytes)
            .map(|()| path.clone())
            .map_err(|e| StaticSiteError::Write {
                path,
                message: e.to_string(),
            })
    };
    std::fs::create_dir_all(dir).map_err(|e| StaticSiteError::Write {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut written = vec![
        write("index.html", static_page().as_bytes())?,
        write("model.onnx", model_onnx)?,
        write(
            "model.json",
            serde_json::to_string_pretty(model_json)
                .unwrap_or_default()
                .as_bytes(),
        )?,
    ];
    for (name, bytes) in copies {
        written.push(write(name, &bytes)?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_page_is_the_served_page_in_static_mode() {
        let page = static_page();
        assert!(page.contains("<html lang=\"en\" data-mode=\"static\">"));
        assert!(page.contains("<script src=\"ort.wasm.min.js\"></script>\n<script>"));
        assert_eq!(page.len(), PAGE.len() + r#" data-mode="static""#.len() + 40);
    }

    #[test]
    fn a_missing_asset_says_how_to_build_it_and_writes_nothing() {
        let assets = tempfile::tempdir().unwrap();
        for name in &STATIC_ASSETS[..3] {
            std::fs::write(assets.path().join(name), b"x").unwrap();
        }
        let out = tempfile::tempdir().unwrap();
        let site = out.path().join("site");
        let err =
            write_static_site(&site, b"onnx", &serde_json::json!({}), assets.path()).unwrap_err();
        assert!(
            err.to_string().contains("ort-wasm-simd-threaded.wasm"),
            "{err}"
        );
        assert!(err.to_string().contains("bash web/build.sh"), "{err}");
        assert!(!site.exists());

        std::fs::write(assets.path().join(STATIC_ASSETS[3]), b"wasm").unwrap();
        let written = write_static_site(
            &site,
            b"onnx",
            &serde_json::json!({"mean": [0.5]}),
            assets.path(),
        )
        .unwrap();
        assert_eq!(written.len(), 7);
        assert_eq!(std::fs::read(site.join("model.onnx")).unwrap(), b"onnx");
        assert_eq!(std::fs::read(site.join(STATIC_ASSETS[3])).unwrap(), b"wasm");
        assert_eq!(
            std::fs::read_to_string(site.join("index.html")).unwrap(),
            static_page()
        );
    }
}
