//! The one place that builds the AWS SDK configuration, and how SDK errors become one clear line
//! with a hint. The standard variables (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! credentials) work through aws-config with no code of ours.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};

/// Loads the SDK configuration; `region` wins over the environment's when given.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    loader.load().await
}

/// One line for an SDK error, classified by its kind (never by message text).
pub fn error_text<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("ServiceError"),
                err.message().unwrap_or("no message")
            )
        }
        SdkError::DispatchFailure(_) => format!("the request could not be sent ({})", chain(e)),
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        SdkError::ConstructionFailure(_) => {
            format!("the request could not be built ({})", chain(e))
        }
        SdkError::ResponseError(_) => format!("the response could not be read ({})", chain(e)),
        _ => chain(e),
    }
}

/// A hint for the common causes: no credentials, no region, no network, access denied.
pub fn hint(text: &str) -> String {
    let t = text.to_ascii_lowercase();
    if t.contains("credential") {
        "configure AWS credentials (AWS_PROFILE, or the CodeBuild role); cutover uses the standard chain".into()
    } else if t.contains("region") {
        "set AWS_REGION (for ECR, the region in the repository URI is used)".into()
    } else if t.contains("accessdenied") || t.contains("not authorized") {
        "the role needs ecr:GetAuthorizationToken (and push rights on the repository)".into()
    } else if t.contains("could not be sent") || t.contains("timed out") {
        "check the network, or AWS_ENDPOINT_URL if you point cutover at another endpoint".into()
    } else {
        "see the AWS error above".into()
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}
