//! What a run that renders artifacts (`dry-run`, `artifacts`, `build`) does before it writes:
//! the settings, the image and the task definition template to the artifact set, the validator's
//! findings on it, and the [`Plan`] that says what would be written (also its `--output json`
//! form). Pure: the template comes in read, and nothing is written.

use std::path::Path;

use serde::Serialize;

use crate::artifacts::image_detail::PushFacts;
use crate::artifacts::read::Template;
use crate::artifacts::{self, taskdef, ArtifactSet};
use crate::image_ref::{ImageRef, ImageRefError};
use crate::output::display_path;
use crate::problem::Problem;
use crate::settings::Settings;
use crate::validate;

/// Why the artifacts cannot be rendered (a configuration error).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("a container image `{value}` is not a valid image reference")]
    ContainerImage {
        value: String,
        #[source]
        source: ImageRefError,
    },
    #[error("no container for the load balancer is configured")]
    NoLoadBalancerContainer,
    #[error("`{template}`")]
    Template {
        template: String,
        #[source]
        source: taskdef::TemplateError,
    },
}

/// The plan a run prints, also its `--output json` form.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub valid: bool,
    pub out: String,
    pub image: String,
    pub image_note: String,
    pub containers: Vec<PlanContainer>,
    pub load_balancer: Option<String>,
    pub hooks: Vec<String>,
    pub files: Vec<String>,
    pub problems: Vec<Problem>,
    /// Where the task definition template came from, when it is the live service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taskdef_source: Option<String>,
    /// `[taskdef] pinned_images`: the containers' images are the template's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pinned_images: bool,
}

#[derive(Debug, Serialize)]
pub struct PlanContainer {
    pub name: String,
    pub port: Option<u16>,
    pub slot: u8,
    pub image: String,
}

/// Renders the artifacts for `image` and validates them; writes nothing.
pub fn render_checked(
    s: &Settings,
    cwd: &Path,
    template: Template,
    image: &ImageRef,
    push: &PushFacts,
    note: &str,
) -> Result<(ArtifactSet, Plan), PlanError> {
    let Template {
        value: template,
        source,
        from_service,
    } = template;
    let containers = s
        .containers
        .iter()
        .map(|c| {
            let img = match &c.image {
                Some(i) => ImageRef::parse(i).map_err(|source| PlanError::ContainerImage {
                    value: i.clone(),
                    source,
                })?,
                None => image.clone(),
            };
            Ok(artifacts::Container {
                name: c.name.clone(),
                port: c.port,
                slot: c.slot,
                image: img,
            })
        })
        .collect::<Result<Vec<_>, PlanError>>()?;
    let lb = s
        .appspec
        .lb_container
        .as_deref()
        .and_then(|n| containers.iter().find(|c| c.name == n));
    let (lb_container, lb_port) = match lb {
        Some(c) => (c.name.clone(), c.port.unwrap_or_default()),
        None => return Err(PlanError::NoLoadBalancerContainer),
    };
    let appspec_opts = artifacts::AppSpecOptions {
        format: s.appspec.format,
        lb_container,
        lb_port,
        platform_version: s.appspec.platform_version.clone(),
        network: s.appspec.network.clone(),
        capacity_provider_strategy: s.appspec.capacity_provider_strategy.clone(),
        hooks: s.appspec.hooks.clone(),
    };
    let (set, mut problems) = artifacts::render(artifacts::RenderInput {
        image,
        push,
        containers: &containers,
        appspec: &appspec_opts,
        template,
        template_source: &source,
        pinned_images: s.pinned_images,
    })
    .map_err(|e| PlanError::Template {
        template: source.clone(),
        source: e,
    })?;
    let container_missing = problems
        .iter()
        .any(|p| p.rule == "config-container-missing");
    problems.extend(validate::validate(&set));
    // A configured container missing from the template is the cause; that its placeholder is
    // then missing too is not a second finding.
    if container_missing {
        problems.retain(|p| p.rule != "taskdef-no-placeholder");
    }
    // With pinned images, each container runs what the rendered task definition names.
    let rendered: Option<serde_json::Value> = s
        .pinned_images
        .then(|| set.get(taskdef::FILE_NAME))
        .flatten()
        .and_then(|f| serde_json::from_slice(&f.bytes).ok());
    let plan = Plan {
        valid: !validate::has_errors(&problems),
        out: display_path(&s.out_dir, cwd),
        image: artifacts::pinned(image),
        image_note: note.to_string(),
        containers: containers
            .iter()
            .map(|c| PlanContainer {
                name: c.name.clone(),
                port: c.port,
                slot: c.slot,
                image: match &rendered {
                    Some(doc) => taskdef::container_image(doc, &c.name)
                        .unwrap_or("no image")
                        .to_string(),
                    None => artifacts::pinned(&c.image),
                },
            })
            .collect(),
        load_balancer: Some(format!(
            "{}:{}",
            appspec_opts.lb_container, appspec_opts.lb_port
        )),
        hooks: appspec_opts
            .hooks
            .iter()
            .map(|(e, f)| format!("{}={f}", e.as_str()))
            .collect(),
        files: set.names().iter().map(|n| n.to_string()).collect(),
        problems,
        taskdef_source: from_service.then_some(source),
        pinned_images: s.pinned_images,
    };
    Ok((set, plan))
}
