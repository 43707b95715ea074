//! A task definition that no placeholder lets the build's image into: refused when the set has an
//! imageDetail.json (`taskdef-no-placeholder`), and written without one when the template pins
//! its images on purpose (`--pinned-images`, `[taskdef] pinned_images`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::Sandbox;
use serde_json::Value;

const IMAGE: &str = "127.0.0.1:5000/sample-app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const PINNED: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com/sample-app:latest";

#[test]
fn a_set_whose_taskdef_has_no_placeholder_fails_with_the_containers_named() {
    let sb = Sandbox::sample();
    let r = sb.run(&["artifacts", "--image", IMAGE]);
    assert_eq!(r.code, 0, "{r:?}");
    // Put the fixed image back, as a hand-edited template would have it.
    sb.replace("out/taskdef.json", "<IMAGE1_NAME>", PINNED);
    let r = sb.run(&["validate", "out"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(&format!("error[taskdef-no-placeholder]: taskdef.json: $.containerDefinitions: no container uses <IMAGE1_NAME>, so the image in imageDetail.json is never deployed; every deployment runs the fixed images `app` ({PINNED})")),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("set [taskdef] pinned_images = true"),
        "{r:?}"
    );
}

#[test]
fn pinned_images_keep_the_template_images_and_write_no_image_detail() {
    for how in ["flag", "env", "file"] {
        let mut sb = Sandbox::sample();
        let mut args = vec!["artifacts", "--image", IMAGE];
        match how {
            "flag" => args.push("--pinned-images"),
            "env" => sb = sb.env("CUTOVER_PINNED_IMAGES", "true"),
            _ => sb.replace(
                "cutover.toml",
                "template = \"ecs/taskdef.json\"",
                "template = \"ecs/taskdef.json\"\npinned_images = true",
            ),
        }
        let r = sb.run(&args);
        assert_eq!(r.code, 0, "{how}: {r:?}");
        assert_eq!(
            sb.list("out"),
            ["appspec.yaml", "imagedefinitions.json", "taskdef.json"],
            "{how}"
        );
        let td: Value = serde_json::from_str(&sb.read("out/taskdef.json")).unwrap();
        assert_eq!(td["containerDefinitions"][0]["image"], PINNED, "{how}");
        let defs: Value = serde_json::from_str(&sb.read("out/imagedefinitions.json")).unwrap();
        assert_eq!(
            defs,
            serde_json::json!([{"name": "app", "imageUri": PINNED}]),
            "{how}"
        );
        let r = sb.run(&["validate", "out"]);
        assert_eq!(r.code, 0, "{how}: {r:?}");
    }
}

#[test]
fn pinned_images_with_a_placeholder_in_the_template_fail_before_writing() {
    let sb = Sandbox::sample();
    sb.replace("ecs/taskdef.json", PINNED, "<IMAGE1_NAME>");
    let r = sb.run(&["artifacts", "--image", IMAGE, "--pinned-images"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("error[image-detail-missing]"), "{r:?}");
    assert!(!sb.exists("out"));
}

#[test]
fn an_unreachable_endpoint_fails_at_once_with_exit_3() {
    // Nothing listens on the discard port: the connection is refused, which no retry mends, so
    // the SDK is told not to retry (the message names that: "no connection to the endpoint").
    let sb = Sandbox::sample()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env("AWS_REGION", "us-east-1");
    let r = sb.run(&["verify"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.starts_with("error: ecs:DescribeClusters failed: the request could not be sent (dispatch failure: other: no connection to the endpoint: "),
        "{r:?}"
    );
    assert!(
        r.stderr.ends_with("Connection refused (os error 111))\n  hint: check the region `us-east-1` (AWS_REGION or [service] region), the network, and AWS_ENDPOINT_URL if set\n"),
        "{r:?}"
    );
}
