//! The blue/green lifecycle as data (pure): CodeDeploy's ECS deployment events in their order,
//! which of them take hooks, the traffic schedule of a deployment configuration ([`traffic`]),
//! and the one report shape every driver fills in (the local engine, `crate::local`, and the
//! live CodeDeploy watcher, `crate::live::deployment`). No I/O here.

pub mod traffic;

use serde::{Deserialize, Serialize};

use crate::artifacts::appspec::HookEvent;

/// One lifecycle event of a CodeDeploy ECS blue/green deployment, in CodeDeploy's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Event {
    BeforeInstall,
    /// The replacement (green) task set starts and becomes healthy in the second target group.
    Install,
    AfterInstall,
    /// The test listener points at green.
    AllowTestTraffic,
    AfterAllowTestTraffic,
    BeforeAllowTraffic,
    /// Production moves to green per the deployment configuration.
    AllowTraffic,
    AfterAllowTraffic,
    /// The termination wait, then the original (blue) task set drains and stops. CodeDeploy shows
    /// this as its last step; it takes no hook.
    TerminateBlue,
}

/// An ECS-native deployment's lifecycle stages, in ECS's order (PRE_PRODUCTION_TRAFFIC_SHIFT:
/// before each traffic step of a linear or canary deployment).
pub const ECS_STAGES: [&str; 11] = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

impl Event {
    pub const ALL: [Event; 9] = [
        Event::BeforeInstall,
        Event::Install,
        Event::AfterInstall,
        Event::AllowTestTraffic,
        Event::AfterAllowTestTraffic,
        Event::BeforeAllowTraffic,
        Event::AllowTraffic,
        Event::AfterAllowTraffic,
        Event::TerminateBlue,
    ];

    /// The event CodeDeploy names `name` (its lifecycle event names are these enum's).
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.iter().copied().find(|e| e.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Event::BeforeInstall => "BeforeInstall",
            Event::Install => "Install",
            Event::AfterInstall => "AfterInstall",
            Event::AllowTestTraffic => "AllowTestTraffic",
            Event::AfterAllowTestTraffic => "AfterAllowTestTraffic",
            Event::BeforeAllowTraffic => "BeforeAllowTraffic",
            Event::AllowTraffic => "AllowTraffic",
            Event::AfterAllowTraffic => "AfterAllowTraffic",
            Event::TerminateBlue => "TerminateBlue",
        }
    }

    /// The event an ECS-native deployment's lifecycle stage falls in: the two models share the
    /// events, PRE_PRODUCTION_TRAFFIC_SHIFT (before each traffic step) is BeforeAllowTraffic,
    /// and the bake time and clean-up are the termination of blue.
    pub fn from_ecs_stage(stage: &str) -> Option<Event> {
        Some(match stage {
            "RECONCILE_SERVICE" | "PRE_SCALE_UP" => Event::BeforeInstall,
            "SCALE_UP" => Event::Install,
            "POST_SCALE_UP" => Event::AfterInstall,
            "TEST_TRAFFIC_SHIFT" => Event::AllowTestTraffic,
            "POST_TEST_TRAFFIC_SHIFT" => Event::AfterAllowTestTraffic,
            "PRE_PRODUCTION_TRAFFIC_SHIFT" => Event::BeforeAllowTraffic,
            "PRODUCTION_TRAFFIC_SHIFT" => Event::AllowTraffic,
            "POST_PRODUCTION_TRAFFIC_SHIFT" => Event::AfterAllowTraffic,
            "BAKE_TIME" | "CLEAN_UP" => Event::TerminateBlue,
            _ => return None,
        })
    }

    /// The AppSpec hook this event runs, if it is one of the five that take one.
    pub fn hook(self) -> Option<HookEvent> {
        HookEvent::parse(self.as_str())
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle event's status, with CodeDeploy's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    /// Not run: the deployment ended before it, or a hook event with no hook.
    Skipped,
    /// CodeDeploy could not tell (its `Unknown`).
    Unknown,
}

