//! Embeds every file under `static/` (our stylesheet and the vendored DSFR) in the binary: the
//! service is one file to deploy. Writes `$OUT_DIR/assets.rs`, a sorted table of
//! (path under `/static/`, contents) that `assets.rs` searches.
//!
//! Renders the service's legal and help pages, written in Markdown under `content/` (one file
//! a page, its address the file's name, its title its first heading) so the national team
//! edits them in the repository: `$OUT_DIR/content.rs`, a table of (address, title, HTML)
//! that `content.rs` serves, and the table of the aidants' CGU, one file a version under
//! `cgu/` (`v1.md`…). Tables get the design system's wrapper.

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
    let mut content = rendered("content", "PAGES")?;
    content.push_str(&rendered("cgu", "CGU")?);
    std::fs::write(out.join("content.rs"), content)?;
    Ok(())
}

/// The table `name` of the Markdown files under `dir`, rendered: (file name without `.md`,
/// title, HTML).
fn rendered(dir: &str, name: &str) -> BuildResult<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut pages = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    pages.retain(|p| p.extension().is_some_and(|e| e == "md"));
    pages.sort();
    let mut code = format!("pub(crate) static {name}: &[(&str, &str, &str)] = &[\n");
    for path in pages {
        println!("cargo:rerun-if-changed={}", path.display());
        let slug = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("{}: not UTF-8", path.display()))?;
        let markdown = std::fs::read_to_string(&path)?;
        let title = markdown
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .ok_or_else(|| format!("{}: no title (a first `# ` heading)", path.display()))?
            .trim();
        let options = pulldown_cmark::Options::ENABLE_TABLES;
        let mut html = String::new();
        pulldown_cmark::html::push_html(
            &mut html,
            pulldown_cmark::Parser::new_ext(&markdown, options),
        );
        let html = html
            .replace("<table>", "<div class=\"fr-table\"><div class=\"fr-table__wrapper\"><div class=\"fr-table__container\" tabindex=\"0\" role=\"region\" aria-label=\"Tableau\"><div class=\"fr-table__content\"><table>")
            .replace("</table>", "</table></div></div></div></div>");
        writeln!(code, "    ({slug:?}, {title:?}, {html:?}),")?;
    }
    code.push_str("];\n");
    Ok(code)
}
