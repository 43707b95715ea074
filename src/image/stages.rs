//! The Dockerfile's build stages that `cutover build` keeps as cache images beside each build
//! (pure: the Dockerfile's text or the build's output in, stage names and images out).
//!
//! The legacy builder takes its cache only from the history of the images given as
//! `--cache-from`; the final image's history holds none of a multi-stage build's earlier stages,
//! so without a cache image of its own every step of a builder stage runs again on a fresh host.

/// The tag of a stage's cache image, for the build of commit `short_sha`.
pub fn cache_tag(stage: &str, short_sha: &str) -> String {
    format!("cache-{stage}-{short_sha}")
}

/// The image of each named stage's last step, read from the legacy builder's output as it comes
/// (`Step n/m : FROM base AS name`, then ` ---> <id>` after each step): the stage caches are
/// tagged from these, so nothing is built twice.
#[derive(Debug, Default)]
pub struct StageImages {
    current: Option<String>,
    last_id: Option<String>,
    done: Vec<(String, String)>,
}

impl StageImages {
    /// Reads one line of `docker build` output.
    pub fn line(&mut self, line: &str) {
        if let Some(instruction) = line
            .strip_prefix("Step ")
            .and_then(|rest| rest.split_once(" : "))
            .map(|(_, i)| i)
        {
            let mut words = instruction.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
                self.close();
                let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
                self.current = match rest.as_slice() {
                    [_, kw, name, ..] if kw.eq_ignore_ascii_case("AS") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
            }
        } else if let Some(id) = line.trim().strip_prefix("---> ") {
            if id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.last_id = Some(id.to_string());
            }
        }
    }

    fn close(&mut self) {
        if let (Some(name), Some(id)) = (self.current.take(), self.last_id.take()) {
            self.done.push((name, id));
        }
    }

    /// Each named stage and its last image, the final stage's too.
    pub fn finish(mut self) -> Vec<(String, String)> {
        self.close();
        self.done
    }
}

/// The named stages that come before the final one (`target` when given, else the last stage),
/// lowercased (stage names are case-insensitive; tags are not). Unnamed stages are left out: no
/// `--target` can name them. A Dockerfile with one stage has nothing to cache.
pub fn cache_stages(dockerfile: &str, target: Option<&str>) -> Vec<String> {
    let stages = stage_names(dockerfile);
    let end = match target {
        Some(t) => stages
            .iter()
            .position(|s| s.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .unwrap_or(stages.len()),
        None => stages.len().saturating_sub(1),
    };
    let mut out: Vec<String> = Vec::new();
    for name in stages.into_iter().take(end).flatten() {
        if valid_tag_part(&name) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Every `FROM` in order, with its `AS` name when it has one. Comments, blank lines and line
/// continuations are handled; the parser directives (`# syntax=`) are comments here.
fn stage_names(dockerfile: &str) -> Vec<Option<String>> {
    let mut stages = Vec::new();
    for instruction in instructions(dockerfile) {
        let mut words = instruction.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
        let name = match rest.as_slice() {
            [_, kw, name, ..] if kw.eq_ignore_ascii_case("AS") => Some(name.to_ascii_lowercase()),
            _ => None,
        };
        stages.push(name);
    }
    stages
}

/// The instructions, each on one line (continuations joined, comments dropped).
pub(crate) fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if !current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue; // a blank line or a comment inside a continued instruction, as Docker reads it
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// A stage name that fits in a tag: `[a-z0-9._-]`, starting with a letter or digit.
fn valid_tag_part(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../sample-app/Dockerfile");

    #[test]
    fn the_sample_caches_its_builder_stage() {
        assert_eq!(cache_stages(SAMPLE, None), ["builder"]);
        assert_eq!(cache_tag("builder", "abc1234"), "cache-builder-abc1234");
    }

    #[test]
    fn a_single_stage_has_nothing_to_cache() {
        assert!(cache_stages("FROM scratch\nCOPY a /a\n", None).is_empty());
        assert!(cache_stages("# only a comment\n", None).is_empty());
    }

    #[test]
    fn the_target_is_the_final_stage() {
        let d = "FROM a AS deps\nFROM b as Build\nRUN x\nFROM c AS test\nFROM d\n";
        assert_eq!(cache_stages(d, None), ["deps", "build", "test"]);
        assert_eq!(cache_stages(d, Some("build")), ["deps"]);
        assert_eq!(cache_stages(d, Some("BUILD")), ["deps"]);
        // A target that is not a stage name: everything before the end.
        assert_eq!(cache_stages(d, Some("nope")), ["deps", "build", "test",]);
    }

    #[test]
    fn flags_continuations_and_unnamed_stages() {
        let d = "# syntax=docker/dockerfile:1\nFROM --platform=$BUILDPLATFORM \\\n  rust:1 \\\n\n  AS builder\n\
                 FROM alpine\nFROM debian AS tools\n# comment\nFROM scratch\n";
        assert_eq!(cache_stages(d, None), ["builder", "tools"]);
    }

    #[test]
    fn stage_images_come_from_the_build_output() {
        let output = "Step 1/9 : ARG B=x\n\
             Step 2/9 : FROM ${B} AS builder\n ---> 865dd2331acd\n\
             Step 3/9 : WORKDIR /src\n ---> Using cache\n ---> 3e4441e454db\n\
             Step 4/9 : RUN [\"cargo\", \"build\"]\n ---> Running in 0a1b2c3d4e5f\n\
             Removing intermediate container 0a1b2c3d4e5f\n ---> fc60f4f38f3b\n\
             Step 5/9 : FROM --platform=linux/amd64 runtime\n ---> ed5e738ef942\n\
             Step 6/9 : COPY --from=builder /a /a\n ---> bc5d73e902c3\n";
        let mut images = StageImages::default();
        for line in output.lines() {
            images.line(line);
        }
        assert_eq!(
            images.finish(),
            [("builder".to_string(), "fc60f4f38f3b".to_string())]
        );
    }

    #[test]
    fn names_that_cannot_be_tags_are_skipped() {
        assert!(cache_stages("FROM a AS _x\nFROM b\n", None).is_empty());
    }
}
