//! The AppSpec's hook functions run as local commands (`[local.functions]`): CodeDeploy invokes a
//! Lambda and waits for PutLifecycleEventHookExecutionStatus; here the command's exit status is
//! that answer (0 Succeeded, anything else Failed), and the timeout (one hour, as CodeDeploy's)
//! fails it. The command runs with `sh -c` in its own process group, its output in a log file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// What a hook gets in its environment.
pub struct HookCall<'a> {
    pub function: &'a str,
    pub command: &'a str,
    pub deployment_id: &'a str,
    pub event: &'a str,
    pub execution_id: String,
    pub test_url: String,
    pub production_url: String,
    /// The label value on the service's containers (`cutover.local.service`) and green's
    /// revision, so a hook can find green's containers (`docker ps --filter label=…`).
    pub service: &'a str,
    pub revision: u32,
    pub log: PathBuf,
    pub timeout: Duration,
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookResult {
    Succeeded,
    Failed { why: String },
}

/// Kills a hook's process group when dropped (the hook ended or was abandoned): whatever it
/// started in the background does not outlive its event.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self
            .0
            .and_then(|p| rustix::process::Pid::from_raw(i32::try_from(p).ok()?))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Runs one hook to its end (or its timeout, when its process group is killed).
pub async fn run(call: &HookCall<'_>) -> HookResult {
    let log = match std::fs::File::create(&call.log) {
        Ok(f) => f,
        Err(e) => {
            return HookResult::Failed {
                why: format!("cannot create the hook's log `{}`: {e}", call.log.display()),
            }
        }
    };
    let err = match log.try_clone() {
        Ok(f) => f,
        Err(e) => {
            return HookResult::Failed {
                why: format!("cannot open the hook's log: {e}"),
            }
        }
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(call.command)
        .env("CUTOVER_DEPLOYMENT_ID", call.deployment_id)
        .env("CUTOVER_LIFECYCLE_EVENT", call.event)
        .env(
            "CUTOVER_LIFECYCLE_EVENT_HOOK_EXECUTION_ID",
            &call.execution_id,
        )
        .env("CUTOVER_HOOK_FUNCTION", call.function)
        .env("CUTOVER_TEST_URL", &call.test_url)
        .env("CUTOVER_PRODUCTION_URL", &call.production_url)
        .env("CUTOVER_LOCAL_SERVICE", call.service)
        .env("CUTOVER_LOCAL_REVISION", call.revision.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return HookResult::Failed {
                why: format!("cannot run `sh -c {}`: {e}", call.command),
            }
        }
    };
    // If the hook is abandoned (an interrupt, green failing meanwhile), its whole process group
    // goes with it, not only `sh`.
    let group = GroupGuard(child.id());
    let tail = |log: &Path| {
        let t = crate::proc::log_tail(log, 5);
        if t.is_empty() {
            String::new()
        } else {
            format!("; its last output:\n{t}")
        }
    };
    match tokio::time::timeout(call.timeout, child.wait()).await {
        Ok(Ok(s)) if s.success() => HookResult::Succeeded,
        Ok(Ok(s)) => HookResult::Failed {
            why: format!(
                "hook `{}` ({}) {}{}",
                call.function,
                call.command,
                match s.code() {
                    Some(c) => format!("exited with code {c}"),
                    None => "was killed by a signal".into(),
                },
                tail(&call.log)
            ),
        },
        Ok(Err(e)) => HookResult::Failed {
            why: format!("waiting for hook `{}`: {e}", call.function),
        },
        Err(_) => {
            // The whole group: `sh -c` may have children of its own.
            drop(group);
            let _ = child.kill().await;
            HookResult::Failed {
                why: format!(
                    "hook `{}` did not answer within {} s (the event's timeout){}",
                    call.function,
                    call.timeout.as_secs_f64(),
                    tail(&call.log)
                ),
            }
        }
    }
}
