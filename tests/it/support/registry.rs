//! The Docker registries on 127.0.0.1 that scripts/test starts (`CUTOVER_TEST_REGISTRY`, and
//! `CUTOVER_TEST_REGISTRY_AUTH` with htpasswd basic auth), a private one a test may stop, and
//! skopeo as the independent client that reads back what a registry holds.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{eventually, require_env, Sandbox, EVENT_WAIT};

/// The plain registry's `host:port`.
pub fn plain() -> String {
    require_env("CUTOVER_TEST_REGISTRY")
}

/// The registry with basic auth: `host:port`, user and password.
pub fn with_auth() -> (String, String, String) {
    (
        require_env("CUTOVER_TEST_REGISTRY_AUTH"),
        require_env("CUTOVER_TEST_REGISTRY_USER"),
        require_env("CUTOVER_TEST_REGISTRY_PASSWORD"),
    )
}

/// The raw manifest the registry holds for `reference`, read with skopeo.
pub fn manifest(reference: &str, creds: Option<(&str, &str)>) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false", "--raw"]);
    if let Some((u, p)) = creds {
        cmd.arg("--creds").arg(format!("{u}:{p}"));
    }
    let out = cmd
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is installed by scripts/test");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The manifest digest the registry holds for `reference`: the sha256 of its raw bytes.
pub fn digest(reference: &str, creds: Option<(&str, &str)>) -> String {
    let raw = manifest(reference, creds);
    let hash = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hash.stdin.as_ref().unwrap().write_all(&raw).unwrap();
    let done = hash.wait_with_output().unwrap();
    format!(
        "sha256:{}",
        String::from_utf8_lossy(&done.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    )
}

/// A loopback port nothing listens on (bound, then freed).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry of this test's own (`CUTOVER_TEST_DOCKER_REGISTRY`, storage in the sandbox), on
/// a free port, started and answering; the test may kill it.
pub struct Private {
    pub addr: String,
    pub process: Child,
}

impl Private {
    pub fn start(sb: &Sandbox) -> Private {
        let bin = require_env("CUTOVER_TEST_DOCKER_REGISTRY");
        let port = free_port();
        let data = sb.join("registry-data");
        sb.write(
            "registry.yml",
            &format!("version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n", data.display()),
        );
        let process = Command::new(bin)
            .args(["serve", sb.join("registry.yml").to_str().unwrap()])
            .spawn()
            .unwrap();
        let mut private = Private {
            addr: format!("127.0.0.1:{port}"),
            process,
        };
        eventually("the private registry to listen", EVENT_WAIT, || {
            assert!(
                private.process.try_wait().unwrap().is_none(),
                "the private registry exited at start"
            );
            std::net::TcpStream::connect_timeout(
                &private.addr.parse().unwrap(),
                Duration::from_millis(200),
            )
            .is_ok()
        });
        private
    }

    /// Kills the registry and reaps it.
    pub fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        self.stop();
    }
}
