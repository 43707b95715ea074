//! `.dockerignore` with Docker's own semantics, so that the content hash covers exactly what
//! `docker build` sends. Three parts of moby, followed rule by rule:
//!
//! - reading the file (`patternmatcher/ignorefile.ReadAll`): a UTF-8 BOM stripped, lines starting
//!   with `#` skipped before any trimming, surrounding whitespace trimmed, `!` then whitespace,
//!   the pattern cleaned as Go's `filepath.Clean` does and a leading `/` dropped;
//! - matching (`patternmatcher`): a pattern is Go `filepath.Match` syntax (checked the same way)
//!   turned into a regular expression: `*` and `?` stop at `/`, `**` crosses directories, `[...]`
//!   classes and `\` escapes pass through; a pattern without any of these is compared literally
//!   (`foo/**` as a prefix, `**/foo` as a suffix); patterns apply in order, `!` re-includes, and a
//!   path inherits its parent directory's matches (`MatchesUsingParentResults`);
//! - walking (`go-archive` `TarWithOptions`): an excluded directory is not descended at all unless
//!   the text of some `!` pattern starts with the directory's path and a `/`, so `!**/keep.txt`
//!   does not bring back `build/keep.txt` when `build` is excluded, exactly as Docker leaves it out.
//!
//! Pure: parsing and matching only; the walk over the disk is in [`super::context`].

use std::fmt;

/// A pattern Docker would refuse (the build fails there too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: `{pattern}` {reason}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub reason: String,
}

/// The patterns of one `.dockerignore`, in order.
#[derive(Debug, Default)]
pub struct Patterns {
    rules: Vec<Rule>,
    exclusions: bool,
}

struct Rule {
    /// A `!` pattern: re-includes what it matches.
    exclusion: bool,
    /// The cleaned pattern without its `!` (moby's `Pattern.String()`).
    cleaned: String,
    how: How,
}

enum How {
    Exact,
    /// `foo/**`-like: the text before the trailing `**`.
    Prefix(String),
    /// `**/foo`-like: the text after the leading `**`.
    Suffix(String),
    Regex(regex::Regex),
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}",
            if self.exclusion { "!" } else { "" },
            self.cleaned
        )
    }
}

/// What the patterns say of one path, and what its children inherit.
#[derive(Debug, Clone, Default)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

impl Patterns {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let mut rules = Vec::new();
        let mut exclusions = false;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let raw = if n == 0 {
                raw.strip_prefix('\u{feff}').unwrap_or(raw)
            } else {
                raw
            };
            if raw.starts_with('#') {
                continue;
            }
            // ignorefile.ReadAll: trim, `!` then trim, Clean, a leading `/` dropped.
            let mut pattern = raw.trim();
            if pattern.is_empty() {
                continue;
            }
            let invert = pattern.starts_with('!');
            if invert {
                pattern = pattern[1..].trim();
            }
            let mut read = if pattern.is_empty() {
                String::new()
            } else {
                go_clean(pattern)
            };
            if read.len() > 1 && read.starts_with('/') {
                read.remove(0);
            }
            if invert {
                read.insert(0, '!');
            }
            let err = |reason: &str| PatternError {
                line,
                pattern: raw.trim().to_string(),
                reason: reason.to_string(),
            };
            // patternmatcher.New: trim and Clean again, then `!` (so `!/` is `!` alone).
            let p = read.trim();
            if p.is_empty() {
                continue;
            }
            let p = go_clean(p);
            let (exclusion, cleaned) = match p.strip_prefix('!') {
                Some("") => return Err(err("is an illegal exclusion pattern (`!` alone)")),
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            check_match_syntax(&cleaned)
                .map_err(|_| err("is not a valid pattern (Go filepath.Match syntax)"))?;
            let how = compile(&cleaned).map_err(|_| {
                err("uses a `\\` escape that cutover cannot match as Docker does (such as \\Q or an octal escape)")
            })?;
            exclusions |= exclusion;
            rules.push(Rule {
                exclusion,
                cleaned,
                how,
            });
        }
        Ok(Patterns { rules, exclusions })
    }

    /// Whether any pattern starts with `!`.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` (relative, `/`-separated, cleaned) is excluded, given what its parent
    /// directory's matching returned (`None` for an entry at the top of the context, whose
    /// parents are then matched one by one as Docker does without parent results).
    pub fn matches(&self, path: &str, parent: Option<&MatchInfo>) -> (bool, MatchInfo) {
        let parent_matched = parent.map(|p| p.parent_matched.as_slice()).unwrap_or(&[]);
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.rules.len()],
        };
        for (i, rule) in self.rules.iter().enumerate() {
            let mut hit = parent_matched.get(i).copied().unwrap_or(false);
            if !hit {
                // An inclusion cannot add to a match, nor an exclusion remove a non-match.
                if rule.exclusion != matched {
                    continue;
                }
                hit = rule.matches(path);
                if !hit && parent_matched.is_empty() {
                    if let Some((dir, _)) = path.rsplit_once('/') {
                        hit = dir
                            .match_indices('/')
                            .map(|(j, _)| &dir[..j])
                            .chain(std::iter::once(dir))
                            .any(|prefix| rule.matches(prefix));
                    }
                }
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !rule.exclusion;
            }
        }
        (matched, info)
    }

    /// Whether an excluded directory must still be walked: some `!` pattern's text starts with
    /// the directory's path and a `/` (go-archive's test, literal text, not a match).
    pub fn must_descend(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        self.rules
            .iter()
            .filter(|r| r.exclusion)
            .any(|r| format!("{}/", r.cleaned).starts_with(&dir_slash))
    }
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        match &self.how {
            How::Exact => path == self.cleaned,
            How::Prefix(p) => path.starts_with(p.as_str()),
            How::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s)
            }
            How::Regex(re) => re.is_match(path),
        }
    }
}

