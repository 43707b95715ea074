//! `imageDetail.json`: the image artifact `CodeDeployToECS` reads, in the shape the ECR source action
//! writes. Pure.

use serde::{Deserialize, Serialize};

use crate::image_ref::ImageRef;

pub const FILE_NAME: &str = "imageDetail.json";

/// The fields the ECR source action writes; only `ImageURI` is read by the deploy action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImageDetail {
    #[serde(rename = "ImageURI")]
    pub image_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub image_tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pushed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size_in_bytes: Option<String>,
    pub version: String,
}

/// Facts about a pushed image that only the build step knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushFacts {
    pub tags: Vec<String>,
    pub pushed_at: Option<String>,
    pub size_in_bytes: Option<u64>,
}

impl ImageDetail {
    /// `ImageURI` is digest-pinned (`repo@sha256:...`) when the digest is known, else `repo:tag`.
    pub fn new(image: &ImageRef, facts: &PushFacts) -> Self {
        let image_uri = match &image.digest {
            Some(d) => format!("{}@{d}", image.repository()),
            None => image.to_string(),
        };
        let mut image_tags = facts.tags.clone();
        if let Some(t) = &image.tag {
            if !image_tags.contains(t) {
                image_tags.insert(0, t.clone());
            }
        }
        let ecr = image.ecr();
        ImageDetail {
            image_uri,
            image_digest: image.digest.clone(),
            image_tags,
            registry_id: ecr.map(|(account, _)| account),
            repository_name: Some(image.path.clone()),
            image_pushed_at: facts.pushed_at.clone(),
            image_size_in_bytes: facts.size_in_bytes.map(|s| s.to_string()),
            version: "1.0".to_string(),
        }
    }

    pub fn render(&self) -> String {
        // Serializing a struct of strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_pins_the_uri_and_keeps_the_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!(
            "111122223333.dkr.ecr.us-east-1.amazonaws.com/app:abc1234@{d}"
        ))
        .unwrap();
        let detail = ImageDetail::new(&r, &PushFacts::default());
        assert_eq!(
            detail.image_uri,
            format!("111122223333.dkr.ecr.us-east-1.amazonaws.com/app@{d}")
        );
        assert_eq!(detail.image_tags, vec!["abc1234"]);
        assert_eq!(detail.registry_id.as_deref(), Some("111122223333"));
        assert_eq!(detail.repository_name.as_deref(), Some("app"));
    }

    #[test]
    fn without_digest_the_tag_is_used() {
        let r = ImageRef::parse("127.0.0.1:5000/app:v1").unwrap();
        let detail = ImageDetail::new(&r, &PushFacts::default());
        assert_eq!(detail.image_uri, "127.0.0.1:5000/app:v1");
        assert_eq!(detail.registry_id, None);
    }
}
