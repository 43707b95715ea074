//! Docker is the oracle for what the content hash covers: for fixed and generated build contexts
//! and `.dockerignore` pattern sets (classes, escapes, negations, nested directories, `**`,
//! comments, spaces, `./` and `/` prefixes), a `FROM scratch` + `COPY . /ctx/` image is built on
//! the engine with the legacy builder (as `cutover build` does), its files are copied back out,
//! and cutover's list of the context's entries must equal them. Then every file of the context is
//! changed in turn: the `src-<hash>` tag must change exactly when the file is one Docker sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use cutover::image::context::{content_hash, context_entries, BuildInputs, EntryKind};

#[derive(Clone, Copy)]
enum Make {
    File,
    Exec,
    Dir,
    Link(&'static str),
}

/// Everything a generated context may hold.
const POOL: &[(&str, Make)] = &[
    ("a.txt", Make::File),
    ("b.log", Make::File),
    ("keep1.txt", Make::File),
    ("keep9.txt", Make::File),
    ("keepx.txt", Make::File),
    (".hidden", Make::File),
    ("a b.txt", Make::File),
    ("[x].txt", Make::File),
    ("star*", Make::File),
    ("run.sh", Make::Exec),
    ("src/main.rs", Make::File),
    ("src/lib.rs", Make::File),
    ("src/keep2.txt", Make::File),
    ("src/nested/deep.txt", Make::File),
    ("docs/README.md", Make::File),
    ("docs/x/y.md", Make::File),
    ("docs/x/z.txt", Make::File),
    ("build/out.bin", Make::File),
    ("build/keep3.txt", Make::File),
    ("build/sub/keep4.txt", Make::File),
    ("dir/a/deep/z.txt", Make::File),
    ("dir/b/z.txt", Make::File),
    ("link", Make::Link("a.txt")),
    ("src/dangling", Make::Link("../nowhere")),
    ("empty", Make::Dir),
    ("build/emptydir", Make::Dir),
];

const PATTERNS: &[&str] = &[
    "*.txt",
    "!keep[0-9].txt",
    "**/*.md",
    "build",
    "!build/keep3.txt",
    "src/**",
    "!src/keep?.txt",
    "docs/",
    "/docs/x",
    "./a.txt",
    "\\[x\\].txt",
    "star\\*",
    "# a comment",
    "  *.log  ",
    "!**/keep*.txt",
    "dir/*/deep",
    "**/z.txt",
    "empty",
    "[a-c].txt",
    "[^a].log",
    ".hidden",
    "run.sh",
    "link",
    "!docs/x/z.txt",
    "build/**",
    "!build/sub",
    "src/nested",
    "**",
    "!src",
    "*",
    "!*.md",
    "docs/x/../x/y.md",
    "dir",
    "!dir/b",
    "src/*.rs",
    "!link",
    "**/deep*",
    "!build/sub/keep4.txt",
    "[[]x].txt",
    "*\n!app.py /",
    "build /",
    "/ !src",
    "src/[[:alpha:]]*.rs",
    "**/deep\\.txt",
    "docker",
    "Dockerfile",
];

struct Case {
    name: String,
    files: Vec<(&'static str, Make)>,
    ignore: String,
    /// Where the Dockerfile lies inside the context (`cutover build`'s usual layout); `None`
    /// puts it outside.
    dockerfile: Option<&'static str>,
}

/// xorshift64: the same generated cases on every run; the case's text is printed on failure.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn cases() -> Vec<Case> {
    let all = || POOL.to_vec();
    let mut cases = vec![
        Case {
            name: "the reported case: a class inside a negation".into(),
            files: all(),
            ignore: "*.txt\n!keep[0-9].txt\n".into(),
            dockerfile: None,
        },
        Case {
            name: "excluded directory, re-included file by literal prefix only".into(),
            files: all(),
            ignore: "build\n!build/keep3.txt\n!**/keep4.txt\n".into(),
            dockerfile: None,
        },
        Case {
            name: "escapes, comments, spaces, prefixes".into(),
            files: all(),
            ignore: "# comment\n \\[x\\].txt \n./a.txt\n/docs/x\nstar\\*\n\n".into(),
            dockerfile: None,
        },
        Case {
            name: "everything out, some back".into(),
            files: all(),
            ignore: "**\n!src\n!**/*.md\n!run.sh\n".into(),
            dockerfile: None,
        },
        Case {
            name: "no .dockerignore rules at all".into(),
            files: all(),
            ignore: String::new(),
            dockerfile: None,
        },
        Case {
            name: "an ignored Dockerfile in an ignored folder: the folder stays, empty".into(),
            files: all(),
            ignore: "docker\n*.log\n".into(),
            dockerfile: Some("docker/Dockerfile"),
        },
        Case {
            name: "an ignored Dockerfile at the top".into(),
            files: all(),
            ignore: "Dockerfile\n.dockerignore\n".into(),
            dockerfile: Some("Dockerfile"),
        },
        Case {
            name: "the second trim: `!app.py /` re-includes app.py".into(),
            files: all(),
            ignore: "*\n!run.sh /\n!src /\n".into(),
            dockerfile: Some("Dockerfile"),
        },
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for n in 0..14 {
        let files: Vec<_> = POOL.iter().copied().filter(|_| rng.below(10) < 7).collect();
        let count = 1 + rng.below(5);
        let ignore: String = (0..count)
            .map(|_| format!("{}\n", PATTERNS[rng.below(PATTERNS.len())]))
            .collect();
        let dockerfile = [None, Some("Dockerfile"), Some("docker/Dockerfile")][rng.below(3)];
        cases.push(Case {
            name: format!("generated #{n}"),
            files,
            ignore,
            dockerfile,
        });
    }
    cases
}

fn make_context(dir: &Path, case: &Case) {
    for (path, make) in &case.files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        match make {
            Make::File | Make::Exec => {
                fs::write(&p, format!("{path}\n")).unwrap();
                let mode = if matches!(make, Make::Exec) {
                    0o755
                } else {
                    0o644
                };
                fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            }
            Make::Dir => fs::create_dir_all(&p).unwrap(),
            Make::Link(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
        }
    }
    fs::write(dir.join(".dockerignore"), &case.ignore).unwrap();
    if let Some(df) = case.dockerfile {
        let p = dir.join(df);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, DOCKERFILE).unwrap();
    }
    // Folders get a mode no implied folder has (0755), so a missing folder entry shows.
    chmod_dirs(dir);
}

fn chmod_dirs(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            chmod_dirs(&p);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o750)).unwrap();
        }
    }
}

