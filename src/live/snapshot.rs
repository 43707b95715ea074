//! A deployment as one poll sees it, whichever API it comes from (pure): [`Snapshot`] with its
//! events on the shared lifecycle model, its task sets and traffic; [`changes`] between two polls,
//! one [`Change`] a line of output; what a stop or continue was answered ([`Answer`]) and what a
//! create made ([`Created`]). The CodeDeploy mapping is in [`super::deployment`], the ECS-native
//! one in [`super::native`]; both fill this.

use serde::Serialize;

use crate::lifecycle::{DeploymentStatus, ErrorInfo, Event, EventRecord, EventStatus};

/// What [`super::deployment::create`] or [`super::native::create`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub deployment_id: String,
    pub task_definition_arn: String,
    /// The AppSpec as sent, `<TASK_DEFINITION>` replaced.
    pub appspec_content: String,
}

/// One ECS task set of the deployment, as GetDeploymentTarget shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSet {
    pub id: String,
    /// `BLUE` or `GREEN` (CodeDeploy's `Blue`/`Green`, upper-cased).
    pub label: String,
    pub status: String,
    pub desired: i64,
    pub pending: i64,
    pub running: i64,
    /// Production's share, in percent.
    pub traffic_weight: f64,
    /// The test listener's share, in percent, where the API gives it (ECS-native).
    pub test_traffic_weight: Option<f64>,
    pub target_group: Option<String>,
}

/// The deployment's overview counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Overview {
    pub pending: i64,
    pub in_progress: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    pub ready: i64,
}

/// One poll's view of a deployment (pure, from GetDeployment and GetDeploymentTarget).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub status: DeploymentStatus,
    pub application: String,
    pub deployment_group: String,
    pub deployment_config: String,
    /// The green task definition, from the AppSpec content.
    pub task_definition_arn: Option<String>,
    /// The events, in CodeDeploy's order; a failed one's `message` holds its diagnostics.
    pub events: Vec<EventRecord>,
    pub task_sets: Vec<TaskSet>,
    pub overview: Option<Overview>,
    pub error: Option<ErrorInfo>,
    /// rollbackInfo's message, when CodeDeploy rolled back.
    pub rollback: Option<String>,
    /// The deployment CodeDeploy started to roll this one back, when it names one.
    pub rollback_deployment: Option<String>,
    /// The group waits at Ready for ContinueDeployment (`deploymentReadyOption` STOP_DEPLOYMENT).
    pub waits_at_ready: bool,
    /// How long blue is kept after production moved: CodeDeploy's termination wait, or ECS's
    /// bake time, in minutes, when the deployment says.
    pub bake_minutes: Option<u32>,
    pub create_unix_us: Option<u64>,
    pub complete_unix_us: Option<u64>,
}

pub(super) fn unix_us(t: &aws_smithy_types::DateTime) -> u64 {
    u64::try_from(t.secs()).unwrap_or(0) * 1_000_000 + u64::from(t.subsec_nanos() / 1000)
}

/// The first task definition ARN in an AppSpec's text.
pub fn task_definition_in(appspec: &str) -> Option<String> {
    appspec.match_indices("arn:aws").find_map(|(start, _)| {
        let rest = &appspec[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}'))
            .unwrap_or(rest.len());
        let arn = &rest[..end];
        arn.contains(":task-definition/").then(|| arn.to_string())
    })
}

/// The revision number at the end of a task definition ARN (`...:task-definition/app:7` → 7).
pub fn revision_of(arn: &str) -> Option<u32> {
    arn.rsplit(':').next().and_then(|n| n.parse().ok())
}

impl Snapshot {
    /// Green's share of production, when the target shows a green task set.
    pub fn green_weight(&self) -> Option<f64> {
        self.task_sets
            .iter()
            .find(|t| t.label == "GREEN")
            .map(|t| t.traffic_weight)
    }

    /// The event running now (the last one started and not ended), else the last one ended.
    pub fn current_event(&self) -> Option<&EventRecord> {
        self.events
            .iter()
            .rev()
            .find(|e| e.status == EventStatus::InProgress)
            .or_else(|| self.events.iter().rev().find(|e| e.start_unix_us.is_some()))
    }

