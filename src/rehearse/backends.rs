//! Blue and green as the flags give them: a local process (a command, given a free port through
//! `{port}` in its arguments and the `PORT` variable) or an image, which the local engine runs as
//! a one-container task. The owner label on a rehearsal's containers and network, and the
//! removal of those a SIGKILLed rehearsal left.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::RehearseError;
pub use crate::local::http::parse_version;
pub use crate::local::task::PORT_PLACEHOLDER;

/// Which side a backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Blue,
    Green,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Blue => "blue",
            Role::Green => "green",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to run one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A program and its arguments; `{port}` in an argument becomes the chosen port, which is
    /// also in the `PORT` variable.
    Command { program: PathBuf, args: Vec<String> },
    /// An image, run with `docker run`, its `container_port` published on 127.0.0.1.
    Image { image: String, container_port: u16 },
}

impl Spec {
    /// `PROGRAM ARG...` split into words as a POSIX shell would (quotes and backslashes; no
    /// variables, globs or other expansion): `app --name 'blue one'` has three words.
    pub fn command(line: &str) -> Result<Spec, String> {
        let mut words = split_words(line)?.into_iter();
        let program = PathBuf::from(words.next().ok_or("the command is empty")?);
        Ok(Spec::Command {
            program,
            args: words.collect(),
        })
    }

    /// For messages: the command line as run on `port`, or the image.
    pub fn describe(&self, port: u16) -> String {
        match self {
            Spec::Command { program, args } => {
                let mut s = program.display().to_string();
                for a in args {
                    s.push(' ');
                    s.push_str(&a.replace(PORT_PLACEHOLDER, &port.to_string()));
                }
                s
            }
            Spec::Image {
                image,
                container_port,
            } => format!("image {image} (port {container_port} published on {port})"),
        }
    }
}

/// Shell word splitting without expansion: space, tab and newline separate words; '…' is literal;
/// in "…" a backslash escapes `"`, `\`, `$` and `` ` ``; elsewhere a backslash escapes the next
/// character; a backslash-newline joins lines, as in sh. What sh would expand or treat as an
/// operator (`$`, `` ` ``, `|`, `&`, `;`, `<`, `>`, `(`, `)`) is refused unquoted: it would reach
/// the program as a literal argument, which is not what the user meant.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    const SH: &str = "cutover runs the program itself, without a shell: quote it, or wrap the command in sh -c '…'";
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote (') is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a double quote (\") is not closed".into()),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!(
                                "`{c}` inside double quotes would be expanded by a shell; {SH}"
                            ))
                        }
                        Some(c) => word.push(c),
                        None => return Err("a double quote (\") is not closed".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("the command ends with a lone backslash".into()),
            },
            '$' | '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' => {
                return Err(format!("`{c}` means something to a shell; {SH}"));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The label on every container a rehearsal starts: its cutover's [`owner_of`].
pub const OWNER_LABEL: &str = "cutover.rehearse.owner";

/// A process's identity: where its pid means something (this boot of this machine, the pid
/// namespace — cutover may run in a container of a Docker engine others share — and the user),
/// and the pid with its start time (field 22 of `/proc/PID/stat`), so that a reused pid is not
/// taken for the process that had it: `<boot id>/<pid namespace>/uid=<uid>/<pid>:<start time>`.
/// `None` without `/proc` or when the process cannot be read.
pub(crate) fn owner_of(pid: u32) -> Option<String> {
    Some(format!("{}/{pid}:{}", pid_space()?, start_time(pid).ok()??))
}

/// The start time of `pid`: `Ok(None)` when no such process exists, `Err` when it cannot be read
/// (`hidepid`, say), which is not the same as gone.
fn start_time(pid: u32) -> std::io::Result<Option<String>> {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // After the command name in parentheses come fields 3, 4, ...: the start time is the 20th.
    let start = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .ok_or_else(|| std::io::Error::other("unexpected /proc/PID/stat"))?;
    Ok(Some(start.to_string()))
}

/// This boot of this machine, this process's pid namespace and user:
/// `<boot id>/<pid:[inode]>/uid=<uid>`.
fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let uid = rustix::process::getuid().as_raw();
    Some(format!("{}/{}/uid={uid}", boot.trim(), ns.display()))
}

/// Whether the owner a label names is gone: `Some(true)` only when its pid no longer exists or
/// now belongs to a process started at another time. Anything unclear is `None` (keep).
fn owner_gone(owner: &str, here: &str) -> Option<bool> {
    let (space, pid_start) = owner.rsplit_once('/')?;
    if space != here {
        return None;
    }
    let (pid, start) = pid_start.split_once(':')?;
    let pid: u32 = pid.parse().ok()?;
    match start_time(pid).ok()? {
        None => Some(true),
        Some(now) => Some(now != start),
    }
}