/// moby's `Pattern.compile`, character by character: the same regular expression, or the same
/// literal, prefix and suffix shortcuts.
fn compile(pattern: &str) -> Result<How, regex::Error> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut detected = Detected::Exact;
    let mut class = ClassTracker::default();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if ch == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        class.push_str(&mut re, ".*");
                        detected = Detected::Regex;
                    }
                } else {
                    class.push_str(&mut re, "(.*/)?");
                    detected = Detected::Regex;
                }
                if first {
                    detected = Detected::Suffix;
                }
            } else {
                class.push_str(&mut re, "[^/]*");
                detected = Detected::Regex;
            }
        } else if ch == '?' {
            class.push_str(&mut re, "[^/]");
            detected = Detected::Regex;
        } else if ".+()|{}$".contains(ch) {
            class.push_escaped(&mut re, ch);
        } else if ch == '\\' {
            if let Some(&next) = chars.get(i) {
                i += 1;
                match go_escape(next) {
                    Some(class_text) if class.inside.is_none() => re.push_str(class_text),
                    _ => class.push_escaped(&mut re, next),
                }
                detected = Detected::Regex;
            } else {
                class.push_escaped(&mut re, '\\');
            }
        } else if ch == '[' || ch == ']' {
            // `[:alpha:]` inside a class is a POSIX class in both syntaxes: copied as it is.
            let posix = (ch == '[' && class.inside.is_some() && chars.get(i) == Some(&':'))
                .then(|| {
                    let rest: String = chars[i..].iter().collect();
                    rest.find(":]").map(|end| rest[..end + 2].to_string())
                })
                .flatten()
                .filter(|p| p[1..p.len() - 2].chars().all(|c| c.is_ascii_lowercase()));
            match posix {
                Some(p) => {
                    re.push('[');
                    re.push_str(&p);
                    i += p.chars().count();
                    class.count_one();
                }
                None => class.push_char(&mut re, ch),
            }
            detected = Detected::Regex;
        } else {
            class.push_char(&mut re, ch);
        }
        first = false;
    }
    Ok(match detected {
        Detected::Exact => How::Exact,
        Detected::Prefix => How::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => How::Suffix(pattern[2..].to_string()),
        Detected::Regex => {
            re.push('$');
            How::Regex(regex::Regex::new(&re)?)
        }
    })
}