    /// One line for a status display: status, event, green's share, task counts.
    pub fn status_line(&self) -> String {
        let mut s = format!("deployment {} {}", self.id, self.status.as_str());
        if let Some(e) = self.current_event() {
            s.push_str(&format!(" · {} {:?}", e.name, e.status));
        }
        if let Some(w) = self.green_weight() {
            s.push_str(&format!(" · green {w}%"));
        }
        for t in &self.task_sets {
            s.push_str(&format!(
                " · {} {}/{} running",
                t.label.to_lowercase(),
                t.running,
                t.desired
            ));
        }
        s
    }

    /// A snapshot of a deployment not seen yet.
    pub fn unseen(id: &str) -> Snapshot {
        Snapshot {
            id: id.to_string(),
            status: DeploymentStatus::Created,
            application: String::new(),
            deployment_group: String::new(),
            deployment_config: String::new(),
            task_definition_arn: None,
            events: crate::lifecycle::plan_events(&[]),
            task_sets: Vec::new(),
            overview: None,
            error: None,
            rollback: None,
            rollback_deployment: None,
            waits_at_ready: false,
            bake_minutes: None,
            create_unix_us: None,
            complete_unix_us: None,
        }
    }
}

/// What changed between two polls, one item per line of output (pure).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Status {
        deployment_id: String,
        status: DeploymentStatus,
    },
    Event {
        name: Event,
        status: EventStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    TaskSet(TaskSet),
    /// Something cutover did or saw: the gates, a continue, a stop.
    Note {
        text: String,
    },
}

impl Change {
    /// The line people read.
    pub fn text(&self) -> String {
        match self {
            Change::Status {
                deployment_id,
                status,
            } => format!("deployment {deployment_id}: {}", status.as_str()),
            Change::Event {
                name,
                status,
                message,
            } => {
                let mut s = format!("  {name:<22} {status:?}");
                if let Some(m) = message.as_deref().filter(|m| !m.is_empty()) {
                    for (i, line) in m.lines().enumerate() {
                        s.push_str(if i == 0 { ": " } else { "\n      " });
                        s.push_str(line);
                    }
                }
                s
            }
            Change::TaskSet(t) => format!(
                "  task set {} ({}): {} · desired {} running {} pending {} · traffic {}%{}",
                t.label.to_lowercase(),
                t.id,
                t.status,
                t.desired,
                t.running,
                t.pending,
                t.traffic_weight,
                t.test_traffic_weight
                    .map(|w| format!(", test {w}%"))
                    .unwrap_or_default()
            ),
            Change::Note { text } => text.clone(),
        }
    }
}

/// What changed from `before` to `now`: the status, each event whose status changed, each task
/// set whose counts, status or weight changed.
pub fn changes(before: Option<&Snapshot>, now: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    if before.map(|b| b.status) != Some(now.status) {
        out.push(Change::Status {
            deployment_id: now.id.clone(),
            status: now.status,
        });
    }
    for e in &now.events {
        let was = before.and_then(|b| b.events.iter().find(|x| x.name == e.name));
        let changed = match was {
            Some(w) => w.status != e.status,
            None => e.status != EventStatus::Pending,
        };
        if changed {
            out.push(Change::Event {
                name: e.name,
                status: e.status,
                message: (e.status == EventStatus::Failed)
                    .then(|| e.message.clone())
                    .flatten(),
            });
        }
    }
    for t in &now.task_sets {
        let was = before.and_then(|b| b.task_sets.iter().find(|x| x.id == t.id));
        if was != Some(t) {
            out.push(Change::TaskSet(t.clone()));
        }
    }
    out
}

/// What StopDeployment or ContinueDeployment answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted, with CodeDeploy's status and message when it gives them.
    Accepted(String),
    /// The deployment had already ended: nothing to stop or continue.
    AlreadyCompleted,
    /// ContinueDeployment: the deployment was not waiting (no longer at Ready, or not in its
    /// termination wait).
    NotWaiting,
}
