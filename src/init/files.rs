//! `cutover init`'s file system side: finding the Dockerfiles of a repository, and writing the
//! files without touching one that exists (unless forced), each written whole or not at all.

use std::path::{Path, PathBuf};

use super::InitError;

/// Folders a Dockerfile search never enters: build output, dependencies, VCS data.
const SKIP_DIRS: &[&str] = &[".git", "target", "node_modules", ".venv", "vendor", "out"];
/// How deep the search goes below the root.
const MAX_DEPTH: usize = 4;

/// The Dockerfiles under `root` (`Dockerfile`, `Dockerfile.*`, `*.Dockerfile`), relative to it,
/// sorted.
pub fn find_dockerfiles(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(root, root, 0, &mut found);
    found.sort();
    found
}

fn walk(root: &Path, dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            if depth < MAX_DEPTH && !SKIP_DIRS.contains(&name.as_str()) && !name.starts_with('.') {
                walk(root, &path, depth + 1, found);
            }
        } else if kind.is_file() && is_dockerfile_name(&name) {
            if let Ok(rel) = path.strip_prefix(root) {
                found.push(rel.to_path_buf());
            }
        }
    }
}

fn is_dockerfile_name(name: &str) -> bool {
    // `Dockerfile.dockerignore` is the ignore file of `Dockerfile`, not another Dockerfile.
    (name == "Dockerfile" || name.starts_with("Dockerfile.") || name.ends_with(".Dockerfile"))
        && !name.ends_with(".dockerignore")
}

/// The one Dockerfile to build: `chosen` when given (relative to `root` or the current
/// directory), else the only one found.
pub fn choose_dockerfile(root: &Path, chosen: Option<&Path>) -> Result<PathBuf, InitError> {
    if let Some(c) = chosen {
        let rel = c.strip_prefix(root).unwrap_or(c).to_path_buf();
        if !root.join(&rel).is_file() {
            return Err(InitError::Usage(format!(
                "--dockerfile `{}`: no such file under `{}`\n  hint: give the path relative to the repository's root",
                c.display(),
                root.display()
            )));
        }
        return Ok(rel);
    }
    let found = find_dockerfiles(root);
    match found.len() {
        0 => Err(InitError::NoDockerfile(root.to_path_buf())),
        1 => Ok(found.into_iter().next().unwrap_or_default()),
        _ => Err(InitError::SeveralDockerfiles {
            root: root.to_path_buf(),
            list: found
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// What happened to each file.
#[derive(Debug, Default, serde::Serialize)]
pub struct Written {
    /// Files that did not exist and were written.
    pub wrote: Vec<PathBuf>,
    /// Files that existed with other content and were replaced (`--force`).
    pub replaced: Vec<PathBuf>,
    /// Files that existed with other content and were left alone.
    pub kept: Vec<PathBuf>,
    /// Files that existed with exactly this content.
    pub unchanged: Vec<PathBuf>,
}

impl Written {
    /// True when this run wrote nothing.
    pub fn nothing_changed(&self) -> bool {
        self.wrote.is_empty() && self.replaced.is_empty()
    }
}

/// Writes `files` under `root`. A file that exists is left alone unless `force`; each write goes
/// to a temporary file in the same folder first and is renamed into place.
pub fn write(
    root: &Path,
    files: &[(PathBuf, String)],
    force: bool,
) -> Result<Written, std::io::Error> {
    let mut out = Written::default();
    for (rel, text) in files {
        let path = root.join(rel);
        match std::fs::read(&path) {
            Ok(existing) if existing == text.as_bytes() => {
                out.unchanged.push(rel.clone());
                continue;
            }
            Ok(_) if !force => {
                out.kept.push(rel.clone());
                continue;
            }
            Ok(_) => out.replaced.push(rel.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.wrote.push(rel.clone()),
            Err(e) => return Err(e),
        }
        let dir = path.parent().unwrap_or(root);
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".cutover-init")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dockerfiles_and_skips_build_output() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("svc/api")).unwrap();
        std::fs::create_dir_all(r.join("target/x")).unwrap();
        std::fs::write(r.join("svc/api/Dockerfile"), "FROM a\n").unwrap();
        std::fs::write(r.join("target/x/Dockerfile"), "FROM a\n").unwrap();
        std::fs::write(r.join("svc/api/Dockerfile.dockerignore"), "target\n").unwrap();
        assert_eq!(find_dockerfiles(r), [PathBuf::from("svc/api/Dockerfile")]);
        assert_eq!(
            choose_dockerfile(r, None).unwrap(),
            PathBuf::from("svc/api/Dockerfile")
        );
        std::fs::write(r.join("worker.Dockerfile"), "FROM a\n").unwrap();
        assert!(matches!(
            choose_dockerfile(r, None),
            Err(InitError::SeveralDockerfiles { .. })
        ));
        assert_eq!(
            choose_dockerfile(r, Some(Path::new("worker.Dockerfile"))).unwrap(),
            PathBuf::from("worker.Dockerfile")
        );
        assert!(choose_dockerfile(r, Some(Path::new("nope"))).is_err());
    }

    #[test]
    fn existing_files_are_kept_unless_forced() {
        let d = tempfile::tempdir().unwrap();
        let files = vec![(PathBuf::from("a/b.txt"), "one\n".to_string())];
        let w = write(d.path(), &files, false).unwrap();
        assert_eq!(w.wrote, [PathBuf::from("a/b.txt")]);
        let w = write(d.path(), &files, false).unwrap();
        assert!(w.nothing_changed());
        assert_eq!(w.unchanged.len(), 1);
        std::fs::write(d.path().join("a/b.txt"), "mine\n").unwrap();
        let w = write(d.path(), &files, false).unwrap();
        assert_eq!(w.kept.len(), 1);
        assert_eq!(
            std::fs::read_to_string(d.path().join("a/b.txt")).unwrap(),
            "mine\n"
        );
        let w = write(d.path(), &files, true).unwrap();
        assert_eq!(w.replaced.len(), 1);
        assert_eq!(
            std::fs::read_to_string(d.path().join("a/b.txt")).unwrap(),
            "one\n"
        );
    }
}
