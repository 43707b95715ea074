//! The one place that builds the AWS SDK configuration (region, retries), and how SDK errors
//! become one clear line with a hint. The standard variables (`AWS_PROFILE`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, credentials, `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`) work through aws-config
//! with no code of ours. Errors are classified by their kind and error code, never by message
//! text. [`RawBody`] keeps the JSON an operation answered, for the commands that must not lose
//! fields the SDK's types do not model (task definitions, pipeline declarations, projects).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

use crate::env_vars;

/// Attempts per request (the SDK's default is 3). ECS and CodeDeploy describe calls are throttled
/// often when several tools poll one account; standard mode backs off exponentially with jitter.
pub const MAX_ATTEMPTS: u32 = 8;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Loads the SDK configuration; `region` wins over the environment's when given.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(retry) = retry_config(|name| std::env::var_os(name).is_some()) {
        loader = loader.retry_config(retry);
    }
    loader.http_client(http_client()).load().await
}

/// The HTTPS client of every SDK client cutover makes: the SDK's own (hyper 1.x, rustls, proxy
/// settings from the environment) as `aws-smithy-runtime` builds it, with ring in place of aws-lc
/// (no C build), wrapped in [`FailFast`]. The SDK crates are built without a default client, so
/// an SDK configuration without this one cannot send a request.
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(FailFast(https_client()))
}

fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ));
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    })
}

/// An HTTP client whose connection failures that no retry can mend (connection refused, a host
/// name that does not resolve) reach the SDK as errors it does not retry: a wrong endpoint or
/// region then fails in a second with the usual one-line error, not after half a minute of
/// back-off. Timeouts, resets and 5xx answers are still retried.
#[derive(Debug)]
struct FailFast(SharedHttpClient);

impl HttpClient for FailFast {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FailFastConnector(
            self.0.http_connector(settings, components),
        ))
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_base_client_config(components, cfg)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[derive(Debug)]
struct FailFastConnector(SharedHttpConnector);

impl HttpConnector for FailFastConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = self.0.call(request);
        HttpConnectorFuture::new(async move {
            call.await.map_err(|e| {
                if !e.is_timeout() && is_connect_failure(&e) {
                    ConnectorError::other(Box::new(NotConnected(e.into_source())), None)
                } else {
                    e
                }
            })
        })
    }
}

/// The endpoint refused the connection or its name did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("no connection to the endpoint")]
struct NotConnected(#[source] BoxError);

/// A failure no retry mends, found by type in the chain: the endpoint refused the TCP connection
/// (`io::ErrorKind::ConnectionRefused`), or the connector failed to resolve the host name. Other
/// connect-phase failures (a reset during the TLS handshake, an unreachable network, a proxy's
/// 5xx) stay retryable. A temporary resolver failure (`EAI_AGAIN`) stays retryable too; the OS
/// reports it only as text, so that one case is told by glibc's wording.
fn is_connect_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut connect_phase = false;
    let mut io_kinds = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<aws_smithy_runtime_api::client::dns::ResolveDnsError>() {
            return true;
        }
        if let Some(h) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
            connect_phase |= h.is_connect();
        }
        // An io::Error's payload is reached through get_ref, not source.
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => {
                io_kinds.push((io.kind(), io.to_string()));
                io.get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => err.source(),
        };
    }
    connect_phase
        && io_kinds.iter().any(|(kind, text)| {
            *kind == std::io::ErrorKind::ConnectionRefused
                || (text.starts_with("failed to lookup address information")
                    && !text.contains("Temporary failure"))
        })
}

/// The first error of type `T` in `e`'s source chain, `e` included.
fn in_chain<'e, T: std::error::Error + 'static>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    std::iter::successors(Some(e), |err| err.source()).find_map(|err| err.downcast_ref::<T>())
}

