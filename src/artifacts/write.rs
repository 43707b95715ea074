//! Writing an artifact set so that a reader never sees a partial one: the files go to a fresh
//! directory beside the target, which then replaces the target by rename.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::ArtifactSet;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("`{path}` is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("`{path}` holds files cutover did not write ({others}); refusing to replace it")]
    ForeignFiles { path: PathBuf, others: String },
    #[error("`{path}` holds artifact-named files that cutover did not write; refusing to replace it\n  hint: give --out a folder of its own (the default is out/)")]
    NotOurs { path: PathBuf },
    #[error("writing `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// File names an artifact directory may hold: the artifacts cutover writes.
const OWN_FILES: &[&str] = &[
    super::image_detail::FILE_NAME,
    super::image_definitions::FILE_NAME,
    super::taskdef::FILE_NAME,
    super::appspec::YAML_FILE_NAME,
    super::appspec::JSON_FILE_NAME,
    MARKER,
];

/// Written into every artifact directory cutover makes. A non-empty directory without it is not
/// cutover's (a folder of hand-written templates named like artifacts, say) and is never replaced.
pub const MARKER: &str = ".cutover-artifacts";

/// Replaces directory `out` with exactly the files of `set` (and the marker).
///
/// `out` must be absent, empty, or a directory cutover wrote before (it holds the marker and only
/// artifact files), so a mistaken `--out .` or `--out <templates>` cannot delete anyone's files.
/// On any error the previous contents of `out` are left as they were.
pub fn write_atomically(set: &ArtifactSet, out: &Path) -> Result<(), WriteError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    if out.exists() {
        if !out.is_dir() {
            return Err(WriteError::NotADirectory {
                path: out.to_path_buf(),
            });
        }
        let others: Vec<String> = fs::read_dir(out)
            .map_err(io(out))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !OWN_FILES.contains(&n.as_str()))
            .collect();
        if !others.is_empty() {
            return Err(WriteError::ForeignFiles {
                path: out.to_path_buf(),
                others: others.join(", "),
            });
        }
        let empty = fs::read_dir(out).map_err(io(out))?.next().is_none();
        if !empty && !out.join(MARKER).is_file() {
            return Err(WriteError::NotOurs {
                path: out.to_path_buf(),
            });
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let base = out
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{base}.new-"))
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    let marker = super::ArtifactFile {
        name: MARKER.to_string(),
        bytes: b"written by cutover; the whole folder is replaced on the next run\n".to_vec(),
    };
    for f in set.files.iter().chain(std::iter::once(&marker)) {
        let path = staging.path().join(&f.name);
        let mut file = fs::File::create(&path).map_err(io(&path))?;
        file.write_all(&f.bytes).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
    }
    // The folder's own entries, so that after a crash the swapped-in set is complete.
    sync_dir(staging.path());
    // Until it is in place, `staging` removes itself on every early return.
    if out.exists() {
        match exchange(staging.path(), out) {
            // One atomic step: `out` holds the new set and `staging` the previous one, which
            // its drop removes.
            Ok(()) => {
                sync_dir(&parent);
                return Ok(());
            }
            // A filesystem or system without RENAME_EXCHANGE: the two-rename fallback below.
            Err(e) if unsupported(&e) => {}
            Err(e) => {
                return Err(WriteError::Io {
                    path: out.to_path_buf(),
                    source: e,
                })
            }
        }
    }
    // Move the old set aside first: rename cannot replace a non-empty directory. Between the two
    // renames `out` is briefly absent (never partial).
    let old = if out.exists() {
        let old = tempfile::Builder::new()
            .prefix(&format!(".{base}.old-"))
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        let old_path = old.path().join("set");
        fs::rename(out, &old_path).map_err(io(out))?;
        Some((old, old_path))
    } else {
        None
    };
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, out) {
        if let Some((old_dir, old_path)) = old {
            if fs::rename(&old_path, out).is_err() {
                // Never delete the previous set: keep it where it is and say where.
                let kept = old_dir.keep();
                let _ = fs::remove_dir_all(&staged);
                return Err(WriteError::Io {
                    path: kept.join("set"),
                    source: e,
                });
            }
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(WriteError::Io {
            path: out.to_path_buf(),
            source: e,
        });
    }
    sync_dir(&parent);
    // `old`'s TempDir removes the previous set when dropped.
    drop(old);
    Ok(())
}

/// Swaps two directories in one step (Linux `renameat2` with `RENAME_EXCHANGE`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Errors that mean "this kernel or filesystem cannot exchange", not "the exchange failed".
fn unsupported(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Unsupported
        || matches!(
            e.raw_os_error(),
            Some(code) if code == rustix::io::Errno::INVAL.raw_os_error()
                || code == rustix::io::Errno::NOSYS.raw_os_error()
                || code == rustix::io::Errno::OPNOTSUPP.raw_os_error()
        )
}

/// Makes the renames durable; best effort (some filesystems refuse fsync on a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::ArtifactFile;

    fn set(names: &[&str]) -> ArtifactSet {
        ArtifactSet {
            files: names
                .iter()
                .map(|n| ArtifactFile {
                    name: n.to_string(),
                    bytes: b"{}".to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn replaces_a_previous_set_and_leaves_no_staging_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_atomically(&set(&["taskdef.json", "appspec.json"]), &out).unwrap();
        write_atomically(&set(&["taskdef.json", "appspec.yaml"]), &out).unwrap();
        let mut names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec![MARKER, "appspec.yaml", "taskdef.json"]);
        let siblings: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(siblings, vec!["out"]);
    }

    #[test]
    fn exchange_swaps_two_directories_in_one_step() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(a.join("from-a"), "").unwrap();
        fs::write(b.join("from-b"), "").unwrap();
        match exchange(&a, &b) {
            Ok(()) => {
                assert!(a.join("from-b").exists() && b.join("from-a").exists());
            }
            // Where the filesystem cannot, the writer falls back; the error must say so.
            Err(e) => assert!(unsupported(&e), "{e}"),
        }
    }

    #[test]
    fn refuses_a_folder_of_templates_named_like_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("taskdef.json"), "{\"family\": \"mine\"}").unwrap();
        let err = write_atomically(&set(&["taskdef.json"]), dir.path()).unwrap_err();
        assert!(matches!(err, WriteError::NotOurs { .. }), "{err}");
        assert_eq!(
            fs::read_to_string(dir.path().join("taskdef.json")).unwrap(),
            "{\"family\": \"mine\"}"
        );
    }

    #[test]
    fn refuses_a_directory_with_other_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Cargo.toml"), "x").unwrap();
        let err = write_atomically(&set(&["taskdef.json"]), dir.path()).unwrap_err();
        assert!(matches!(err, WriteError::ForeignFiles { .. }), "{err}");
        assert!(dir.path().join("Cargo.toml").exists());
        assert!(!dir.path().join("taskdef.json").exists());
    }
}