const DOCKERFILE: &str = "FROM scratch\nCOPY . /ctx/\n";

fn dockerfile_path(ctx: &Path, scratch: &Path, case: &Case) -> std::path::PathBuf {
    match case.dockerfile {
        Some(df) => ctx.join(df),
        None => {
            let df = scratch.join("Dockerfile");
            fs::write(&df, DOCKERFILE).unwrap();
            df
        }
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("running docker (the engine is needed for this test)");
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What the image holds under `/ctx`: (path, kind and mode, or link target), folders included.
fn image_entries(ctx: &Path, scratch: &Path, df: &Path) -> BTreeSet<(String, String)> {
    let image = docker(&[
        "build",
        "-q",
        "--force-rm",
        "-f",
        df.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    let container = docker(&["create", &image, "none"]);
    let out = scratch.join("out");
    docker(&["cp", &format!("{container}:/ctx"), out.to_str().unwrap()]);
    docker(&["rm", &container]);
    docker(&["rmi", "-f", &image]);
    let mut found = BTreeSet::new();
    list(&out, &out, &mut found);
    found
}

fn list(root: &Path, dir: &Path, found: &mut BTreeSet<(String, String)>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let t = fs::read_link(e.path()).unwrap();
            found.insert((rel, format!("link {}", t.display())));
        } else if meta.is_dir() {
            found.insert((rel, format!("dir {mode:o}")));
            list(root, &e.path(), found);
        } else {
            found.insert((rel, format!("file {mode:o}")));
        }
    }
}

/// cutover's entries, plus the folders the daemon creates (mode 0755) for files it receives
/// inside an excluded folder (the tar has no entry for such a folder, only for its files).
fn cutover_entries(ctx: &Path, df: &Path) -> BTreeSet<(String, String)> {
    let entries = context_entries(&inputs(ctx, df)).unwrap();
    let explicit: BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let mut found = BTreeSet::new();
    for e in &entries {
        let mut parent = Path::new(&e.path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            let p_str = p.to_string_lossy().into_owned();
            if !explicit.contains(p_str.as_str()) {
                found.insert((p_str, "dir 755".to_string()));
            }
            parent = p.parent();
        }
        let kind = match &e.kind {
            EntryKind::File => format!("file {:o}", e.mode),
            EntryKind::Dir => format!("dir {:o}", e.mode),
            EntryKind::Symlink(t) => format!("link {t}"),
        };
        found.insert((e.path.clone(), kind));
    }
    found
}

fn inputs<'a>(ctx: &'a Path, df: &'a Path) -> BuildInputs<'a> {
    BuildInputs {
        context: ctx,
        dockerfile: df,
        build_args: &[],
        target: None,
        platform: None,
        skip: None,
    }
}

fn hash(ctx: &Path, df: &Path) -> String {
    content_hash(&inputs(ctx, df)).unwrap()
}

#[test]
fn the_hash_covers_exactly_what_docker_sends() {
    for case in cases() {
        let ctx_dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let ctx = ctx_dir.path();
        make_context(ctx, &case);
        let df = dockerfile_path(ctx, scratch.path(), &case);
        let sent = image_entries(ctx, scratch.path(), &df);
        let ours = cutover_entries(ctx, &df);
        let about = format!(
            "case `{}`\n.dockerignore:\n{}\nDockerfile: {:?}\ncontext: {:?}",
            case.name,
            case.ignore,
            case.dockerfile,
            case.files.iter().map(|f| f.0).collect::<Vec<_>>()
        );
        assert_eq!(
            ours, sent,
            "cutover's entries (left) vs the image's (right)\n{about}"
        );

        let base = hash(ctx, &df);
        let mut changing = vec![".dockerignore"];
        changing.extend(
            case.files
                .iter()
                .filter(|(_, m)| matches!(m, Make::File | Make::Exec))
                .map(|(p, _)| *p),
        );
        for path in changing {
            let p = ctx.join(path);
            let before = fs::read(&p).unwrap();
            if path == ".dockerignore" {
                // A comment changes the file's bytes, not the rules.
                fs::write(&p, [before.as_slice(), b"\n# edited\n"].concat()).unwrap();
            } else {
                fs::write(&p, [before.as_slice(), b"edited\n"].concat()).unwrap();
            }
            let sent_it = sent
                .iter()
                .any(|(p, kind)| p == path && kind.starts_with("file"));
            assert_eq!(
                hash(ctx, &df) != base,
                sent_it,
                "editing `{path}` (sent by Docker: {sent_it}) must change the tag exactly when Docker sends it\n{about}"
            );
            fs::write(&p, &before).unwrap();
            assert_eq!(hash(ctx, &df), base, "restoring `{path}` restores the tag");
        }
        // The executable bit and a symlink's target change the image, so they change the tag.
        for (path, make) in &case.files {
            let p = ctx.join(path);
            let sent_it = sent.iter().any(|(s, _)| s == path);
            match make {
                Make::File => {
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
                    assert_eq!(
                        hash(ctx, &df) != base,
                        sent_it,
                        "chmod +x `{path}`\n{about}"
                    );
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
                }
                Make::Link(target) => {
                    fs::remove_file(&p).unwrap();
                    std::os::unix::fs::symlink("elsewhere", &p).unwrap();
                    assert_eq!(
                        hash(ctx, &df) != base,
                        sent_it,
                        "retargeting `{path}`\n{about}"
                    );
                    fs::remove_file(&p).unwrap();
                    std::os::unix::fs::symlink(target, &p).unwrap();
                }
                Make::Exec | Make::Dir => {}
            }
        }
        assert_eq!(hash(ctx, &df), base);
    }
}

#[test]
fn a_pattern_docker_refuses_is_refused_with_its_line() {
    let ctx = tempfile::tempdir().unwrap();
    fs::write(ctx.path().join("a.txt"), "a").unwrap();
    fs::write(ctx.path().join(".dockerignore"), "*.log\nsrc/[a-\n").unwrap();
    let df = ctx.path().join("Dockerfile");
    let err = context_entries(&inputs(ctx.path(), &df)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}`: .dockerignore line 2: `src/[a-` is not a valid pattern (Go filepath.Match syntax)\n  hint: Docker refuses this pattern too; fix or remove that line",
            ctx.path().join(".dockerignore").display()
        )
    );
    // Docker refuses it as well.
    let scratch = tempfile::tempdir().unwrap();
    let df = scratch.path().join("Dockerfile");
    fs::write(&df, "FROM scratch\nCOPY . /ctx/\n").unwrap();
    let out = Command::new("docker")
        .args([
            "build",
            "-q",
            "-f",
            df.to_str().unwrap(),
            ctx.path().to_str().unwrap(),
        ])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success(), "docker accepted `src/[a-`");
}
