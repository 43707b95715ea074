//! Registry credentials for a build. ECR repositories get a token from ECR GetAuthorizationToken
//! (through the SDK, so `AWS_ENDPOINT_URL` and the standard credential chain apply); an explicit
//! `CUTOVER_REGISTRY_USERNAME`/`CUTOVER_REGISTRY_PASSWORD` pair works for any registry; otherwise
//! the user's own Docker credentials are used untouched. Credentials cutover obtains are written
//! to a private `DOCKER_CONFIG` directory (0700, config.json 0600) that is removed when the build
//! ends, so the password never appears in argv, output, logs or errors.

use std::io::Write as _;
use std::path::Path;

use crate::secret::{Redactor, Secret};

use super::registry::{base64_decode, base64_encode};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "ECR GetAuthorizationToken failed for registry `{registry}`: {detail}\n  hint: {hint}"
    )]
    Ecr {
        registry: String,
        detail: String,
        hint: String,
    },
    #[error("ECR returned no usable authorization token for `{0}`")]
    EmptyToken(String),
    #[error("writing the private Docker config")]
    Io(#[source] std::io::Error),
}

/// Credentials cutover holds for one registry, kept in a private Docker config directory.
#[derive(Debug)]
pub struct PrivateConfig {
    pub dir: tempfile::TempDir,
    pub redactor: Redactor,
}

/// Writes `{"auths": {host: {"auth": base64(user:password)}}}` into a new 0700 directory.
pub fn private_config(
    host: &str,
    user: &str,
    password: &Secret,
) -> Result<PrivateConfig, AuthError> {
    let dir = tempfile::Builder::new()
        .prefix("cutover-docker-")
        .tempdir()
        .map_err(AuthError::Io)?;
    set_mode(dir.path(), 0o700)?;
    let auth = base64_encode(format!("{user}:{}", password.expose()).as_bytes());
    let body = serde_json::json!({ "auths": { host: { "auth": auth } } });
    let path = dir.path().join("config.json");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(AuthError::Io)?;
    f.write_all(body.to_string().as_bytes())
        .map_err(AuthError::Io)?;
    let mut redactor = Redactor::default();
    redactor.add(password);
    redactor.add_raw(&auth);
    Ok(PrivateConfig { dir, redactor })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(AuthError::Io)?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Asks ECR for a registry token and splits it into user and password.
pub async fn ecr_login(
    sdk: &aws_config::SdkConfig,
    registry: &str,
    account: &str,
) -> Result<(String, Secret), AuthError> {
    let ecr = aws_sdk_ecr::Client::new(sdk);
    #[allow(deprecated)] // registryIds is deprecated but still selects the account's registry.
    let out = ecr
        .get_authorization_token()
        .registry_ids(account)
        .send()
        .await
        .map_err(|e| {
            let err = crate::aws::AwsError::new("ecr:GetAuthorizationToken", &e, false);
            AuthError::Ecr {
                registry: registry.to_string(),
                hint: err.hint(sdk.region().map(|r| r.as_ref())),
                detail: err.detail,
            }
        })?;
    let token = out
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .ok_or_else(|| AuthError::EmptyToken(registry.to_string()))?;
    let decoded = base64_decode(token)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| AuthError::EmptyToken(registry.to_string()))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| AuthError::EmptyToken(registry.to_string()))?;
    Ok((user.to_string(), Secret::new(password)))
}

/// Whether the ECR repository's tags are immutable (`IMMUTABLE` or `IMMUTABLE_WITH_EXCLUSION`);
/// `None` when ECR cannot tell (no permission, no repository): the caller's setting then decides.
pub async fn ecr_tags_immutable(
    sdk: &aws_config::SdkConfig,
    account: &str,
    name: &str,
) -> Option<bool> {
    let ecr = aws_sdk_ecr::Client::new(sdk);
    let out = ecr
        .describe_repositories()
        .registry_id(account)
        .repository_names(name)
        .send()
        .await
        .ok()?;
    let mutability = out
        .repositories()
        .first()?
        .image_tag_mutability()?
        .as_str()
        .to_string();
    Some(mutability.starts_with("IMMUTABLE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_config_is_private_and_removed() {
        let pw = Secret::new("s3cr3t-token-value");
        let cfg = private_config("127.0.0.1:5000", "AWS", &pw).unwrap();
        let dir = cfg.dir.path().to_path_buf();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
                0o700
            );
            let m = std::fs::metadata(dir.join("config.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
        assert!(!text.contains("s3cr3t"), "stored base64 as Docker does");
        assert_eq!(cfg.redactor.clean(&text).matches("****").count(), 1);
        drop(cfg);
        assert!(!dir.exists());
    }
}
