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
];

struct Case {
    name: String,
    files: Vec<(&'static str, Make)>,
    ignore: String,
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
        },
        Case {
            name: "excluded directory, re-included file by literal prefix only".into(),
            files: all(),
            ignore: "build\n!build/keep3.txt\n!**/keep4.txt\n".into(),
        },
        Case {
            name: "escapes, comments, spaces, prefixes".into(),
            files: all(),
            ignore: "# comment\n \\[x\\].txt \n./a.txt\n/docs/x\nstar\\*\n\n".into(),
        },
        Case {
            name: "everything out, some back".into(),
            files: all(),
            ignore: "**\n!src\n!**/*.md\n!run.sh\n".into(),
        },
        Case {
            name: "no .dockerignore rules at all".into(),
            files: all(),
            ignore: String::new(),
        },
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for n in 0..14 {
        let files: Vec<_> = POOL
            .iter()
            .copied()
            .filter(|_| rng.below(10) < 7)
            .collect();
        let count = 1 + rng.below(5);
        let ignore: String = (0..count)
            .map(|_| format!("{}\n", PATTERNS[rng.below(PATTERNS.len())]))
            .collect();
        cases.push(Case {
            name: format!("generated #{n}"),
            files,
            ignore,
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
                let mode = if matches!(make, Make::Exec) { 0o755 } else { 0o644 };
                fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            }
            Make::Dir => fs::create_dir_all(&p).unwrap(),
            Make::Link(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
        }
    }
    fs::write(dir.join(".dockerignore"), &case.ignore).unwrap();
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

/// What the image holds under `/ctx`: (path, kind) with link targets, directories included.
fn image_entries(ctx: &Path, scratch: &Path) -> BTreeSet<(String, String)> {
    let df = scratch.join("Dockerfile");
    fs::write(&df, "FROM scratch\nCOPY . /ctx/\n").unwrap();
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
    docker(&[
        "cp",
        &format!("{container}:/ctx"),
        out.to_str().unwrap(),
    ]);
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
        let ft = fs::symlink_metadata(e.path()).unwrap().file_type();
        if ft.is_symlink() {
            let t = fs::read_link(e.path()).unwrap();
            found.insert((rel, format!("link {}", t.display())));
        } else if ft.is_dir() {
            found.insert((rel, "dir".into()));
            list(root, &e.path(), found);
        } else {
            found.insert((rel, "file".into()));
        }
    }
}

/// cutover's entries, plus the parent directories Docker creates for files it sends inside an
/// excluded directory (the tar has no entry for those directories, only for their files).
fn cutover_entries(ctx: &Path) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for e in context_entries(ctx, None).unwrap() {
        let mut parent = Path::new(&e.path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            found.insert((p.to_string_lossy().into_owned(), "dir".into()));
            parent = p.parent();
        }
        let kind = match e.kind {
            EntryKind::File => "file".to_string(),
            EntryKind::Dir => "dir".to_string(),
            EntryKind::Symlink(t) => format!("link {t}"),
        };
        found.insert((e.path, kind));
    }
    found
}

fn hash(ctx: &Path, df: &Path) -> String {
    content_hash(&BuildInputs {
        context: ctx,
        dockerfile: df,
        build_args: &[],
        target: None,
        platform: None,
        skip: None,
    })
    .unwrap()
}

#[test]
fn the_hash_covers_exactly_what_docker_sends() {
    for case in cases() {
        let ctx_dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let ctx = ctx_dir.path();
        make_context(ctx, &case);
        let sent = image_entries(ctx, scratch.path());
        let ours = cutover_entries(ctx);
        let about = format!(
            "case `{}`\n.dockerignore:\n{}\ncontext: {:?}",
            case.name,
            case.ignore,
            case.files.iter().map(|f| f.0).collect::<Vec<_>>()
        );
        assert_eq!(ours, sent, "cutover's entries (left) vs the image's (right)\n{about}");

        let df = scratch.path().join("Dockerfile");
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
            let sent_it = sent.contains(&(path.to_string(), "file".to_string()));
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
                    assert_eq!(hash(ctx, &df) != base, sent_it, "chmod +x `{path}`\n{about}");
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
                }
                Make::Link(target) => {
                    fs::remove_file(&p).unwrap();
                    std::os::unix::fs::symlink("elsewhere", &p).unwrap();
                    assert_eq!(hash(ctx, &df) != base, sent_it, "retargeting `{path}`\n{about}");
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
    let err = context_entries(ctx.path(), None).unwrap_err();
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
        .args(["build", "-q", "-f", df.to_str().unwrap(), ctx.path().to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success(), "docker accepted `src/[a-`");
}
