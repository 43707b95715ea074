//! The content hash of a build: the build context exactly as `docker build` sends it (see
//! [`super::dockerignore`]), the Dockerfile,
//! the build arguments, the target and the platform. Two builds with the same hash produce the same
//! image, so the hash names a tag (`src-<hash>`) that lets a re-run skip the build, and lets the
//! dry-run print the exact reference a build would push.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::dockerignore::{MatchInfo, PatternError, Patterns};

/// Prefix of the content-hash tag.
pub const TAG_PREFIX: &str = "src-";
/// Hex characters of the hash kept in the tag.
const TAG_HEX_LEN: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("the build context `{path}` is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("the Dockerfile `{path}` cannot be read")]
    Dockerfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{path}`: {source}\n  hint: Docker refuses this pattern too; fix or remove that line"
    )]
    Pattern {
        path: PathBuf,
        #[source]
        source: PatternError,
    },
    #[error("reading `{path}` in the build context")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What decides the image's content.
#[derive(Debug, Clone)]
pub struct BuildInputs<'a> {
    pub context: &'a Path,
    pub dockerfile: &'a Path,
    pub build_args: &'a [(String, String)],
    pub target: Option<&'a str>,
    pub platform: Option<&'a str>,
    /// A folder (and its atomic-write staging siblings `.NAME.new-*`, `.NAME.old-*`) to leave out.
    pub skip: Option<&'a Path>,
}

impl crate::settings::Settings {
    /// The inputs that decide the image's content. The artifact folder is left out when it lies
    /// inside the context: its files name the image, so hashing them would never settle.
    pub fn build_inputs(&self) -> BuildInputs<'_> {
        BuildInputs {
            context: &self.image.context,
            dockerfile: &self.image.dockerfile,
            build_args: &self.image.build_args,
            target: self.image.target.as_deref(),
            platform: self.image.platform.as_deref(),
            skip: Some(&self.out_dir),
        }
    }
}

/// The Dockerfile's bytes, as the content hash and the build read them (after checking that the
/// context is a directory, the first thing a build needs).
pub fn read_dockerfile(inputs: &BuildInputs<'_>) -> Result<Vec<u8>, ContextError> {
    if !inputs.context.is_dir() {
        return Err(ContextError::NotADirectory {
            path: inputs.context.to_path_buf(),
        });
    }
    fs::read(inputs.dockerfile).map_err(|source| ContextError::Dockerfile {
        path: inputs.dockerfile.to_path_buf(),
        source,
    })
}

/// The sha256 (hex) over the build's inputs, in a fixed order: the Dockerfile, the build
/// arguments, target and platform, then each entry Docker sends (see [`context_entries`]) with
/// its path, kind, permission bits, and its bytes or link target.
pub fn content_hash(inputs: &BuildInputs<'_>) -> Result<String, ContextError> {
    content_hash_of(inputs, &read_dockerfile(inputs)?)
}

/// [`content_hash`] with the Dockerfile already read ([`read_dockerfile`]).
pub fn content_hash_of(
    inputs: &BuildInputs<'_>,
    dockerfile: &[u8],
) -> Result<String, ContextError> {
    let mut h = Sha256::new();
    field(&mut h, b"dockerfile", dockerfile);
    // Where the Dockerfile lies in the context matters too (an ignored Dockerfile's folders are
    // still created in the image); one outside the context counts by its content only, so the
    // hash does not depend on where the checkout is.
    let dockerfile_in_context = inputs
        .dockerfile
        .strip_prefix(inputs.context)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    field(&mut h, b"dockerfile-path", dockerfile_in_context.as_bytes());
    let mut args: Vec<&(String, String)> = inputs.build_args.iter().collect();
    args.sort();
    for (k, v) in args {
        field(&mut h, b"arg", format!("{k}={v}").as_bytes());
    }
    field(&mut h, b"target", inputs.target.unwrap_or("").as_bytes());
    field(
        &mut h,
        b"platform",
        inputs.platform.unwrap_or("").as_bytes(),
    );

    let mut buf = Vec::new();
    for entry in context_entries(inputs)? {
        let path = inputs.context.join(&entry.path);
        let io = |source| ContextError::Io {
            path: path.clone(),
            source,
        };
        field(&mut h, b"path", entry.path.as_bytes());
        field(&mut h, b"mode", &entry.mode.to_le_bytes());
        match &entry.kind {
            EntryKind::Dir => field(&mut h, b"dir", b""),
            EntryKind::Symlink(target) => field(&mut h, b"link", target.as_bytes()),
            EntryKind::File => {
                buf.clear();
                fs::File::open(&path)
                    .and_then(|mut f| f.read_to_end(&mut buf))
                    .map_err(io)?;
                field(&mut h, b"data", &buf);
            }
        }
    }
    Ok(hex(&h.finalize()))
}

/// The tag a build with this content hash is pushed under.
pub fn content_tag(hash: &str) -> String {
    format!("{TAG_PREFIX}{}", &hash[..TAG_HEX_LEN.min(hash.len())])
}

/// One entry of the build context as Docker sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `/`-separated, relative to the context.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (`0o7777`): `COPY` keeps them, so they change the image.
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// The link's target, as stored (Docker sends the link, not what it points to).
    Symlink(String),
}

/// The entries `docker build` sends for the context, sorted by path: what go-archive's
/// `TarWithOptions` puts in the tar under the `.dockerignore` rules (see
/// [`super::dockerignore`]), after the daemon has removed an ignored Dockerfile (the CLI sends
/// it anyway; the folders it lay in stay, as implied directories of mode 0755). The artifact
/// folder (`skip`) and its staging siblings are left out as well. Sockets and other special
/// files are left out: they cannot be part of an image built with `COPY`.
pub fn context_entries(inputs: &BuildInputs<'_>) -> Result<Vec<Entry>, ContextError> {
    let context = inputs.context;
    let patterns = load_patterns(context)?;
    let mut out = Vec::new();
    walk(context, context, &patterns, None, inputs.skip, &mut out)?;
    if let Ok(rel) = inputs.dockerfile.strip_prefix(context) {
        let rel = rel.to_string_lossy().replace('\\', "/");
        if patterns.matches(&rel, None).0 {
            let mut dir = Path::new(&rel).parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                let d_str = d.to_string_lossy().into_owned();
                if !out.iter().any(|e| e.path == d_str) {
                    out.push(Entry {
                        path: d_str,
                        kind: EntryKind::Dir,
                        mode: 0o755,
                    });
                }
                dir = d.parent();
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn load_patterns(context: &Path) -> Result<Patterns, ContextError> {
    let path = context.join(".dockerignore");
    match fs::read(&path) {
        Ok(bytes) => Patterns::parse(&String::from_utf8_lossy(&bytes))
            .map_err(|source| ContextError::Pattern { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Patterns::default()),
        Err(source) => Err(ContextError::Io { path, source }),
    }
}

fn field(h: &mut Sha256, name: &[u8], data: &[u8]) {
    h.update(name);
    h.update((data.len() as u64).to_le_bytes());
    h.update(data);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
fn mode_bits(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_bits(_: &fs::Metadata) -> u32 {
    0o644
}

/// go-archive's walk: entries in name order, each matched with its parent's results; an
/// excluded directory is walked only when a `!` pattern names something below it.
fn walk(
    root: &Path,
    dir: &Path,
    patterns: &Patterns,
    parent: Option<&MatchInfo>,
    skip: Option<&Path>,
    out: &mut Vec<Entry>,
) -> Result<(), ContextError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError::Io { path, source }
    };
    let mut entries = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let ft = meta.file_type();
        if ft.is_dir() && skip.is_some_and(|s| is_skipped(&path, s)) {
            continue;
        }
        let (excluded, info) = patterns.matches(&rel, parent);
        if ft.is_dir() {
            if excluded {
                if patterns.has_exclusions() && patterns.must_descend(&rel) {
                    walk(root, &path, patterns, Some(&info), skip, out)?;
                }
                continue;
            }
            out.push(Entry {
                path: rel,
                kind: EntryKind::Dir,
                mode: mode_bits(&meta),
            });
            walk(root, &path, patterns, Some(&info), skip, out)?;
            continue;
        }
        if excluded {
            continue;
        }
        let kind = if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io(&path))?;
            EntryKind::Symlink(target.to_string_lossy().into_owned())
        } else if ft.is_file() {
            EntryKind::File
        } else {
            continue;
        };
        out.push(Entry {
            path: rel,
            kind,
            mode: mode_bits(&meta),
        });
    }
    Ok(())
}

/// `path` is the skipped folder or one of its staging siblings.
fn is_skipped(path: &Path, skip: &Path) -> bool {
    if path == skip {
        return true;
    }
    let (Some(name), Some(base)) = (path.file_name(), skip.file_name()) else {
        return false;
    };
    let (name, base) = (name.to_string_lossy(), base.to_string_lossy());
    path.parent() == skip.parent()
        && (name.starts_with(&format!(".{base}.new-"))
            || name.starts_with(&format!(".{base}.old-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_content_args_and_ignores() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        fs::write(ctx.join("Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(ctx.join("a.txt"), "one").unwrap();
        fs::write(ctx.join(".dockerignore"), "*.log\n").unwrap();
        let df = ctx.join("Dockerfile");
        let out = ctx.join("out");
        let inputs = BuildInputs {
            context: ctx,
            dockerfile: &df,
            build_args: &[],
            target: None,
            platform: None,
            skip: Some(&out),
        };
        let h1 = content_hash(&inputs).unwrap();
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("imageDetail.json"), "{}").unwrap();
        fs::create_dir_all(ctx.join(".out.new-abc")).unwrap();
        fs::write(ctx.join(".out.new-abc/taskdef.json"), "{}").unwrap();
        assert_eq!(
            content_hash(&inputs).unwrap(),
            h1,
            "the artifact folder is not part of the content"
        );
        fs::write(ctx.join("x.log"), "noise").unwrap();
        assert_eq!(
            content_hash(&inputs).unwrap(),
            h1,
            "an ignored file must not change the hash"
        );
        fs::write(ctx.join("a.txt"), "two").unwrap();
        let h2 = content_hash(&inputs).unwrap();
        assert_ne!(h2, h1);
        let args = [("APP_VERSION".to_string(), "0.0.2".to_string())];
        let with_arg = BuildInputs {
            build_args: &args,
            ..inputs.clone()
        };
        assert_ne!(content_hash(&with_arg).unwrap(), h2);
        assert_eq!(content_tag(&h2).len(), TAG_PREFIX.len() + TAG_HEX_LEN);
    }
}
