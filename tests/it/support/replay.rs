//! The SDK's replay client fed with the recorded bodies of `tests/it/replay/` (see its
//! README for where each shape comes from): cutover's live code runs unchanged against it, with
//! the real SDK deserializers, for what moto cannot show. Each step names the operation it
//! answers; [`Replay::operations`] gives the operations cutover actually called, in order, from
//! the requests' `x-amz-target` header, and [`Replay::body`] a request's JSON body.

use std::time::Duration;

use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use cutover::live::Aws;

use super::repo_path;

/// One answer: the operation it is for (e.g. `GetDeployment`), the HTTP status and the body file.
pub struct Step {
    pub operation: &'static str,
    pub status: u16,
    pub file: &'static str,
}

/// A 200 answer to `operation` with the body in `tests/it/replay/FILE`.
pub fn ok(operation: &'static str, file: &'static str) -> Step {
    Step {
        operation,
        status: 200,
        file,
    }
}

/// An error answer (HTTP 400) with the body in `FILE`.
pub fn err(operation: &'static str, file: &'static str) -> Step {
    Step {
        operation,
        status: 400,
        file,
    }
}

/// One poll of a deployment past Created: GetDeployment, ListDeploymentTargets,
/// GetDeploymentTarget.
pub fn poll(deployment: &'static str, target: &'static str) -> [Step; 3] {
    [
        ok("GetDeployment", deployment),
        ok("ListDeploymentTargets", "list-deployment-targets.json"),
        ok("GetDeploymentTarget", target),
    ]
}

pub struct Replay {
    pub client: StaticReplayClient,
    pub expected: Vec<&'static str>,
}

impl Replay {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Replay {
        let mut expected = Vec::new();
        let events = steps
            .into_iter()
            .map(|s| {
                expected.push(s.operation);
                let body =
                    std::fs::read_to_string(repo_path(&format!("tests/it/replay/{}", s.file)))
                        .unwrap_or_else(|e| panic!("tests/it/replay/{}: {e}", s.file));
                let request = http::Request::builder()
                    .uri("https://replay.invalid/")
                    .body(SdkBody::empty())
                    .unwrap();
                // JSON protocols, or the Query protocol's XML (ELBv2).
                let content_type = if s.file.ends_with(".xml") {
                    "text/xml"
                } else {
                    "application/x-amz-json-1.1"
                };
                let response = http::Response::builder()
                    .status(s.status)
                    .header("content-type", content_type)
                    .body(SdkBody::from(body))
                    .unwrap();
                ReplayEvent::new(request, response)
            })
            .collect();
        Replay {
            client: StaticReplayClient::new(events),
            expected,
        }
    }

    /// The live configuration cutover gets: the replay client as the HTTP client, throwaway
    /// credentials, retries with a 1 ms first back-off.
    pub fn aws(&self) -> Aws {
        use aws_config::retry::RetryConfig;
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "replay");
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(creds),
            )
            .http_client(self.client.clone())
            .behavior_version(aws_config::BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
            .build();
        Aws {
            sdk,
            region: "us-east-1".into(),
        }
    }

    /// The operations cutover called, in order: from `x-amz-target` for the JSON protocols
    /// (`CodeDeploy_20141006.GetDeployment` → `GetDeployment`), the `Action=` of a Query
    /// protocol body (ELBv2), or the REST path of Lambda's GetFunctionConfiguration.
    pub fn operations(&self) -> Vec<String> {
        self.client
            .actual_requests()
            .map(|r| {
                if let Some(t) = r.headers().get("x-amz-target") {
                    return t.rsplit('.').next().unwrap_or(t).to_string();
                }
                let body =
                    String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).to_string();
                if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
                    return action.to_string();
                }
                if r.uri().contains("/functions/") && r.uri().ends_with("/configuration") {
                    return "GetFunctionConfiguration".into();
                }
                format!("{} {}", r.method(), r.uri())
            })
            .collect()
    }

    /// Asserts that cutover called exactly the operations the steps answer, in their order.
    pub fn assert_called_in_order(&self) {
        assert_eq!(self.operations(), self.expected, "the calls cutover made");
    }

    /// The JSON body of the `n`th request.
    pub fn body(&self, n: usize) -> serde_json::Value {
        let r = self.client.actual_requests().nth(n).expect("request");
        serde_json::from_slice(r.body().bytes().unwrap_or_default()).unwrap_or_default()
    }

    /// The index of the first request to `operation`.
    pub fn index_of(&self, operation: &str) -> Option<usize> {
        self.operations().iter().position(|o| o == operation)
    }
}

/// The three reads of a failed deployment's diagnosis: the service's events, then its stopped
/// tasks (ListTasks, DescribeTasks).
pub fn diagnosis() -> [Step; 3] {
    [
        ok("DescribeServices", "ecs-describe-services.json"),
        ok("ListTasks", "ecs-list-tasks.json"),
        ok("DescribeTasks", "ecs-describe-tasks.json"),
    ]
}

/// Follows deployment `id` through the replay and returns its end and every change seen.
pub async fn follow(
    replay: &Replay,
    group: &cutover::live::deployment::Group,
    id: &str,
    opts: &cutover::live::deployment::FollowOptions,
) -> (
    cutover::live::deployment::Followed,
    Vec<cutover::live::deployment::Change>,
) {
    use cutover::live::deployment::Change;
    let seen = std::sync::Mutex::new(Vec::new());
    let on = |c: &Change| seen.lock().unwrap().push(c.clone());
    let f = cutover::live::deployment::follow(
        &replay.aws(),
        group,
        id,
        opts,
        std::future::pending(),
        &on,
    )
    .await
    .expect("follow");
    (f, seen.into_inner().unwrap())
}
