//! The content hash of a build: the build context (minus `.dockerignore`d paths), the Dockerfile,
//! the build arguments, the target and the platform. Two builds with the same hash produce the same
//! image, so the hash names a tag (`src-<hash>`) that lets a re-run skip the build, and lets the
//! dry-run print the exact reference a build would push.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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

/// The sha256 (hex) over the build's inputs, in a fixed order.
pub fn content_hash(inputs: &BuildInputs<'_>) -> Result<String, ContextError> {
    if !inputs.context.is_dir() {
        return Err(ContextError::NotADirectory {
            path: inputs.context.to_path_buf(),
        });
    }
    let mut h = Sha256::new();
    let dockerfile = fs::read(inputs.dockerfile).map_err(|source| ContextError::Dockerfile {
        path: inputs.dockerfile.to_path_buf(),
        source,
    })?;
    field(&mut h, b"dockerfile", &dockerfile);
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

    let ignore = Ignore::load(inputs.context)?;
    let mut files = Vec::new();
    walk(
        inputs.context,
        inputs.context,
        &ignore,
        inputs.skip,
        &mut files,
    )?;
    files.sort();
    let mut buf = Vec::new();
    for rel in files {
        let path = inputs.context.join(&rel);
        let io = |source| ContextError::Io {
            path: path.clone(),
            source,
        };
        let meta = fs::symlink_metadata(&path).map_err(io)?;
        field(&mut h, b"path", rel.as_bytes());
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(io)?;
            field(&mut h, b"link", target.to_string_lossy().as_bytes());
            continue;
        }
        field(&mut h, b"mode", &[u8::from(is_executable(&meta))]);
        buf.clear();
        fs::File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .map_err(io)?;
        field(&mut h, b"data", &buf);
    }
    Ok(hex(&h.finalize()))
}

/// The tag a build with this content hash is pushed under.
pub fn content_tag(hash: &str) -> String {
    format!("{TAG_PREFIX}{}", &hash[..TAG_HEX_LEN.min(hash.len())])
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
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &fs::Metadata) -> bool {
    false
}

/// Collects the regular files and symlinks below `dir` as `/`-separated paths relative to `root`.
fn walk(
    root: &Path,
    dir: &Path,
    ignore: &Ignore,
    skip: Option<&Path>,
    out: &mut Vec<String>,
) -> Result<(), ContextError> {
    let entries = fs::read_dir(dir).map_err(|source| ContextError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ContextError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let ft = entry.file_type().map_err(|source| ContextError::Io {
            path: path.clone(),
            source,
        })?;
        if ft.is_dir() && skip.is_some_and(|s| is_skipped(&path, s)) {
            continue;
        }
        if ft.is_dir() {
            // A directory is skipped whole only when no negation could bring a file back.
            if !ignore.is_ignored(&rel) || ignore.has_negations() {
                walk(root, &path, ignore, skip, out)?;
            }
        } else if !ignore.is_ignored(&rel) {
            out.push(rel);
        }
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

/// `.dockerignore` rules: glob patterns (`*`, `?`, `**`) matched against the path relative to the
/// context, a pattern also matching everything below a matched directory, `!` re-including, the
/// last matching rule winning, `#` comments.
#[derive(Debug, Default)]
pub struct Ignore {
    rules: Vec<(bool, String)>,
}

impl Ignore {
    pub fn load(context: &Path) -> Result<Self, ContextError> {
        let path = context.join(".dockerignore");
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ContextError::Io { path, source }),
        }
    }

    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (neg, pat) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let pat = pat
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .trim_end_matches('/');
                (neg, pat.to_string())
            })
            .collect();
        Ignore { rules }
    }

    fn has_negations(&self) -> bool {
        self.rules.iter().any(|(neg, _)| *neg)
    }

    pub fn is_ignored(&self, rel: &str) -> bool {
        let mut ignored = false;
        for (neg, pat) in &self.rules {
            // A pattern matches the path itself or any parent directory of it.
            let matches =
                glob(pat, rel) || rel.match_indices('/').any(|(i, _)| glob(pat, &rel[..i]));
            if matches {
                ignored = !neg;
            }
        }
        ignored
    }
}

/// Glob match where `*` and `?` do not cross `/`, and `**` matches any number of path segments.
fn glob(pat: &str, text: &str) -> bool {
    let p = pat.as_bytes();
    let t = text.as_bytes();
    glob_at(p, t)
}

fn glob_at(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
            (0..=t.len())
                .any(|i| (i == 0 || t[i - 1] == b'/' || rest.is_empty()) && glob_at(rest, &t[i..]))
        }
        Some(b'*') => (0..=t.len())
            .take_while(|&i| i == 0 || t[i - 1] != b'/')
            .any(|i| glob_at(&p[1..], &t[i..])),
        Some(b'?') => t.first().is_some_and(|c| *c != b'/') && glob_at(&p[1..], &t[1..]),
        Some(c) => t.first() == Some(c) && glob_at(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("target", "target"));
        assert!(glob("*.md", "README.md"));
        assert!(!glob("*.md", "docs/README.md"));
        assert!(glob("**/*.md", "docs/README.md"));
        assert!(glob("**/*.md", "README.md"));
        assert!(glob("src/**", "src/a/b.rs"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "a/c"));
    }

    #[test]
    fn ignore_rules_last_match_wins_and_cover_children() {
        let ig = Ignore::parse("# c\ntarget\n*.log\n!keep.log\n");
        assert!(ig.is_ignored("target/debug/x"));
        assert!(ig.is_ignored("a.log"));
        assert!(!ig.is_ignored("keep.log"));
        assert!(!ig.is_ignored("src/main.rs"));
    }

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
