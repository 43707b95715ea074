//! What the registry holds: whether a tag exists and its manifest digest, through
//! `docker manifest inspect -v`, so no image has to be pulled to find out.

use sha2::{Digest as _, Sha256};

use super::docker::{first_line, Docker, DockerError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Absent,
    /// The tag exists; the digest and size are known for single-platform manifests.
    Present {
        digest: Option<String>,
        /// The image's compressed layers summed, as the registry stores them.
        size: Option<u64>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry refused the credentials for `{reference}`: {detail}\n  hint: {hint}")]
    Unauthorized {
        reference: String,
        detail: String,
        hint: String,
    },
    #[error("the registry of `{reference}` is not reachable: {detail}\n  hint: check the repository's host and port, and that the registry is running")]
    Unreachable { reference: String, detail: String },
    #[error("asking the registry about `{reference}` failed: {detail}")]
    Other { reference: String, detail: String },
    #[error(transparent)]
    Docker(#[from] DockerError),
}

/// Registries on loopback are spoken to over plain HTTP, as the Docker engine does by default.
pub fn is_loopback_registry(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host);
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

pub async fn remote_manifest(
    docker: &Docker,
    reference: &str,
    insecure: bool,
    auth_hint: &str,
) -> Result<Remote, RegistryError> {
    let mut args = vec!["manifest", "inspect", "-v"];
    if insecure {
        args.push("--insecure");
    }
    args.push(reference);
    let f = docker.output(&args).await?;
    if f.code == 0 {
        return Ok(Remote::Present {
            digest: digest_of(&f.stdout),
            size: size_of(&f.stdout),
        });
    }
    let err = f.stderr.to_ascii_lowercase();
    if err.contains("no such manifest")
        || err.contains("manifest unknown")
        || err.contains("not found")
    {
        Ok(Remote::Absent)
    } else {
        Err(refusal(reference, &f.stderr, auth_hint))
    }
}

/// What a failed registry command's stderr means: refused credentials, a registry that cannot
/// be reached, or something else, each naming `reference`.
fn refusal(reference: &str, stderr: &str, auth_hint: &str) -> RegistryError {
    let err = stderr.to_ascii_lowercase();
    let detail = first_line(stderr);
    let reference = reference.to_string();
    if classify_auth(&err) {
        RegistryError::Unauthorized {
            reference,
            detail,
            hint: auth_hint.to_string(),
        }
    } else if classify_unreachable(&err) {
        RegistryError::Unreachable { reference, detail }
    } else {
        RegistryError::Other { reference, detail }
    }
}

/// Checks credentials cutover holds before anything is built: `docker manifest inspect` reports a
/// refused credential as a missing manifest, so without this a wrong password would show only at
/// the push, after the whole build.
pub async fn check_login(
    docker: &Docker,
    host: &str,
    user: &str,
    password: &crate::secret::Secret,
    auth_hint: &str,
) -> Result<(), RegistryError> {
    let f = docker.login(host, user, password).await?;
    if f.code == 0 {
        Ok(())
    } else {
        Err(refusal(host, &f.stderr, auth_hint))
    }
}

pub fn classify_auth(lower: &str) -> bool {
    [
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "denied",
        "authorization",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

pub fn classify_unreachable(lower: &str) -> bool {
    [
        "connection refused",
        "no such host",
        "i/o timeout",
        "dial tcp",
        "connection reset",
        "eof",
        "server misbehaving",
        "timeout",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

/// The digest from `manifest inspect -v` output: the descriptor's, checked against the raw bytes.
fn digest_of(stdout: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(stdout).ok()?;
    let desc = v.get("Descriptor")?.get("digest")?.as_str()?.to_string();
    // When the raw manifest is there, its sha256 is the digest: prefer what can be verified.
    if let Some(raw) = v
        .get("Raw")
        .and_then(|r| r.as_str())
        .and_then(base64_decode)
    {
        let computed = format!("sha256:{}", hex(&Sha256::digest(&raw)));
        if computed != desc {
            return Some(computed);
        }
    }
    Some(desc)
}

/// The image's size from `manifest inspect -v` output: the sum of the manifest's layer sizes
/// (compressed, as pushed), which is what ECR reports as `imageSizeInBytes`. `None` for a
/// multi-platform index, which has no layers of its own.
fn size_of(stdout: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(stdout).ok()?;
    let raw: Option<serde_json::Value> = v
        .get("Raw")
        .and_then(|r| r.as_str())
        .and_then(base64_decode)
        .and_then(|b| serde_json::from_slice(&b).ok());
    let manifest = raw
        .as_ref()
        .or_else(|| v.get("SchemaV2Manifest"))
        .or_else(|| v.get("OCIManifest"))?;
    manifest
        .get("layers")?
        .as_array()?
        .iter()
        .map(|l| l.get("size").and_then(serde_json::Value::as_u64))
        .sum()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 (with padding), enough for manifests and tokens.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let trimmed: &[u8] = match bytes.iter().position(|b| *b == b'=') {
        Some(i) => &bytes[..i],
        None => &bytes,
    };
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

pub fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "AWS:secret-password", "\u{ff}\u{fe}"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(base64_encode(b"AWS:pw"), "QVdTOnB3");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_registry("127.0.0.1:5000"));
        assert!(is_loopback_registry("localhost:5000"));
        assert!(!is_loopback_registry(
            "111122223333.dkr.ecr.us-east-1.amazonaws.com"
        ));
    }

    #[test]
    fn digest_is_taken_from_the_raw_manifest() {
        let raw = br#"{"schemaVersion":2}"#;
        let d = format!("sha256:{}", hex(&Sha256::digest(raw)));
        let out = format!(
            r#"{{"Descriptor": {{"digest": "{d}"}}, "Raw": "{}"}}"#,
            base64_encode(raw)
        );
        assert_eq!(digest_of(&out), Some(d));
    }

    #[test]
    fn size_is_the_sum_of_the_layers() {
        let raw =
            br#"{"schemaVersion":2,"config":{"size":1000},"layers":[{"size":30},{"size":12}]}"#;
        let out = format!(r#"{{"Raw": "{}"}}"#, base64_encode(raw));
        assert_eq!(size_of(&out), Some(42));
        // Without the raw bytes, the parsed manifest docker prints.
        let parsed = r#"{"OCIManifest": {"layers": [{"size": 5}]}}"#;
        assert_eq!(size_of(parsed), Some(5));
        // An index has no layers; a layer without a size makes the sum unknown.
        let index = format!(r#"{{"Raw": "{}"}}"#, base64_encode(br#"{"manifests":[]}"#));
        assert_eq!(size_of(&index), None);
        let broken = format!(r#"{{"Raw": "{}"}}"#, base64_encode(br#"{"layers":[{}]}"#));
        assert_eq!(size_of(&broken), None);
    }
}