/// What Go's RE2 means by `\\c` where the `regex` crate reads it otherwise: Go's `\\d`, `\\w`,
/// `\\s` and `\\b` are ASCII-only (the crate's are Unicode), and Go has no `\\<`/`\\>` word
/// boundaries (the crate does): they are the characters.
fn go_escape(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        's' => "[\\t\\n\\f\\r ]",
        'S' => "[^\\t\\n\\f\\r ]",
        'b' => "(?-u:\\b)",
        'B' => "(?-u:\\B)",
        '<' => "<",
        '>' => ">",
        _ => return None,
    })
}

/// Writes moby's regular expression (Go RE2 syntax) so that the `regex` crate reads it the same:
/// inside a `[...]` class Go takes `[`, `&`, `~` and `-` runs literally where the crate would
/// read nested classes or set operations, so those are escaped there.
#[derive(Default)]
struct ClassTracker {
    /// Inside a class: how many characters of it have been written (Go's `]` is literal first).
    inside: Option<usize>,
}

impl ClassTracker {
    fn push_char(&mut self, re: &mut String, ch: char) {
        match self.inside {
            None => {
                if ch == '[' {
                    self.inside = Some(0);
                } else if ch == ']' {
                    re.push('\\');
                }
                re.push(ch);
            }
            Some(n) => {
                let negation = n == 0 && ch == '^' && re.ends_with('[');
                if ch == ']' && n > 0 {
                    self.inside = None;
                    re.push(ch);
                    return;
                }
                if matches!(ch, '[' | '&' | '~' | ']') {
                    re.push('\\');
                }
                re.push(ch);
                self.inside = Some(if negation { 0 } else { n + 1 });
            }
        }
    }

    /// One more character of the current class, written by the caller.
    fn count_one(&mut self) {
        if let Some(n) = self.inside.as_mut() {
            *n += 1;
        }
    }

    /// An escaped character (moby writes `\\` and the character): one character of a class.
    fn push_escaped(&mut self, re: &mut String, ch: char) {
        re.push('\\');
        re.push(ch);
        if let Some(n) = self.inside.as_mut() {
            *n += 1;
        }
    }

    fn push_str(&mut self, re: &mut String, s: &str) {
        if self.inside.is_none() {
            re.push_str(s);
        } else {
            for ch in s.chars() {
                self.push_char(re, ch);
            }
        }
    }
}

