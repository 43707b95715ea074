//! The artifact set the Deploy stage consumes: the four files, how they are rendered from the
//! resolved settings (pure), and how they are written (atomically, see [`write`]).

pub mod appspec;
pub mod image_definitions;
pub mod image_detail;
pub mod read;
pub mod taskdef;
pub mod write;

use std::io::Write as _;

use crate::image_ref::ImageRef;
use crate::problem::Problem;

/// One file of an artifact set: its exact name and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The files of one artifact, in the order they are written and listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactSet {
    pub files: Vec<ArtifactFile>,
}

impl ArtifactSet {
    pub fn get(&self, name: &str) -> Option<&ArtifactFile> {
        self.files.iter().find(|f| f.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.name.as_str()).collect()
    }

    /// The artifact as CodePipeline stores it: one deflated zip of the files.
    pub fn zip(&self) -> Result<Vec<u8>, zip::result::ZipError> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        for f in &self.files {
            zip.start_file(f.name.as_str(), options)?;
            zip.write_all(&f.bytes)?;
        }
        Ok(zip.finish()?.into_inner())
    }
}

/// A container whose image this deployment sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub port: Option<u16>,
    /// The `<IMAGEn_NAME>` slot, 1 to 4.
    pub slot: u8,
    pub image: ImageRef,
}

/// The AppSpec's optional parts and its load balancer target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpecOptions {
    pub format: appspec::Format,
    pub lb_container: String,
    pub lb_port: u16,
    pub platform_version: Option<String>,
    pub network: Option<appspec::AwsvpcConfiguration>,
    pub capacity_provider_strategy: Vec<appspec::CapacityProviderItem>,
    pub hooks: Vec<(appspec::HookEvent, String)>,
}

/// Everything the renderer needs; the settings module builds it.
#[derive(Debug, Clone)]
pub struct RenderInput<'a> {
    /// The image of slot 1 (the one `cutover build` pushes), for imageDetail.json.
    pub image: &'a ImageRef,
    pub push: &'a image_detail::PushFacts,
    pub containers: &'a [Container],
    pub appspec: &'a AppSpecOptions,
    pub template: serde_json::Value,
    /// Where the template came from, for problems found in it.
    pub template_source: &'a str,
    /// `[taskdef] pinned_images`: the template's images are deployed as they are; no
    /// placeholder is put in and no imageDetail.json is written.
    pub pinned_images: bool,
}

/// Renders the four files. Problems that stem from the inputs (a configured container missing from
/// the template) are returned beside the set, so that a run reports them together with the
/// validator's findings.
pub fn render(
    input: RenderInput<'_>,
) -> Result<(ArtifactSet, Vec<Problem>), taskdef::TemplateError> {
    let deployed: Vec<taskdef::Deployed<'_>> = input
        .containers
        .iter()
        .map(|c| taskdef::Deployed {
            name: &c.name,
            slot: c.slot,
        })
        .collect();
    let rendered = match input.pinned_images {
        true => taskdef::render_pinned(input.template, &deployed)?,
        false => taskdef::render(input.template, &deployed)?,
    };
    let present = taskdef::container_names(&rendered.document).join(", ");
    let problems = rendered
        .missing_containers
        .iter()
        .map(|name| {
            Problem::error(
                "config-container-missing",
                input.template_source,
                "$.containerDefinitions",
                format!("the deployed container `{name}` is not in the task definition (it has: {present})"),
                Some(format!(
                    "fix the container name in cutover.toml `containers`, or add a container `{name}` to the template"
                )),
            )
        })
        .collect();

    let detail = image_detail::ImageDetail::new(input.image, input.push);
    // The standard ECS action sets each listed container to its imageUri: with pinned images
    // that is the image the template pins.
    let defs: Vec<image_definitions::ImageDefinition> = input
        .containers
        .iter()
        .map(|c| image_definitions::ImageDefinition {
            name: c.name.clone(),
            image_uri: match input.pinned_images {
                true => taskdef::container_image(&rendered.document, &c.name)
                    .unwrap_or_default()
                    .to_string(),
                false => pinned(&c.image),
            },
        })
        .collect();
    let a = input.appspec;
    let spec = appspec::AppSpec::new(
        appspec::Properties {
            task_definition: appspec::TASK_DEFINITION_PLACEHOLDER.into(),
            load_balancer_info: appspec::LoadBalancerInfo {
                container_name: a.lb_container.clone(),
                container_port: a.lb_port,
            },
            platform_version: a.platform_version.clone(),
            network_configuration: a.network.clone().map(|n| appspec::NetworkConfiguration {
                awsvpc_configuration: n,
            }),
            capacity_provider_strategy: a.capacity_provider_strategy.clone(),
        },
        &a.hooks,
    );
    let file = |name: &str, text: String| ArtifactFile {
        name: name.to_string(),
        bytes: text.into_bytes(),
    };
    let mut files = Vec::with_capacity(4);
    if !input.pinned_images {
        files.push(file(image_detail::FILE_NAME, detail.render()));
    }
    files.extend([
        file(
            image_definitions::FILE_NAME,
            image_definitions::render(&defs),
        ),
        file(taskdef::FILE_NAME, taskdef::to_text(&rendered.document)),
        file(a.format.file_name(), spec.render(a.format)),
    ]);
    let set = ArtifactSet { files };
    Ok((set, problems))
}

/// `repo@digest` when the digest is known, else the reference as given.
pub fn pinned(image: &ImageRef) -> String {
    match &image.digest {
        Some(d) => format!("{}@{d}", image.repository()),
        None => image.to_string(),
    }
}
