//! The UPLOAD_ARTIFACTS phase: which files an artifact rule selects ([`select`], pure, over a
//! [`Listing`] of the source directory) and how they become the zip CodePipeline stores
//! ([`package`], which reads the files and writes the zip).
//!
//! CodeBuild's rules, as followed here: `files` patterns are relative to `base-directory` (or the
//! source directory); `base-directory` may itself be a pattern matching several directories, whose
//! own names are not part of the artifact; `exclude-paths` patterns, also relative to the base,
//! remove files (or whole directories); `discard-paths: yes` keeps only the file names, and two
//! files with one name are an error; a `files` pattern that matches nothing fails the phase.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::artifacts::{ArtifactFile, ArtifactSet};
use crate::buildspec::glob::{self, Pattern};
use crate::buildspec::ArtifactRule;

/// The files and directories under a root, as `/`-separated relative paths, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub files: Vec<String>,
    pub dirs: Vec<String>,
}

/// One file of an artifact: where it is (relative to the source directory) and its name in the zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub source: String,
    pub name: String,
}

/// Why an artifact cannot be assembled; CodeBuild fails the UPLOAD_ARTIFACTS phase for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no matching base directory path found for `{0}`")]
    NoBaseDirectory(String),
    #[error("no matching artifact paths found for `{pattern}`{hint}", hint = directory_hint(.directory))]
    NoMatch {
        pattern: String,
        /// The pattern names a directory: say how to take its files.
        directory: Option<String>,
    },
    #[error("every file matched by `files` is excluded by `exclude-paths`")]
    AllExcluded,
    #[error("`{first}` and `{second}` would both be `{name}` in the artifact (discard-paths keeps only file names)")]
    Clash {
        name: String,
        first: String,
        second: String,
    },
    #[error("{0}")]
    Pattern(#[from] glob::PatternError),
}

fn directory_hint(dir: &Option<String>) -> String {
    match dir {
        Some(d) => {
            format!("\n  hint: `{d}` is a directory; write `{d}/**/*` to take the files in it")
        }
        None => String::new(),
    }
}

/// Selects the files of one artifact rule from the source directory's listing. Pure.
pub fn select(rule: &ArtifactRule, src: &Listing) -> Result<Vec<Selected>, SelectError> {
    let bases: Vec<String> = match &rule.base_directory {
        None => vec![String::new()],
        Some(b) => {
            let pattern = Pattern::new(b)?;
            let found: Vec<String> = src
                .dirs
                .iter()
                .filter(|d| pattern.matches(d))
                .cloned()
                .collect();
            if found.is_empty() {
                return Err(SelectError::NoBaseDirectory(b.clone()));
            }
            found
        }
    };
    let files: Vec<Pattern> = rule
        .files
        .iter()
        .map(|f| Pattern::new(f))
        .collect::<Result<_, _>>()?;
    let excludes: Vec<Pattern> = rule
        .exclude_paths
        .iter()
        .map(|f| Pattern::new(f))
        .collect::<Result<_, _>>()?;

    // (base, path relative to the base), in listing order, each once.
    let mut chosen: Vec<(String, String)> = Vec::new();
    for pattern in &files {
        let mut matched = false;
        for base in &bases {
            for rel in under(&src.files, base) {
                if pattern.matches(rel) {
                    matched = true;
                    let item = (base.clone(), rel.to_string());
                    if !chosen.contains(&item) {
                        chosen.push(item);
                    }
                }
            }
        }
        if !matched {
            return Err(SelectError::NoMatch {
                pattern: pattern.as_str().to_string(),
                directory: bases
                    .iter()
                    .flat_map(|b| under(&src.dirs, b))
                    .find(|d| pattern.matches(d))
                    .map(str::to_string),
            });
        }
    }
    let before = chosen.len();
    chosen.retain(|(_, rel)| !excluded(&excludes, rel));
    if before > 0 && chosen.is_empty() {
        return Err(SelectError::AllExcluded);
    }

    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (base, rel) in chosen {
        let name = if rule.discard_paths {
            rel.rsplit('/').next().unwrap_or(&rel).to_string()
        } else {
            rel.clone()
        };
        let source = join(&base, &rel);
        if let Some(first) = names.insert(name.clone(), source.clone()) {
            return Err(SelectError::Clash {
                name,
                first,
                second: source,
            });
        }
        out.push(Selected { source, name });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The entries of `paths` under `base`, relative to it.
fn under<'a>(paths: &'a [String], base: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    paths.iter().filter_map(move |p| {
        if base.is_empty() {
            Some(p.as_str())
        } else {
            p.strip_prefix(base).and_then(|r| r.strip_prefix('/'))
        }
    })
}

/// A file is excluded when a pattern matches it or one of its directories.
fn excluded(excludes: &[Pattern], rel: &str) -> bool {
    let mut prefix = String::new();
    for part in rel.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if excludes.iter().any(|p| p.matches(&prefix)) {
            return true;
        }
    }
    false
}

fn join(base: &str, rel: &str) -> String {
    if base.is_empty() {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    }
}

/// Lists the tree under `root`, leaving out `skip` (the output directory when it is inside).
/// Links to files count as files; links to directories are not followed.
pub fn list_tree(root: &Path, skip: Option<&Path>) -> io::Result<Listing> {
    let mut listing = Listing::default();
    // Resolved once: resolving every entry made listing a large tree (a target/ dir) slow.
    let skip = skip.and_then(|s| s.canonicalize().ok());
    walk(root, "", skip.as_deref(), &mut listing)?;
    listing.files.sort();
    listing.dirs.sort();
    Ok(listing)
}