impl EventStatus {
    /// CodeDeploy's `LifecycleEventStatus` name.
    pub fn parse(name: &str) -> Option<EventStatus> {
        Some(match name {
            "Pending" => EventStatus::Pending,
            "InProgress" => EventStatus::InProgress,
            "Succeeded" => EventStatus::Succeeded,
            "Failed" => EventStatus::Failed,
            "Skipped" => EventStatus::Skipped,
            "Unknown" => EventStatus::Unknown,
            _ => return None,
        })
    }
}

/// A deployment's status, with CodeDeploy's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    Created,
    /// Waiting for another deployment of the group to end.
    Queued,
    InProgress,
    /// Green is installed and tested; the deployment waits for ContinueDeployment
    /// (`deploymentReadyOption` STOP_DEPLOYMENT).
    Ready,
    /// Production is on green; the termination wait keeps blue (CodeDeploy's `Baking`).
    Baking,
    Succeeded,
    /// Failed and rolled back.
    Failed,
    /// Stopped on request (Ctrl-C) and rolled back.
    Stopped,
}

impl DeploymentStatus {
    /// CodeDeploy's `DeploymentStatus` name.
    pub fn parse(name: &str) -> Option<DeploymentStatus> {
        Some(match name {
            "Created" => DeploymentStatus::Created,
            "Queued" => DeploymentStatus::Queued,
            "InProgress" => DeploymentStatus::InProgress,
            "Ready" => DeploymentStatus::Ready,
            "Baking" => DeploymentStatus::Baking,
            "Succeeded" => DeploymentStatus::Succeeded,
            "Failed" => DeploymentStatus::Failed,
            "Stopped" => DeploymentStatus::Stopped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Created => "Created",
            DeploymentStatus::Queued => "Queued",
            DeploymentStatus::InProgress => "InProgress",
            DeploymentStatus::Ready => "Ready",
            DeploymentStatus::Baking => "Baking",
            DeploymentStatus::Succeeded => "Succeeded",
            DeploymentStatus::Failed => "Failed",
            DeploymentStatus::Stopped => "Stopped",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
        )
    }
}

/// One event as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRecord {
    pub name: Event,
    pub status: EventStatus,
    /// RFC 3339 UTC; `None` when it did not start.
    pub start: Option<String>,
    pub end: Option<String>,
    pub start_unix_us: Option<u64>,
    pub end_unix_us: Option<u64>,
    /// The hook's function (as the AppSpec names it), for a hook event that has one.
    pub hook: Option<String>,
    /// Why it failed, or what it did (e.g. the hook's last output lines).
    pub message: Option<String>,
}

impl EventRecord {
    pub fn pending(name: Event, hook: Option<String>) -> EventRecord {
        EventRecord {
            name,
            status: EventStatus::Pending,
            start: None,
            end: None,
            start_unix_us: None,
            end_unix_us: None,
            hook,
            message: None,
        }
    }
}

/// Why a deployment failed, as CodeDeploy's `errorInformation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorInfo {
    /// CodeDeploy's error code where one fits: `HEALTH_CONSTRAINTS`, `ECS_UPDATE_ERROR`,
    /// `HOOK_FAILED` (a local name: CodeDeploy reports hook failures by event),
    /// `TIMEOUT`, `MANUAL_STOP`.
    pub code: String,
    /// The event it happened in.
    pub event: Event,
    pub message: String,
}

/// A point on the traffic timeline: from this instant on, green had this share of production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    pub unix_us: u64,
    pub green_percent: u8,
}

