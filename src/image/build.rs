//! `cutover build`: build the image with the Docker engine, tag it with the commit, the content
//! hash and any extra tags, push it, and return the pushed digest. On a fresh host it reuses what
//! the registry already has: an image whose content-hash tag exists is not built at all, and
//! otherwise the image of a recent parent commit is pulled as `--cache-from`, with the cache
//! images of that commit's earlier build stages (`cache-<stage>-<sha>`, pushed beside each build:
//! the legacy builder finds a builder stage's steps only in an image whose history holds them).

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::auth;
use super::context;
use super::docker::{tail, Docker, DockerError};
use super::registry::{self, is_loopback_registry, RegistryError, Remote};
use super::stages;
use crate::image_ref::ImageRef;
use crate::secret::Secret;
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("hashing the build context")]
    Context(#[from] context::ContextError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("the image build failed at {step}\n{tail}\n  hint: the Dockerfile step above exited non-zero; fix it and run again")]
    BuildFailed { step: String, tail: String },
    #[error("pushing `{reference}` failed: {detail}\n  hint: {hint}")]
    PushFailed {
        reference: String,
        detail: String,
        hint: String,
    },
    #[error("the tag `{tag}` already exists in `{repository}` for other content, and the repository's tags are immutable\n  hint: commit the change (a new commit gets a new tag), or drop the extra --tag `{tag}`")]
    ImmutableTag { tag: String, repository: String },
    #[error("`docker push` did not report a digest for `{0}`")]
    NoDigest(String),
}

impl BuildError {
    /// External failures (engine, registry, AWS) exit 3; a failed Dockerfile step or a tag
    /// conflict is the job's own failure (1).
    pub fn is_external(&self) -> bool {
        !matches!(
            self,
            BuildError::BuildFailed { .. } | BuildError::ImmutableTag { .. }
        )
    }
}

/// The outcome, also printed with `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct BuildResult {
    pub repository: String,
    /// The primary tag: the commit's short SHA when known, else the content-hash tag.
    pub tag: String,
    pub tags: Vec<String>,
    pub content_tag: String,
    pub digest: Option<String>,
    /// The pushed image's compressed layers summed, as the registry holds them (ECR's
    /// `imageSizeInBytes`); known once the image is in the registry.
    pub size_in_bytes: Option<u64>,
    /// When this run's push finished (`ImagePushedAt`); `None` when nothing was pushed now.
    pub pushed_at: Option<String>,
    /// `repository@digest` when pushed, else `repository:tag`.
    pub image_uri: String,
    pub pushed: bool,
    /// True when the registry already had this content and nothing was built.
    pub skipped_build: bool,
    pub cache_from: Option<String>,
    /// The stage cache images this build was offered (pulled from the registry).
    pub stage_caches: Vec<String>,
    /// The stage cache images this build pushed for the next one.
    pub stage_caches_pushed: Vec<String>,
    /// True for `cutover build --dry-run`: nothing was built, pushed or asked.
    pub dry_run: bool,
    pub seconds: f64,
}

/// What the build needs beyond the settings.
pub struct BuildOptions<'a> {
    pub settings: &'a Settings,
    pub repository: &'a ImageRef,
    pub push: bool,
    pub cache_from: &'a [String],
    pub immutable_tags: bool,
    /// Explicit registry credentials (`CUTOVER_REGISTRY_USERNAME`/`_PASSWORD`).
    pub credentials: Option<(String, Secret)>,
    pub progress: &'a dyn Fn(&str),
}

