//! Container image references (`[registry/]path[:tag][@sha256:hex]`): parsing and the rules ECS and
//! the distribution spec put on them. Pure.

use std::fmt;

/// ECS limit on a container definition's `image` value.
pub const MAX_IMAGE_LEN: usize = 255;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host with optional port, when the reference names one.
    pub registry: Option<String>,
    /// Repository path below the registry, e.g. `team/app`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    #[error("the image reference is empty")]
    Empty,
    #[error("`{0}` is longer than {MAX_IMAGE_LEN} characters, the ECS limit for an image")]
    TooLong(String),
    #[error("`{reference}` has an invalid repository component `{component}`: use lowercase letters, digits and single `.`, `_`, `__` or `-` separators")]
    BadPath {
        reference: String,
        component: String,
    },
    #[error("`{reference}` has an invalid tag `{tag}`: a tag is 1 to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`")]
    BadTag { reference: String, tag: String },
    #[error("`{reference}` has an invalid digest `{digest}`: expected `sha256:` followed by 64 lowercase hex characters")]
    BadDigest { reference: String, digest: String },
    #[error("`{reference}` contains whitespace or a placeholder; an image reference looks like `registry/repo:tag` or `registry/repo@sha256:...`")]
    BadChars { reference: String },
}

impl ImageRef {
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        if reference.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if reference.len() > MAX_IMAGE_LEN {
            return Err(ImageRefError::TooLong(reference.to_string()));
        }
        if reference
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == '$')
        {
            return Err(ImageRefError::BadChars {
                reference: reference.to_string(),
            });
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((n, d)) => {
                if !is_sha256_digest(d) {
                    return Err(ImageRefError::BadDigest {
                        reference: reference.to_string(),
                        digest: d.to_string(),
                    });
                }
                (n, Some(d.to_string()))
            }
            None => (reference, None),
        };
        // A tag follows the last `:` that comes after the last `/` (a `:` before it is a port).
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(name_tag[at + 1..].to_string()))
            }
            None => (name_tag, None),
        };
        if let Some(t) = &tag {
            if !is_valid_tag(t) {
                return Err(ImageRefError::BadTag {
                    reference: reference.to_string(),
                    tag: t.clone(),
                });
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), rest.to_string())
            }
            _ => (None, name.to_string()),
        };
        for component in path.split('/') {
            if !is_valid_path_component(component) {
                return Err(ImageRefError::BadPath {
                    reference: reference.to_string(),
                    component: component.to_string(),
                });
            }
        }
        if let Some(reg) = &registry {
            if reg.is_empty()
                || reg
                    .chars()
                    .any(|c| !(c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
            {
                return Err(ImageRefError::BadPath {
                    reference: reference.to_string(),
                    component: reg.clone(),
                });
            }
        }
        Ok(ImageRef {
            registry,
            path,
            tag,
            digest,
        })
    }

    /// The repository part: registry and path, without tag or digest.
    pub fn repository(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The ECR account and region when the registry is `<account>.dkr.ecr.<region>.amazonaws.com`.
    pub fn ecr(&self) -> Option<(String, String)> {
        parse_ecr_host(self.registry.as_deref()?)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com[.cn]` → (account, region).
pub fn parse_ecr_host(host: &str) -> Option<(String, String)> {
    let mut parts = host.split('.');
    let account = parts.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if parts.next()? != "dkr" || parts.next()? != "ecr" {
        return None;
    }
    let region = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    if rest.first() != Some(&"amazonaws") || region.is_empty() {
        return None;
    }
    Some((account.to_string(), region.to_string()))
}

pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Distribution spec: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(t: &str) -> bool {
    let mut bytes = t.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && t.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Distribution spec: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_ecr_reference_with_digest() {
        let r = ImageRef::parse(&format!(
            "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app@{D}"
        ))
        .unwrap();
        assert_eq!(
            r.registry.as_deref(),
            Some("111122223333.dkr.ecr.us-east-1.amazonaws.com")
        );
        assert_eq!(r.path, "team/app");
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.ecr(), Some(("111122223333".into(), "us-east-1".into())));
    }

    #[test]
    fn port_is_not_a_tag() {
        let r = ImageRef::parse("127.0.0.1:5000/app").unwrap();
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.tag, None);
        let r = ImageRef::parse("127.0.0.1:5000/app:v1").unwrap();
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.to_string(), "127.0.0.1:5000/app:v1");
    }

    #[test]
    fn docker_hub_short_names() {
        let r = ImageRef::parse("nginx:1.25").unwrap();
        assert_eq!(r.registry, None);
        assert_eq!(r.path, "nginx");
        assert!(ImageRef::parse("library/nginx").is_ok());
    }

    #[test]
    fn rejects_bad_references() {
        assert!(matches!(ImageRef::parse(""), Err(ImageRefError::Empty)));
        assert!(matches!(
            ImageRef::parse("App:1"),
            Err(ImageRefError::BadPath { .. })
        ));
        assert!(matches!(
            ImageRef::parse("app:-x"),
            Err(ImageRefError::BadTag { .. })
        ));
        assert!(matches!(
            ImageRef::parse("app@sha256:abc"),
            Err(ImageRefError::BadDigest { .. })
        ));
        assert!(matches!(
            ImageRef::parse("<IMAGE1_NAME>"),
            Err(ImageRefError::BadChars { .. })
        ));
        assert!(matches!(
            ImageRef::parse(&"a".repeat(256)),
            Err(ImageRefError::TooLong(_))
        ));
        assert!(ImageRef::parse("a__b/c-d.e:tag").is_ok());
        assert!(ImageRef::parse("a___b").is_err());
    }

    #[test]
    fn ecr_host_needs_twelve_digit_account() {
        assert!(parse_ecr_host("1234.dkr.ecr.us-east-1.amazonaws.com").is_none());
        assert!(parse_ecr_host("registry.example.com").is_none());
        assert_eq!(
            parse_ecr_host("111122223333.dkr.ecr.eu-west-1.amazonaws.com.cn"),
            Some(("111122223333".into(), "eu-west-1".into()))
        );
    }
}
