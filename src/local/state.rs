//! The local service between commands: `state.json` in the state directory (the load balancer,
//! the revisions, the task set that serves, the last deployment), written atomically, and a lock
//! so that two commands never drive one service at once.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lb::TargetGroup;
use super::LocalError;
use crate::lifecycle::DeploymentReport;

pub const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";

/// The load balancer as started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbState {
    pub pid: u32,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub map: PathBuf,
    pub log: PathBuf,
    pub production_port: u16,
    pub test_port: u16,
}

/// One container of a running task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerState {
    pub name: String,
    pub id: String,
    pub image: String,
    pub essential: bool,
}

/// One running task: its network namespace holder, its containers, where the load balancer
/// reaches it, and its slot in the target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskState {
    pub id: String,
    pub pause: String,
    pub host_port: u16,
    pub slot: u32,
    pub containers: Vec<ContainerState>,
}

/// A task set: the tasks of one revision in one target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSetState {
    pub revision: u32,
    pub target_group: TargetGroup,
    pub tasks: Vec<TaskState>,
}

/// A numbered revision: the task definition as registered (images substituted) and the AppSpec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionState {
    pub number: u32,
    pub image: Option<String>,
    pub taskdef: PathBuf,
    pub appspec: PathBuf,
    /// The ARN RegisterTaskDefinition gave, when an endpoint was set.
    pub task_definition_arn: Option<String>,
}

/// The whole service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceState {
    /// The value of the label on every container and network of this service.
    pub key: String,
    pub network: String,
    pub lb: LbState,
    pub revisions: Vec<RevisionState>,
    pub serving: Option<TaskSetState>,
    pub last_deployment: Option<DeploymentReport>,
    pub deployments: u32,
}

impl ServiceState {
    pub fn revision(&self, n: u32) -> Option<&RevisionState> {
        self.revisions.iter().find(|r| r.number == n)
    }
}

/// The state directory: where `state.json`, the revisions and the deployments' files live.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub path: PathBuf,
}

/// Held while a command drives the service; released when dropped.
pub struct Lock {
    _file: File,
}

impl StateDir {
    pub fn new(path: PathBuf) -> StateDir {
        StateDir { path }
    }

    /// The label value of this service: a hash of the directory's absolute path, so two
    /// checkouts never share containers.
    pub fn key(&self) -> String {
        use sha2::Digest as _;
        let abs = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let digest = sha2::Sha256::digest(abs.as_os_str().as_encoded_bytes());
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    pub fn create(&self) -> Result<(), LocalError> {
        std::fs::create_dir_all(&self.path).map_err(|source| LocalError::StateDir {
            path: self.path.clone(),
            source,
        })
    }

    /// Takes the lock, or says who holds it.
    pub fn lock(&self) -> Result<Lock, LocalError> {
        self.create()?;
        let path = self.path.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LocalError::StateDir {
                path: path.clone(),
                source,
            })?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Lock { _file: file }),
            Err(_) => Err(LocalError::Busy {
                path: self.path.clone(),
            }),
        }
    }

    pub fn load(&self) -> Result<Option<ServiceState>, LocalError> {
        let path = self.path.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LocalError::StateDir { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| LocalError::BadState {
                path,
                reason: e.to_string(),
            })
    }

    /// Writes the state through a temporary file and a rename, so a crash never leaves half.
    pub fn save(&self, state: &ServiceState) -> Result<(), LocalError> {
        let path = self.path.join(STATE_FILE);
        let tmp = self.path.join(".state.json.tmp");
        let text = serde_json::to_string_pretty(state).map_err(|e| LocalError::BadState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| LocalError::StateDir { path, source })
    }

    pub fn remove_state(&self) -> Result<(), LocalError> {
        let path = self.path.join(STATE_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LocalError::StateDir { path, source }),
        }
    }

    pub fn lb_dir(&self) -> PathBuf {
        self.path.join("lb")
    }

    pub fn revision_dir(&self, n: u32) -> PathBuf {
        self.path.join("revisions").join(n.to_string())
    }

    pub fn deployment_dir(&self, id: &str) -> PathBuf {
        self.path.join("deployments").join(id)
    }
}

/// Whether `path` exists as a directory with a state file.
pub fn has_state(path: &Path) -> bool {
    path.join(STATE_FILE).is_file()
}
