//! Child programs in general: finding one on `PATH` and the tail of its log for an error
//! message. Shared by the rehearsal and the local engine.

use std::path::{Path, PathBuf};

/// The last `lines` lines of a log file, for an error message (empty when unreadable).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    all[from..]
        .iter()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Searches `PATH` for `name`, or checks `name` itself when it holds a `/`.
pub fn find_program(name: &Path) -> Option<PathBuf> {
    let is_exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.components().count() > 1 || name.is_absolute() {
        return is_exe(name).then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_exe(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_by_path() {
        assert!(find_program(Path::new("sh")).is_some());
        assert!(find_program(Path::new("/bin/sh")).is_some());
        assert!(find_program(Path::new("no-such-program-cutover")).is_none());
        assert!(find_program(Path::new("./no/such/program")).is_none());
    }

    #[test]
    fn tails_logs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("x.log");
        std::fs::write(&p, "a\nb\nc\n").expect("write");
        assert_eq!(log_tail(&p, 2), "    | b\n    | c");
        assert_eq!(log_tail(&dir.path().join("none"), 2), "");
    }
}