/// Removes the containers of earlier rehearsals whose cutover is gone: a cutover that was
/// SIGKILLed ran no code of its own, and its detached containers outlive it. Containers of a
/// rehearsal that still runs (same pid, same start time) are left alone. Returns the names
/// removed; best effort (a failure here only leaves them).
pub async fn remove_orphans(docker: &Path) -> Vec<String> {
    let filter = format!("label={OWNER_LABEL}");
    let format = format!("{{{{.ID}}}} {{{{.Names}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}");
    let Some(here) = pid_space() else {
        return Vec::new();
    };
    let Ok(list) = docker_cmd(
        docker,
        &["ps", "--all", "--filter", &filter, "--format", &format],
    )
    .await
    else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    let networks = docker_cmd(
        docker,
        &["network", "ls", "--filter", &filter, "--format", &format],
    )
    .await
    .unwrap_or_default();
    for line in list.lines().chain(networks.lines()) {
        let mut fields = line.split_whitespace();
        let (Some(id), Some(name), Some(owner)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // Only owners this process can look up (same boot, pid namespace and user) and that are
        // certainly gone.
        if owner_gone(owner, &here) != Some(true) {
            continue;
        }
        let rm = if networks.contains(line) {
            docker_cmd(docker, &["network", "rm", id]).await
        } else {
            docker_cmd(docker, &["rm", "--force", "--volumes", id]).await
        };
        if rm.is_ok() {
            removed.push(name.to_string());
        }
    }
    removed
}

/// Runs `docker ARGS` and returns its stdout; a failure carries its stderr.
async fn docker_cmd(docker: &Path, args: &[&str]) -> Result<String, RehearseError> {
    let out = Command::new(docker)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| RehearseError::Docker {
            command: format!("docker {}", args.join(" ")),
            stderr: e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(RehearseError::Docker {
            command: format!("docker {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_on_whitespace() {
        assert_eq!(
            Spec::command("  /bin/app --port {port}  --bind 127.0.0.1 "),
            Ok(Spec::Command {
                program: PathBuf::from("/bin/app"),
                args: vec![
                    "--port".into(),
                    "{port}".into(),
                    "--bind".into(),
                    "127.0.0.1".into()
                ],
            })
        );
        assert!(Spec::command("   ").is_err());
    }

    #[test]
    fn owner_is_pid_and_start_time() {
        let me = owner_of(std::process::id()).expect("/proc on Linux");
        let (space, pid_start) = me.rsplit_once('/').unwrap();
        assert_eq!(Some(space), pid_space().as_deref());
        assert!(
            space.contains("/pid:[") && space.contains("/uid="),
            "{space}"
        );
        // A living owner is not gone; a dead pid or another start time is; elsewhere, unclear.
        assert_eq!(owner_gone(&me, space), Some(false));
        let restarted = format!("{}1", me);
        assert_eq!(owner_gone(&restarted, space), Some(true));
        let dead = format!("{space}/4194304:1"); // above pid_max's ceiling: never a process
        assert_eq!(owner_gone(&dead, space), Some(true));
        assert_eq!(owner_gone(&me, "another-boot/pid:[1]/uid=0"), None);
        assert_eq!(owner_gone("garbage", space), None);
        let (pid, start) = pid_start.split_once(':').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert!(start.parse::<u64>().unwrap() > 0);
        // Stable for a living process; no process has pid 0 in /proc.
        assert_eq!(owner_of(std::process::id()).as_deref(), Some(me.as_str()));
        assert_eq!(owner_of(0), None);
    }

    #[test]
    fn splits_commands_as_a_shell_does() {
        let words = |l: &str| split_words(l).unwrap();
        assert_eq!(
            words(r#"app --name 'blue one' --msg "say \"hi\" \$x" a\ b ''"#),
            vec![
                "app",
                "--name",
                "blue one",
                "--msg",
                r#"say "hi" $x"#,
                "a b",
                ""
            ]
        );
        assert_eq!(
            words(r#""/opt/my app/bin" -x"#),
            vec!["/opt/my app/bin", "-x"]
        );
        assert_eq!(words(r#"a"b"'c'd"#), vec!["abcd"]);
        assert_eq!(words(r#""a\nb""#), vec![r"a\nb"]);
        // Backslash-newline joins lines; only space, tab and newline separate words.
        assert_eq!(words("app \\\n  --port 1"), vec!["app", "--port", "1"]);
        assert_eq!(words("\"a\\\nb\""), vec!["ab"]);
        assert_eq!(words("a\u{a0}b\tc"), vec!["a\u{a0}b", "c"]);
        // Quoted, shell characters are plain text.
        assert_eq!(words("app '$PORT|x' \\>"), vec!["app", "$PORT|x", ">"]);
        for bad in [
            "app 'open",
            "app \"open",
            "app \\",
            "app > log",
            "app | tee",
            "app --port $PORT",
            "app \"$HOME\"",
            "a; b",
        ] {
            assert!(split_words(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_versions() {
        assert_eq!(
            parse_version(r#"{"version":"0.0.2"}"#),
            Some("0.0.2".into())
        );
        assert_eq!(parse_version(r#"{"version":""}"#), None);
        assert_eq!(parse_version(r#"{"v":"1"}"#), None);
        assert_eq!(parse_version("ok"), None);
    }
}
