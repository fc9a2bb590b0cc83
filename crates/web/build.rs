//! Embeds every file under `static/` (our stylesheet and the vendored DSFR) in the binary: the
//! service is one file to deploy. Writes `$OUT_DIR/assets.rs`, a sorted table of
//! (path under `/static/`, contents) that `assets.rs` searches.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

type BuildResult<T> = Result<T, Box<dyn Error>>;

fn collect(dir: &Path, root: &Path, files: &mut Vec<(String, PathBuf)>) -> BuildResult<()> {
    let mut entries = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, files)?;
        } else {
            let mut parts = Vec::new();
            for part in path.strip_prefix(root)?.components() {
                let part = part.as_os_str().to_str();
                parts.push(part.ok_or_else(|| format!("{}: not UTF-8", path.display()))?);
            }
            files.push((parts.join("/"), path.clone()));
        }
    }
    Ok(())
}

fn main() -> BuildResult<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files)?;
    files.sort();
    let mut code = String::from("pub(crate) static ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )?;
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("assets.rs"), code)?;
    Ok(())
}