fn walk(dir: &Path, rel: &str, skip: Option<&Path>, out: &mut Listing) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = join(rel, &name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if skip.is_some_and(|s| path.canonicalize().is_ok_and(|p| p == s)) {
                continue;
            }
            out.dirs.push(child.clone());
            walk(&path, &child, skip, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.files.push(child);
        }
    }
    Ok(())
}

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error("cannot list `{}`", .path.display())]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot build the zip `{}`", .path.display())]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
}

/// Lists the source directory once for all artifact rules.
pub fn list_source(src: &Path, out_dir: &Path) -> Result<Listing, PackageError> {
    list_tree(src, Some(out_dir)).map_err(|source| PackageError::List {
        path: src.to_path_buf(),
        source,
    })
}

/// Selects, reads and zips one artifact into `zip_path` (written whole or not at all).
/// Returns the names in the zip.
pub fn package(
    rule: &ArtifactRule,
    src_dir: &Path,
    listing: &Listing,
    zip_path: &Path,
) -> Result<Vec<String>, PackageError> {
    let selected = select(rule, listing)?;
    let mut set = ArtifactSet::default();
    for s in &selected {
        let path = src_dir.join(&s.source);
        let bytes = std::fs::read(&path).map_err(|source| PackageError::Read { path, source })?;
        set.files.push(ArtifactFile {
            name: s.name.clone(),
            bytes,
        });
    }
    let bytes = set.zip().map_err(|source| PackageError::Zip {
        path: zip_path.to_path_buf(),
        source,
    })?;
    write_atomically(zip_path, &bytes).map_err(|source| PackageError::Write {
        path: zip_path.to_path_buf(),
        source,
    })?;
    Ok(set.names().iter().map(|n| n.to_string()).collect())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(files: &[&str]) -> Listing {
        let mut dirs = std::collections::BTreeSet::new();
        for f in files {
            let parts: Vec<&str> = f.split('/').collect();
            for n in 1..parts.len() {
                dirs.insert(parts[..n].join("/"));
            }
        }
        Listing {
            files: files.iter().map(|s| s.to_string()).collect(),
            dirs: dirs.into_iter().collect(),
        }
    }

    fn rule(files: &[&str]) -> ArtifactRule {
        ArtifactRule {
            id: None,
            name: None,
            files: files.iter().map(|s| s.to_string()).collect(),
            base_directory: None,
            discard_paths: false,
            exclude_paths: Vec::new(),
        }
    }

    fn names(r: Result<Vec<Selected>, SelectError>) -> Vec<String> {
        r.unwrap().into_iter().map(|s| s.name).collect()
    }

    const TREE: &[&str] = &[
        "my-build1/my-file1.txt",
        "my-build2/my-file2.txt",
        "my-build2/my-subdirectory/my-file3.txt",
        "README.md",
    ];

    #[test]
    fn files_are_relative_to_the_base_directory() {
        let mut r = rule(&["*/my-file3.txt"]);
        r.base_directory = Some("my-build2".into());
        assert_eq!(
            names(select(&r, &listing(TREE))),
            vec!["my-subdirectory/my-file3.txt"]
        );
    }

    #[test]
    fn a_base_directory_pattern_takes_every_matching_directory() {
        let mut r = rule(&["**/*"]);
        r.base_directory = Some("my-build*".into());
        r.discard_paths = true;
        assert_eq!(
            names(select(&r, &listing(TREE))),
            vec!["my-file1.txt", "my-file2.txt", "my-file3.txt"]
        );
        r.base_directory = Some("nothing*".into());
        assert_eq!(
            select(&r, &listing(TREE)),
            Err(SelectError::NoBaseDirectory("nothing*".into()))
        );
    }

    #[test]
    fn discard_paths_clash_is_an_error() {
        let mut r = rule(&["a/x.txt", "b/x.txt"]);
        r.discard_paths = true;
        let e = select(&r, &listing(&["a/x.txt", "b/x.txt"])).unwrap_err();
        assert!(
            matches!(e, SelectError::Clash { ref name, .. } if name == "x.txt"),
            "{e}"
        );
    }

    #[test]
    fn exclude_paths_remove_files_and_directories() {
        let mut r = rule(&["**/*"]);
        r.exclude_paths = vec!["my-build2/my-subdirectory".into(), "*.md".into()];
        assert_eq!(
            names(select(&r, &listing(TREE))),
            vec!["my-build1/my-file1.txt", "my-build2/my-file2.txt"]
        );
        r.exclude_paths = vec!["**/*".into()];
        assert_eq!(select(&r, &listing(TREE)), Err(SelectError::AllExcluded));
    }

    #[test]
    fn a_pattern_that_matches_nothing_fails_and_a_directory_gets_a_hint() {
        let e = select(&rule(&["README.md", "missing.txt"]), &listing(TREE)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no matching artifact paths found for `missing.txt`"
        );
        let e = select(&rule(&["my-build1"]), &listing(TREE)).unwrap_err();
        assert!(e.to_string().contains("write `my-build1/**/*`"), "{e}");
    }

    #[test]
    fn overlapping_patterns_take_a_file_once() {
        assert_eq!(
            names(select(&rule(&["README.md", "*.md"]), &listing(TREE))),
            vec!["README.md"]
        );
    }
}