/// A deployment's report: the same shape whichever driver ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentReport {
    pub id: String,
    pub status: DeploymentStatus,
    /// CodeDeploy's name of the deployment configuration.
    pub deployment_config: String,
    /// The revision that served before, and the one deployed (locally: the service's numbered
    /// revisions; live: the task definition's revision numbers).
    pub from_revision: Option<u32>,
    pub to_revision: u32,
    pub events: Vec<EventRecord>,
    /// Production's share to green over time, from the first shift (and back, on a rollback).
    pub traffic: Vec<Weight>,
    pub error: Option<ErrorInfo>,
    /// Traffic went back to the original task set and the replacement was removed.
    pub rolled_back: bool,
    pub start: String,
    pub end: Option<String>,
    /// What this driver did differently from AWS, one line each.
    pub notes: Vec<String>,
}

/// The lifecycle a deployment runs: every event, with the AppSpec's hook function where it names
/// one.
pub fn plan_events(hooks: &[(HookEvent, String)]) -> Vec<EventRecord> {
    Event::ALL
        .iter()
        .map(|&e| {
            let hook = e
                .hook()
                .and_then(|h| hooks.iter().find(|(k, _)| *k == h).map(|(_, f)| f.clone()));
            EventRecord::pending(e, hook)
        })
        .collect()
}

/// The event that was running at `unix_us` (the last one started at or before it), if any.
pub fn event_at(events: &[EventRecord], unix_us: u64) -> Option<Event> {
    events
        .iter()
        .filter(|e| e.start_unix_us.is_some_and(|s| s <= unix_us))
        .max_by_key(|e| e.start_unix_us)
        .map(|e| e.name)
}

/// Green's share of production at `unix_us`: 0 before the first shift.
pub fn weight_at(traffic: &[Weight], unix_us: u64) -> u8 {
    traffic
        .iter()
        .filter(|w| w.unix_us <= unix_us)
        .max_by_key(|w| w.unix_us)
        .map_or(0, |w| w.green_percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_in_codedeploys_order_and_five_take_hooks() {
        let hookable: Vec<_> = Event::ALL.iter().filter_map(|e| e.hook()).collect();
        assert_eq!(hookable, HookEvent::ALL.to_vec());
        let mut sorted = Event::ALL;
        sorted.sort();
        assert_eq!(sorted, Event::ALL);
        assert_eq!(Event::Install.hook(), None);
    }

    #[test]
    fn ecs_stages_fall_in_the_events_in_order() {
        let stages = ECS_STAGES;
        let events: Vec<Event> = stages
            .iter()
            .filter_map(|s| Event::from_ecs_stage(s))
            .collect();
        assert_eq!(events.len(), stages.len());
        assert!(events.windows(2).all(|w| w[0] <= w[1]), "{events:?}");
        assert_eq!(Event::from_ecs_stage("SOMETHING_NEW"), None);
    }

    #[test]
    fn plan_attaches_hooks_by_event() {
        let plan = plan_events(&[(HookEvent::AfterAllowTestTraffic, "smoke".into())]);
        assert_eq!(plan.len(), 9);
        let with: Vec<_> = plan.iter().filter(|e| e.hook.is_some()).collect();
        assert_eq!(with.len(), 1);
        assert_eq!(with[0].name, Event::AfterAllowTestTraffic);
        assert!(plan.iter().all(|e| e.status == EventStatus::Pending));
    }

    #[test]
    fn ties_an_instant_to_its_event_and_weight() {
        let mut events = plan_events(&[]);
        events[1].start_unix_us = Some(100);
        events[6].start_unix_us = Some(500);
        assert_eq!(event_at(&events, 50), None);
        assert_eq!(event_at(&events, 100), Some(Event::Install));
        assert_eq!(event_at(&events, 499), Some(Event::Install));
        assert_eq!(event_at(&events, 900), Some(Event::AllowTraffic));
        let traffic = [
            Weight {
                unix_us: 500,
                green_percent: 10,
            },
            Weight {
                unix_us: 700,
                green_percent: 100,
            },
        ];
        assert_eq!(weight_at(&traffic, 499), 0);
        assert_eq!(weight_at(&traffic, 600), 10);
        assert_eq!(weight_at(&traffic, 700), 100);
    }
}
