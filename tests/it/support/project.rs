//! The repository's sample as a git checkout that `cutover build` can build for real: the
//! sample app's sources and Dockerfile, with the offline base images scripts/test makes.

use super::{require_env, Sandbox};

/// A git checkout holding the repository's sample (cutover.toml, the taskdef, sample-app/) with
/// the image repository pointed at `repository`.
pub fn project(repository: &str) -> Sandbox {
    let sb = Sandbox::empty();
    sb.copy_from_repo("cutover.toml");
    sb.copy_from_repo("ecs/taskdef.json");
    for f in [
        "sample-app/Cargo.toml",
        "sample-app/Dockerfile",
        "sample-app/.dockerignore",
    ] {
        sb.copy_from_repo(f);
    }
    for entry in std::fs::read_dir(crate::support::repo_path("sample-app/src")).unwrap() {
        let name = entry.unwrap().file_name();
        sb.copy_from_repo(&format!("sample-app/src/{}", name.to_string_lossy()));
    }
    sb.replace(
        "cutover.toml",
        "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app",
        repository,
    );
    sb.git(&["init", "-q"]);
    commit(&sb, "initial");
    sb
}

/// [`project`] with a one-stage Dockerfile that copies the sources onto the runtime base and
/// compiles nothing: for the tests of what happens around a build (credentials, tags), which the
/// sample's two stages would only slow down (its builder stage is a 570 MB toolchain that every
/// new registry gets pushed once, as the stage cache). The content hash still covers `src/`.
pub fn light_project(repository: &str) -> Sandbox {
    let sb = project(repository);
    sb.write(
        "sample-app/Dockerfile",
        "ARG BUILDER_IMAGE\nARG RUNTIME_IMAGE\nFROM ${RUNTIME_IMAGE}\nCOPY src /app/src\n",
    );
    commit(&sb, "light");
    sb
}

pub fn commit(sb: &Sandbox, message: &str) -> String {
    sb.git(&["add", "-A"]);
    sb.git(&["commit", "-q", "--allow-empty", "-m", message]);
    sb.git(&["rev-parse", "--short=7", "HEAD"])
}

/// The `--build-arg`s naming the offline base images scripts/test makes.
pub fn base_image_args() -> (String, String) {
    (
        format!(
            "BUILDER_IMAGE={}",
            require_env("CUTOVER_TEST_BUILDER_IMAGE")
        ),
        format!(
            "RUNTIME_IMAGE={}",
            require_env("CUTOVER_TEST_RUNTIME_IMAGE")
        ),
    )
}