pub async fn build(o: BuildOptions<'_>) -> Result<BuildResult, BuildError> {
    let started = Instant::now();
    let s = o.settings;
    let repo = o.repository.repository();
    // Docker Hub's credentials live under this key in a Docker config.
    let host = o
        .repository
        .registry
        .clone()
        .filter(|r| r != "docker.io" && r != "index.docker.io")
        .unwrap_or_else(|| "https://index.docker.io/v1/".to_string());
    let insecure = is_loopback_registry(&host);

    let dockerfile = context::read_dockerfile(&s.build_inputs())?;
    let (content_tag, tags) = plan_tags(s, &dockerfile)?;
    let primary = tags[0].clone();
    (o.progress)(&format!("content {content_tag}, tags {}", tags.join(", ")));

    // Credentials first: ECR token, explicit pair, or the user's own Docker config.
    let mut immutable_tags = o.immutable_tags;
    let login: Option<(String, Secret)> = if let Some((account, region)) = o.repository.ecr() {
        (o.progress)(&format!("ECR: getting a token for {host}"));
        let sdk = crate::aws::sdk_config(Some(&region)).await;
        let (user, password) = auth::ecr_login(&sdk, &host, &account).await?;
        // ECR says whether tags are immutable; without the permission, the setting decides.
        if let Some(true) = auth::ecr_tags_immutable(&sdk, &account, &o.repository.path).await {
            (o.progress)("ECR: the repository's tags are immutable");
            immutable_tags = true;
        }
        Some((user, password))
    } else {
        o.credentials.clone()
    };
    let private = match &login {
        Some((user, password)) => Some(auth::private_config(&host, user, password)?),
        None => None,
    };
    let docker = Docker {
        config_dir: private.as_ref().map(|p| p.dir.path().to_path_buf()),
        redactor: private
            .as_ref()
            .map(|p| p.redactor.clone())
            .unwrap_or_default(),
    };
    let auth_hint = if private.is_some() {
        "the token or password cutover used was refused; check the repository URI and the role's ECR permissions"
    } else {
        "log in with `docker login <registry>`, or set CUTOVER_REGISTRY_USERNAME and CUTOVER_REGISTRY_PASSWORD"
    };

    // The engine's version and the registry's answer for the content tag, at the same time.
    let content_ref = format!("{repo}:{content_tag}");
    let registry_side = async {
        if !o.push {
            return Ok(Remote::Absent);
        }
        if let Some((user, password)) = &login {
            (o.progress)(&format!("checking the credentials with {host}"));
            registry::check_login(&docker, &host, user, password, auth_hint).await?;
        }
        Ok::<_, BuildError>(
            registry::remote_manifest(&docker, &content_ref, insecure, auth_hint).await?,
        )
    };
    let (engine, remote) = tokio::join!(docker.engine_version(), registry_side);
    let engine = engine?;
    (o.progress)(&format!("Docker engine {engine}"));
    let remote = remote?;

    let mut skipped_build = false;
    let mut cache = Cache::default();
    let mut stage_caches_pushed = Vec::new();
    let mut digest = None;
    let mut size_in_bytes = None;
    let mut pushed_at = None;
    if o.push {
        if let Remote::Present { digest: d, size } = remote {
            skipped_build = true;
            digest = d;
            size_in_bytes = size;
            (o.progress)(&format!(
                "registry has {repo}:{content_tag}: same content, skipping the build"
            ));
        }
    }

    if skipped_build {
        let source = match &digest {
            Some(d) => format!("{repo}@{d}"),
            None => format!("{repo}:{content_tag}"),
        };
        let mut pulled = false;
        for tag in tags.iter().filter(|t| **t != content_tag) {
            let reference = format!("{repo}:{tag}");
            match registry::remote_manifest(&docker, &reference, insecure, auth_hint).await? {
                Remote::Present { digest: d, .. } if d.is_some() && d == digest => continue,
                Remote::Present { .. } if immutable_tags => {
                    return Err(BuildError::ImmutableTag {
                        tag: tag.clone(),
                        repository: repo.clone(),
                    })
                }
                _ => {}
            }
            // The layers are in the registry already: pull, tag and push only move a manifest.
            if !pulled {
                docker.checked(&["pull", "--quiet", &source]).await?;
                pulled = true;
            }
            docker.checked(&["tag", &source, &reference]).await?;
            push(&docker, &reference, auth_hint, o.progress).await?;
            (o.progress)(&format!("tagged {reference}"));
        }
    } else {
        let stages = stages_to_cache(s, &dockerfile);
        // Refuse before building when a tag we would push already names other content; the
        // registry is asked while the cache is pulled.
        let tags_free = async {
            if !o.push {
                return Ok(());
            }
            for tag in tags.iter().filter(|t| **t != content_tag) {
                let reference = format!("{repo}:{tag}");
                if let Remote::Present { .. } =
                    registry::remote_manifest(&docker, &reference, insecure, auth_hint).await?
                {
                    if immutable_tags {
                        return Err(BuildError::ImmutableTag {
                            tag: tag.clone(),
                            repository: repo.clone(),
                        });
                    }
                    (o.progress)(&format!("warning: {reference} exists and will be replaced"));
                }
            }
            Ok(())
        };
        let (found, free) = tokio::join!(find_cache(&docker, &repo, &o, &stages), tags_free);
        free?;
        cache = found?;
        let offered: Vec<&str> = cache.all().collect();
        let references: Vec<String> = tags.iter().map(|t| format!("{repo}:{t}")).collect();
        let stage_images = docker_build(&docker, s, &references, &offered, o.progress).await?;
        if o.push {
            let first = format!("{repo}:{content_tag}");
            let image = async {
                let d = push(&docker, &first, auth_hint, o.progress).await?;
                let at = crate::artifacts::image_detail::pushed_at(std::time::SystemTime::now());
                for tag in tags.iter().filter(|t| **t != content_tag) {
                    push(&docker, &format!("{repo}:{tag}"), auth_hint, o.progress).await?;
                }
                Ok::<_, BuildError>((d, at))
            };
            // The stage caches go up beside the image: the next commit's build reads them.
            // The primary tag is the commit's when there is one (plan_tags).
            let commit = Some(primary.as_str()).filter(|t| **t != content_tag);
            let caches = push_stage_caches(
                &docker,
                &repo,
                commit,
                &stages,
                &stage_images,
                auth_hint,
                o.progress,
            );
            let (pushed_image, cached) = tokio::join!(image, caches);
            let (d, at) = pushed_image?;
            digest = Some(d);
            pushed_at = Some(at);
            stage_caches_pushed = cached;
            // The size is the registry's: one more manifest read; the push has succeeded, so a
            // failure here only leaves the size out.
            // By digest: another build may have moved the tag since this push.
            let pushed = match &digest {
                Some(d) => format!("{repo}@{d}"),
                None => first.clone(),
            };
            match registry::remote_manifest(&docker, &pushed, insecure, auth_hint).await {
                Ok(Remote::Present { size, .. }) => size_in_bytes = size,
                Ok(Remote::Absent) | Err(_) => (o.progress)(
                    "warning: could not read the pushed manifest; ImageSizeInBytes is left out",
                ),
            }
        }
    }
    drop(private); // removes the private Docker config now, not at exit
    let image_uri = match &digest {
        Some(d) => format!("{repo}@{d}"),
        None => format!("{repo}:{primary}"),
    };
    Ok(BuildResult {
        repository: repo,
        tag: primary,
        tags,
        content_tag,
        digest,
        size_in_bytes,
        pushed_at,
        image_uri,
        pushed: o.push,
        skipped_build,
        cache_from: cache.image,
        stage_caches: cache.stages,
        stage_caches_pushed,
        dry_run: false,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a build would do, without Docker, a registry or AWS: the tags, and the content-hash
/// reference (`repository:src-<hash>`) as the image, as `cutover dry-run` writes it.
pub fn dry_run(settings: &Settings, repository: &ImageRef) -> Result<BuildResult, BuildError> {
    let started = Instant::now();
    let dockerfile = context::read_dockerfile(&settings.build_inputs())?;
    let (content_tag, tags) = plan_tags(settings, &dockerfile)?;
    let repo = repository.repository();
    Ok(BuildResult {
        image_uri: format!("{repo}:{content_tag}"),
        repository: repo,
        tag: tags[0].clone(),
        tags,
        content_tag,
        digest: None,
        size_in_bytes: None,
        pushed_at: None,
        pushed: false,
        skipped_build: false,
        cache_from: None,
        stage_caches: Vec::new(),
        stage_caches_pushed: Vec::new(),
        dry_run: true,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The content-hash tag and all tags in order: commit, content hash, extra tags.
fn plan_tags(s: &Settings, dockerfile: &[u8]) -> Result<(String, Vec<String>), BuildError> {
    let hash = context::content_hash_of(&s.build_inputs(), dockerfile)?;
    let content_tag = context::content_tag(&hash);
    let commit = s
        .commit
        .clone()
        .or_else(|| git(&s.image.context, &["rev-parse", "HEAD"]));
    let commit_tag = commit
        .as_deref()
        .filter(|c| c.len() >= 7 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|c| c[..7].to_string());
    let mut tags: Vec<String> = commit_tag.into_iter().collect();
    tags.push(content_tag.clone());
    for t in &s.image.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok((content_tag, tags))
}

/// What a build is offered as cache.
#[derive(Debug, Default)]
struct Cache {
    /// The parent commit's image (or an explicit `--cache-from` image).
    image: Option<String>,
    /// That commit's stage cache images that could be pulled.
    stages: Vec<String>,
}

impl Cache {
    fn all(&self) -> impl Iterator<Item = &str> {
        self.stages
            .iter()
            .map(String::as_str)
            .chain(self.image.as_deref())
    }
}

/// The stages to keep as cache images, from the Dockerfile the content hash read (none when
/// `stage_cache = false`).
fn stages_to_cache(s: &Settings, dockerfile: &[u8]) -> Vec<String> {
    if !s.image.stage_cache {
        return Vec::new();
    }
    stages::cache_stages(
        &String::from_utf8_lossy(dockerfile),
        s.image.target.as_deref(),
    )
}

/// Pulls the first cache source that exists: explicit `--cache-from` images, then the images of
/// the last few parent commits (tags are the short SHAs cutover pushes). For a parent commit,
/// its stage cache images are pulled at the same time as its image.
async fn find_cache(
    docker: &Docker,
    repo: &str,
    o: &BuildOptions<'_>,
    stages: &[String],
) -> Result<Cache, BuildError> {
    let mut candidates: Vec<(String, Option<String>)> =
        o.cache_from.iter().map(|c| (c.clone(), None)).collect();
    if let Some(list) = git(
        &o.settings.image.context,
        &["rev-list", "--max-count=5", "--skip=1", "HEAD"],
    ) {
        candidates.extend(list.lines().filter(|l| l.len() >= 7).map(|l| {
            let sha = l[..7].to_string();
            (format!("{repo}:{sha}"), Some(sha))
        }));
    }
    // Each candidate is pulled straight away (a tag the registry lacks fails the pull in one
    // round trip, as a manifest check would, and one that exists needs the pull anyway); a cache
    // source that cannot be read is not worth failing the build for.
    let refs_of = |sha: &Option<String>| -> Vec<String> {
        match sha {
            Some(sha) => stages
                .iter()
                .map(|st| format!("{repo}:{}", stages::cache_tag(st, sha)))
                .collect(),
            None => Vec::new(),
        }
    };
    // A missing stage cache (an older build, or stage_cache = false then) is no error.
    let pull_all = |refs: Vec<String>| async move {
        let mut got = Vec::new();
        for r in refs {
            if docker.output(&["pull", "--quiet", &r]).await?.code == 0 {
                got.push(r);
            }
        }
        Ok::<_, DockerError>(got)
    };
    for (i, (c, sha)) in candidates.iter().enumerate() {
        let pull_image = ["pull", "--quiet", c.as_str()];
        let (image, got) = tokio::join!(docker.output(&pull_image), pull_all(refs_of(sha)));
        if image?.code != 0 {
            continue;
        }
        (o.progress)(&format!("cache from {c}"));
        let mut got = got?;
        // A commit whose build was skipped (same content as its parent) pushed no stage cache:
        // an older parent's still holds the stage's steps before the first changed one.
        if got.is_empty() && !stages.is_empty() {
            for (_, older) in candidates.iter().skip(i + 1) {
                got = pull_all(refs_of(older)).await?;
                if !got.is_empty() {
                    break;
                }
            }
        }
        for g in &got {
            (o.progress)(&format!("stage cache from {g}"));
        }
        return Ok(Cache {
            image: Some(c.clone()),
            stages: got,
        });
    }
    Ok(Cache::default())
}

/// Tags and pushes `cache-<stage>-<sha>` for each stage: the image the build made for the
/// stage's last step (read from the build's output), so nothing is built again. Only with a
/// commit tag (the next commit finds its parent's cache by that SHA). A failure here costs the
/// next build its cache, not this build its image: it is a warning.
async fn push_stage_caches(
    docker: &Docker,
    repo: &str,
    commit: Option<&str>,
    stages: &[String],
    stage_images: &[(String, String)],
    auth_hint: &str,
    progress: &dyn Fn(&str),
) -> Vec<String> {
    let Some(sha) = commit else {
        return Vec::new();
    };
    let mut pushed = Vec::new();
    for stage in stages {
        let reference = format!("{repo}:{}", stages::cache_tag(stage, sha));
        let Some((_, id)) = stage_images.iter().find(|(name, _)| name == stage) else {
            progress(&format!(
                "warning: the build's output named no image for the stage `{stage}`; no stage cache pushed"
            ));
            continue;
        };
        let quiet = |_: &str| {};
        let done = match docker.checked(&["tag", id, &reference]).await {
            Ok(_) => push(docker, &reference, auth_hint, &quiet)
                .await
                .map(|_| ()),
            Err(e) => Err(e.into()),
        };
        match done {
            Ok(()) => {
                progress(&format!("stage cache pushed: {reference}"));
                pushed.push(reference);
            }
            Err(e) => progress(&format!(
                "warning: the stage cache {reference} was not pushed (the next build redoes the stage): {}",
                e.to_string().lines().next().unwrap_or_default()
            )),
        }
    }
    pushed
}

/// One `docker build` of the settings' image (its Dockerfile, arguments, target and platform),
/// tagged with `references` and offered `cache_from`; returns the stage images it reported.
async fn docker_build(
    docker: &Docker,
    s: &Settings,
    references: &[String],
    cache_from: &[&str],
    progress: &dyn Fn(&str),
) -> Result<Vec<(String, String)>, BuildError> {
    let mut args: Vec<String> = vec![
        "build".into(),
        // The legacy builder keeps a failed step's container unless told; a developer's machine
        // would collect one per failed build.
        "--force-rm".into(),
        "--file".into(),
        s.image.dockerfile.display().to_string(),
    ];
    for t in references {
        args.push("--tag".into());
        args.push(t.clone());
    }
    for c in cache_from {
        args.push("--cache-from".into());
        args.push(c.to_string());
    }
    for (k, v) in &s.image.build_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    if let Some(t) = &s.image.target {
        args.push("--target".into());
        args.push(t.to_string());
    }
    if let Some(p) = &s.image.platform {
        args.push("--platform".into());
        args.push(p.clone());
    }
    args.push(s.image.context.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut last_step = String::from("the first step");
    let mut cached = 0usize;
    let mut images = stages::StageImages::default();
    let f = docker
        .streamed(&argv, |line| {
            images.line(line);
            if line.starts_with("Step ") {
                last_step = line.to_string();
                progress(line);
            } else if line.contains("Using cache") {
                cached += 1;
            }
        })
        .await?;
    if f.code != 0 {
        return Err(BuildError::BuildFailed {
            step: last_step,
            tail: tail(&format!("{}{}", f.stdout, f.stderr), 25),
        });
    }
    progress(&format!("built ({cached} steps from cache)"));
    Ok(images.finish())
}

/// Pushes one reference and returns the digest the registry reported.
async fn push(
    docker: &Docker,
    reference: &str,
    auth_hint: &str,
    progress: &dyn Fn(&str),
) -> Result<String, BuildError> {
    let f = docker
        .streamed(&["push", reference], |line| {
            if line.contains("digest: sha256:") || line.contains("Pushed") {
                progress(line);
            }
        })
        .await?;
    if f.code != 0 {
        let all = format!("{}{}", f.stdout, f.stderr);
        let lower = all.to_ascii_lowercase();
        let hint = if registry::classify_auth(&lower) {
            auth_hint.to_string()
        } else if registry::classify_unreachable(&lower) {
            "check that the registry is running and reachable, then run again (what was pushed is kept)".to_string()
        } else {
            "see the registry's answer above".to_string()
        };
        return Err(BuildError::PushFailed {
            reference: reference.to_string(),
            detail: tail(&all, 5),
            hint,
        });
    }
    // `<tag>: digest: sha256:<hex> size: <n>`
    f.stdout
        .lines()
        .chain(f.stderr.lines())
        .find_map(|l| {
            l.split("digest: ")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .filter(|d| crate::image_ref::is_sha256_digest(d))
        .ok_or_else(|| BuildError::NoDigest(reference.to_string()))
}

/// `git -C dir ...`, trimmed stdout, or None when git or the repository is not there.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}