/// Go's `filepath.Match` syntax check (`Match(pattern, ".")` in patternmatcher.New): a `\` must
/// escape something, and each `[...]` class must be closed and hold well-formed ranges.
fn check_match_syntax(pattern: &str) -> Result<(), ()> {
    let mut rest = pattern.chars().peekable();
    while let Some(ch) = rest.next() {
        match ch {
            '\\' => {
                rest.next().ok_or(())?;
            }
            '[' => {
                if rest.peek() == Some(&'^') {
                    rest.next();
                }
                let mut ranges = 0;
                loop {
                    if rest.peek() == Some(&']') && ranges > 0 {
                        rest.next();
                        break;
                    }
                    class_char(&mut rest)?;
                    if rest.peek() == Some(&'-') {
                        rest.next();
                        class_char(&mut rest)?;
                    }
                    ranges += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Go's `getEsc`: one (possibly escaped) character of a class, which must not be the last one.
fn class_char(rest: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<(), ()> {
    match rest.next() {
        None | Some('-' | ']') => return Err(()),
        Some('\\') => {
            rest.next().ok_or(())?;
        }
        Some(_) => {}
    }
    if rest.peek().is_none() {
        return Err(());
    }
    Ok(())
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|p| *p != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        let p = Patterns::parse(patterns).unwrap();
        // Walk from the top as the archiver does, carrying the parents' results.
        let mut info: Option<MatchInfo> = None;
        let mut result = false;
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..=parts.len() {
            let prefix = parts[..i].join("/");
            let (m, next) = p.matches(&prefix, info.as_ref());
            result = m;
            info = Some(next);
        }
        result
    }

    #[test]
    fn clean_is_go_clean() {
        for (i, o) in [
            ("", "."),
            (".", "."),
            ("./a", "a"),
            ("a/", "a"),
            ("a//b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/..", "/"),
            ("/", "/"),
            ("!a/../b", "b"),
            ("a/b/../..", "."),
        ] {
            assert_eq!(go_clean(i), o, "{i}");
        }
    }

    #[test]
    fn classes_escapes_and_negation_in_order() {
        let pats = "*.txt\n!keep[0-9].txt\n";
        assert!(excluded(pats, "a.txt"));
        assert!(!excluded(pats, "keep1.txt"));
        assert!(excluded(pats, "keepx.txt"));
        assert!(!excluded(pats, "a.md"));
        assert!(excluded("\\[x\\].txt", "[x].txt"));
        assert!(!excluded("\\[x\\].txt", "x.txt"));
        assert!(excluded("[x].txt", "x.txt"));
        assert!(excluded("star\\*", "star*"));
        assert!(!excluded("star\\*", "starx"));
        assert!(excluded("[^a].log", "b.log"));
        assert!(!excluded("[^a].log", "a.log"));
        assert!(excluded("[a-c]?", "bz"));
        assert!(excluded("a.b", "a.b"));
        assert!(!excluded("a.b", "axb"));
    }

    #[test]
    fn go_regexp_escapes_and_posix_classes() {
        assert!(excluded("log\\d", "log7"));
        assert!(!excluded("log\\d", "log\u{663}"), "Go's \\d is ASCII only");
        assert!(excluded("a\\<b", "a<b"), "Go has no \\< word boundary");
        assert!(excluded("[[:alpha:]]", "a"));
        assert!(!excluded("[[:alpha:]]", "a]"));
        assert!(excluded("x[[:digit:]_]", "x_"));
    }

    #[test]
    fn the_second_trim_of_patternmatcher_new() {
        // ReadAll cleans `!app.py /` to `!app.py ` and New trims it to `!app.py`.
        assert!(!excluded("*\n!app.py /\n", "app.py"));
        assert!(excluded("build /\n", "build/x"));
        assert!(excluded("/ foo\n", "foo"));
        assert!(
            !excluded("*\n/ !foo\n", "foo"),
            "`/ !foo` is an exclusion after the trim"
        );
        assert!(Patterns::parse("!/\n").is_err(), "`!/` cleans to `!` alone");
    }

    #[test]
    fn double_star_prefix_suffix_and_parents() {
        assert!(excluded("**/*.md", "README.md"));
        assert!(excluded("**/*.md", "docs/x/README.md"));
        assert!(excluded("docs/**", "docs/a/b"));
        assert!(!excluded("docs/**", "docsx"));
        assert!(excluded("**/z.txt", "z.txt"));
        assert!(excluded("**/z.txt", "a/b/z.txt"));
        assert!(!excluded("**/z.txt", "a/bz.txt"));
        assert!(excluded("build", "build/deep/file"));
        assert!(excluded("/build/", "build/x"));
        assert!(excluded("./build", "build/x"));
        assert!(excluded("dir/*/deep", "dir/a/deep/z"));
        assert!(!excluded("*.txt", "sub/a.txt"));
    }

    #[test]
    fn comments_spaces_and_bom() {
        let p = Patterns::parse("\u{feff}# c\n  *.log  \r\n #x\n\n").unwrap();
        assert_eq!(p.rules.len(), 2, "{:?}", p.rules);
        assert!(excluded("  *.log  ", "a.log"));
        assert!(excluded(" #x", "#x"), "a `#` after a space is a pattern");
    }

    #[test]
    fn refused_patterns_name_the_line() {
        let e = Patterns::parse("ok\n!\n").unwrap_err();
        assert_eq!(e.line, 2);
        for bad in ["[", "a[", "[]", "[]a]", "[a-]", "x\\"] {
            assert!(Patterns::parse(bad).is_err(), "{bad}");
        }
        for good in ["[!a]", "[!-a]x", "[a-z]", "[\\]]x", "a]"] {
            assert!(Patterns::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn excluded_directories_are_descended_only_for_a_literal_prefix() {
        let p = Patterns::parse("build\n!build/keep.txt\n").unwrap();
        assert!(p.must_descend("build"));
        let p = Patterns::parse("build\n!**/keep.txt\n").unwrap();
        assert!(!p.must_descend("build"));
    }
}
