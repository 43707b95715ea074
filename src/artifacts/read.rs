//! Reading what the artifact code is given: an artifact as a directory or a zip
//! ([`read_artifact`]), and a task definition template file ([`read_template`]).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{taskdef, write, ArtifactFile, ArtifactSet};
use crate::output::display_path;

/// A task definition template that cannot be read or is not a JSON object.
/// The task definition template and where it came from.
#[derive(Debug, Clone)]
pub struct Template {
    pub value: serde_json::Value,
    /// For messages and the plan: the file (relative to the working directory) or the service.
    pub source: String,
    /// It is the live service's task definition (`--from-service`).
    pub from_service: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateReadError {
    #[error("reading the task definition template `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}`", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: taskdef::TemplateError,
    },
}

/// Reads an artifact directory (its files, recursively) or an artifact zip.
pub fn read_artifact(path: &Path) -> anyhow::Result<ArtifactSet> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        read_dir_files(path, path, &mut files)?;
    } else {
        let f = std::fs::File::open(path)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        let mut zip = zip::ZipArchive::new(f).with_context(|| {
            format!(
                "`{}` is neither a directory nor a zip archive",
                path.display()
            )
        })?;
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index(i)
                .with_context(|| format!("reading entry {i} of `{}`", path.display()))?;
            if entry.is_dir() {
                continue;
            }
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes)
                .with_context(|| format!("reading `{}` in `{}`", entry.name(), path.display()))?;
            files.push(ArtifactFile {
                name: entry.name().to_string(),
                bytes,
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ArtifactSet { files })
}

fn read_dir_files(root: &Path, dir: &Path, out: &mut Vec<ArtifactFile>) -> anyhow::Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("cannot list `{}`", dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list `{}`", dir.display()))?;
        let path = entry.path();
        if path.is_dir() {
            read_dir_files(root, &path, out)?;
        } else if entry.file_name() == write::MARKER {
            // cutover's own bookkeeping, not part of the artifact.
            continue;
        } else {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push(ArtifactFile { name, bytes });
        }
    }
    Ok(())
}

/// Reads and parses a task definition template file; `cwd` shortens its name in messages.
pub fn read_template(path: &Path, cwd: &Path) -> Result<Template, TemplateReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| TemplateReadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value = taskdef::parse_template(&text).map_err(|source| TemplateReadError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Template {
        value,
        source: display_path(path, cwd),
        from_service: false,
    })
}