fn is_not_connected(e: &(dyn std::error::Error + 'static)) -> bool {
    in_chain::<NotConnected>(e).is_some()
}

/// cutover's retry policy: standard mode with [`MAX_ATTEMPTS`], unless the user chose one through
/// `AWS_MAX_ATTEMPTS` or `AWS_RETRY_MODE` (aws-config then reads those itself).
pub fn retry_config(is_set: impl Fn(&str) -> bool) -> Option<RetryConfig> {
    if is_set(env_vars::AWS_MAX_ATTEMPTS) || is_set(env_vars::AWS_RETRY_MODE) {
        return None;
    }
    Some(
        RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_max_backoff(MAX_BACKOFF),
    )
}

/// What kind of failure an AWS call had, from the error's variant and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The service answered that the resource does not exist (the caller knows which codes).
    NotFound,
    /// The credentials work but lack a permission.
    AccessDenied,
    /// No credentials, or the service refused them (unknown key, bad signature, expired token).
    Credentials,
    /// Still throttled after every retry.
    Throttled,
    /// No answer: connection refused, DNS failure (often a mistyped region), timeout.
    Unreachable,
    /// Anything else the service or the SDK reported.
    Other,
}

impl Kind {
    /// Whether the run cannot go on at all: every further call would fail the same way.
    pub fn is_fatal(self) -> bool {
        matches!(self, Kind::Credentials | Kind::Unreachable)
    }
}

/// Error codes of refused credentials, across the services cutover calls.
const CREDENTIAL_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
];
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnauthorizedException",
];
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// One failed AWS call: which operation, what kind of failure, and the service's own words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct AwsError {
    /// The IAM action name of the call, e.g. `ecs:DescribeServices`.
    pub operation: &'static str,
    pub kind: Kind,
    /// The service's error code, when it answered.
    pub code: Option<String>,
    pub detail: String,
}

impl AwsError {
    /// Classifies an SDK error; `not_found` says whether the service's error means "no such
    /// resource" (the caller matches its typed error, e.g. `is_cluster_not_found_exception()`).
    pub fn new<E, R>(operation: &'static str, e: &SdkError<E, R>, not_found: bool) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let code = match e {
            SdkError::ServiceError(se) => se.err().code().map(str::to_string),
            _ => None,
        };
        let kind = if not_found {
            Kind::NotFound
        } else {
            classify(e, code.as_deref())
        };
        // The credential chain lists every provider it tried, one per line; one line is enough.
        let detail = match credentials_error(e) {
            Some(c) => format!(
                "no usable AWS credentials ({})",
                c.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(" Attempted:")
                    .trim_end_matches('.')
            ),
            None => error_text(e),
        };
        AwsError {
            operation,
            kind,
            code,
            detail,
        }
    }

    /// What to do about it, for the `hint:` line.
    pub fn hint(&self, region: Option<&str>) -> String {
        let region = region.unwrap_or("(none)");
        match self.kind {
            Kind::Credentials => format!(
                "configure AWS credentials for region `{region}` (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the CodeBuild role); cutover uses the standard chain"
            ),
            Kind::AccessDenied => format!("allow `{}` to the role cutover runs as", self.operation),
            Kind::Throttled => format!(
                "AWS kept throttling after {MAX_ATTEMPTS} attempts; try again later, or raise AWS_MAX_ATTEMPTS"
            ),
            Kind::Unreachable => format!(
                "check the region `{region}` (AWS_REGION or [service] region), the network, and AWS_ENDPOINT_URL if set"
            ),
            Kind::NotFound => format!("check the name and the region `{region}`"),
            Kind::Other => "see the AWS error above".to_string(),
        }
    }

    /// The error with its hint, as one message for people.
    pub fn explain(&self, region: Option<&str>) -> String {
        format!("{self}\n  hint: {}", self.hint(region))
    }
}

