//! The path patterns of a buildspec's `artifacts` (`files`, `exclude-paths`, `base-directory`),
//! matched as CodeBuild matches them: `*` and `?` within one path segment, `**` as a whole segment
//! for zero or more segments, `[abc]`/`[a-z]`/`[!a]` classes. Dot files are not special. Pure.

use std::fmt;

/// A compiled pattern: its segments, split on `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: zero or more whole segments.
    AnyDepth,
    /// One segment's pattern.
    Name(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Many,
    /// `[...]`: ranges, negated with `!` or `^`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("the pattern is empty")]
    Empty,
    #[error("`{0}` is an absolute path; CodeBuild reads artifact paths relative to the source directory or `base-directory`")]
    Absolute(String),
    #[error("`{0}` leaves the directory it is relative to (a `..` segment)")]
    Parent(String),
    #[error("`{0}` has an unclosed `[`")]
    UnclosedClass(String),
}

impl Pattern {
    /// Compiles a pattern; a leading `./` is dropped, as CodeBuild does.
    pub fn new(text: &str) -> Result<Pattern, PatternError> {
        let trimmed = text.trim();
        let mut rest = trimmed;
        while let Some(r) = rest.strip_prefix("./") {
            rest = r;
        }
        if rest.is_empty() || rest == "." {
            return Err(PatternError::Empty);
        }
        if rest.starts_with('/') {
            return Err(PatternError::Absolute(trimmed.to_string()));
        }
        let mut segments = Vec::new();
        for part in rest.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if part == ".." {
                return Err(PatternError::Parent(trimmed.to_string()));
            }
            if part == "**" {
                // `a/**/**/b` is `a/**/b`.
                if segments.last() != Some(&Segment::AnyDepth) {
                    segments.push(Segment::AnyDepth);
                }
                continue;
            }
            segments.push(Segment::Name(
                tokens(part).ok_or_else(|| PatternError::UnclosedClass(trimmed.to_string()))?,
            ));
        }
        Ok(Pattern {
            text: trimmed.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` (relative, `/`-separated) matches the whole pattern.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match_segments(&self.segments, &parts)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether a text has any of the characters that make it a pattern.
pub fn has_magic(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

fn tokens(part: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = part.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                // `a**b` inside a segment is `a*b`.
                if out.last() != Some(&Token::Many) {
                    out.push(Token::Many);
                }
                i += 1;
            }
            '?' => {
                out.push(Token::One);
                i += 1;
            }
            '[' => {
                let (token, next) = class(&chars, i)?;
                out.push(token);
                i = next;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(Token::Literal(chars[i + 1]));
                i += 2;
            }
            c => {
                out.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    Some(out)
}

/// Parses `[...]` starting at `start`; returns the token and the index after `]`.
fn class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

fn match_segments(pattern: &[Segment], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((Segment::Name(tokens), rest)) => match path.split_first() {
            Some((first, more)) => match_name(tokens, first) && match_segments(rest, more),
            None => false,
        },
    }
}

fn match_name(tokens: &[Token], name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    match_tokens(tokens, &chars)
}

fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Many, rest)) => (0..=name.len()).any(|skip| match_tokens(rest, &name[skip..])),
        Some((token, rest)) => match name.split_first() {
            Some((c, more)) => match_one(token, *c) && match_tokens(rest, more),
            None => false,
        },
    }
}

fn match_one(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::One => true,
        Token::Many => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn star_stays_within_one_segment() {
        assert!(m("*.json", "taskdef.json"));
        assert!(!m("*.json", "out/taskdef.json"));
        assert!(m("out/*", "out/a"));
        assert!(!m("out/*", "out/a/b"));
        assert!(m("*/my-file3.txt", "my-subdirectory/my-file3.txt"));
    }

    #[test]
    fn double_star_spans_zero_or_more_segments() {
        assert!(m("**/*", "a"));
        assert!(m("**/*", "a/b/c"));
        assert!(m("out/**/*", "out/a"));
        assert!(m("out/**/*", "out/a/b"));
        assert!(!m("out/**/*", "other/a"));
        assert!(m("**/*.json", "x/y/taskdef.json"));
        assert!(m("a/**/b", "a/b"));
        assert!(m("a/**/**/b", "a/x/y/b"));
        assert!(m("**", "a/b"));
    }

    #[test]
    fn dot_files_are_not_special() {
        assert!(m("*", ".env"));
        assert!(m("**/*", ".git/config"));
    }

    #[test]
    fn question_marks_and_classes() {
        assert!(m("file?.txt", "file1.txt"));
        assert!(!m("file?.txt", "file10.txt"));
        assert!(m("[ab].txt", "a.txt"));
        assert!(!m("[ab].txt", "c.txt"));
        assert!(m("[a-c].txt", "b.txt"));
        assert!(m("[!a].txt", "b.txt"));
        assert!(!m("[!a].txt", "a.txt"));
        assert!(m("[]].txt", "].txt"));
    }

    #[test]
    fn a_leading_dot_slash_is_dropped_and_literal_paths_match_exactly() {
        assert!(m("./out/taskdef.json", "out/taskdef.json"));
        assert!(m("taskdef.json", "taskdef.json"));
        assert!(!m("taskdef.json", "taskdef.json.bak"));
        assert!(m("my-build*", "my-build2"));
    }

    #[test]
    fn absolute_parent_empty_and_unclosed_patterns_are_refused() {
        assert!(matches!(
            Pattern::new("/etc/*"),
            Err(PatternError::Absolute(_))
        ));
        assert!(matches!(Pattern::new("../x"), Err(PatternError::Parent(_))));
        assert!(matches!(
            Pattern::new("a/../../x"),
            Err(PatternError::Parent(_))
        ));
        assert!(matches!(Pattern::new(""), Err(PatternError::Empty)));
        assert!(matches!(Pattern::new("./"), Err(PatternError::Empty)));
        assert!(matches!(
            Pattern::new("[ab"),
            Err(PatternError::UnclosedClass(_))
        ));
    }

    #[test]
    fn magic_characters_are_detected() {
        assert!(has_magic("my-build*"));
        assert!(!has_magic("out"));
    }
}
