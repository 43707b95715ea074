//! `imageDetail.json`: the image artifact `CodeDeployToECS` reads, in the shape the ECR source action
//! writes. Pure.

use aws_smithy_types::date_time::{DateTime, Format};
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

/// A time as the ECR source action writes `ImagePushedAt` (`Mon Jan 21 20:04:00 UTC 2019`, the
/// format of the example in CodePipeline's image definitions file reference); empty after the
/// year 9999.
pub fn pushed_at(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    // The HTTP date `Mon, 21 Jan 2019 20:04:00 GMT` has every part, in another order.
    let http = DateTime::from_secs(secs)
        .fmt(Format::HttpDate)
        .unwrap_or_default();
    match http
        .split([' ', ','])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()[..]
    {
        [weekday, day, month, year, time, _gmt] => {
            format!("{weekday} {month} {day} {time} UTC {year}")
        }
        _ => String::new(),
    }
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
    fn pushed_at_is_written_as_the_ecr_source_action_does() {
        let at = |secs| pushed_at(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        // The reference's example, and `date -u -d @...` for the others.
        assert_eq!(at(1_548_101_040), "Mon Jan 21 20:04:00 UTC 2019");
        assert_eq!(at(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(at(951_868_799), "Tue Feb 29 23:59:59 UTC 2000");
        assert_eq!(at(1_795_726_327), "Thu Nov 26 20:52:07 UTC 2026");
    }

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