fn classify<E, R>(e: &SdkError<E, R>, code: Option<&str>) -> Kind
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if credentials_error(e).is_some() {
        return Kind::Credentials;
    }
    match e {
        SdkError::ServiceError(_) => match code {
            Some(c) if CREDENTIAL_CODES.contains(&c) => Kind::Credentials,
            Some(c) if ACCESS_DENIED_CODES.contains(&c) => Kind::AccessDenied,
            Some(c) if THROTTLING_CODES.contains(&c) => Kind::Throttled,
            _ => Kind::Other,
        },
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Kind::Unreachable,
        SdkError::DispatchFailure(_) if is_not_connected(e) => Kind::Unreachable,
        SdkError::TimeoutError(_) => Kind::Unreachable,
        _ => Kind::Other,
    }
}

/// The text of a credentials provider failure somewhere in the chain (found by type).
fn credentials_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    in_chain::<aws_credential_types::provider::error::CredentialsError>(e).map(ToString::to_string)
}

/// One line for an SDK error, by its variant (never by message text).
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

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Keeps the body of the last response an operation deserialized. Attach it with
/// `.customize().interceptor(raw.clone())` on one call; [`RawBody::json`] then gives the service's
/// JSON exactly as sent, with fields this SDK version does not model.
#[derive(Debug, Clone, Default)]
pub struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl RawBody {
    /// The captured body parsed as JSON, if the call succeeded and answered JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        let guard = self.0.lock().ok()?;
        serde_json::from_slice(guard.as_deref()?).ok()
    }
}

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "cutover::aws::RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Non-streaming operations have their body loaded into memory by now.
        if let Some(bytes) = context.response().body().bytes() {
            if let Ok(mut slot) = self.0.lock() {
                *slot = Some(bytes.to_vec());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_more_than_the_sdk_default_unless_the_user_chose() {
        let rc = retry_config(|_| false).expect("a retry config");
        assert_eq!(rc.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(rc.mode(), aws_config::retry::RetryMode::Standard);
        assert!(retry_config(|n| n == "AWS_MAX_ATTEMPTS").is_none());
        assert!(retry_config(|n| n == "AWS_RETRY_MODE").is_none());
    }

    fn service_error(
        code: &str,
    ) -> SdkError<
        aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError,
        aws_smithy_runtime_api::http::Response,
    > {
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code(code)
            .message("the service's words")
            .build();
        SdkError::service_error(
            aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError::generic(meta),
            aws_smithy_runtime_api::http::Response::new(
                400.try_into().expect("a status code"),
                aws_smithy_types::body::SdkBody::empty(),
            ),
        )
    }

    #[test]
    fn service_errors_are_classified_by_their_code() {
        for (code, kind) in [
            ("AccessDeniedException", Kind::AccessDenied),
            ("AccessDenied", Kind::AccessDenied),
            ("UnrecognizedClientException", Kind::Credentials),
            ("InvalidClientTokenId", Kind::Credentials),
            ("ExpiredTokenException", Kind::Credentials),
            ("ThrottlingException", Kind::Throttled),
            ("ValidationException", Kind::Other),
        ] {
            let e = AwsError::new("ecr:DescribeRepositories", &service_error(code), false);
            assert_eq!(e.kind, kind, "{code}");
            assert_eq!(e.code.as_deref(), Some(code));
            assert_eq!(
                e.to_string(),
                format!("ecr:DescribeRepositories failed: {code}: the service's words")
            );
        }
        let nf = AwsError::new(
            "ecr:DescribeRepositories",
            &service_error("RepositoryNotFoundException"),
            true,
        );
        assert_eq!(nf.kind, Kind::NotFound);
        assert!(nf.hint(Some("eu-west-1")).contains("`eu-west-1`"));
    }

    #[test]
    fn access_denied_hint_names_the_action() {
        let e = AwsError {
            operation: "ecs:DescribeServices",
            kind: Kind::AccessDenied,
            code: Some("AccessDeniedException".into()),
            detail: "AccessDeniedException: no".into(),
        };
        assert!(e.hint(Some("eu-west-1")).contains("ecs:DescribeServices"));
        assert!(!Kind::AccessDenied.is_fatal());
        assert!(Kind::Credentials.is_fatal());
    }
}
