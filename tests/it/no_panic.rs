//! Property tests: no input makes the parsers or the validator panic. Inputs mix arbitrary bytes
//! with near-valid documents (the valid fixtures with random edits), which reach deeper code.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use cutover::artifacts::{taskdef, ArtifactFile, ArtifactSet};
use cutover::image_ref::ImageRef;
use cutover::validate::validate;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/valid")
            .join(name),
    )
    .unwrap()
}

/// A fixture with a few bytes replaced, removed or inserted.
fn mutated(name: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let base = fixture(name);
    let len = base.len();
    prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..6).prop_map(move |edits| {
        let mut b = base.clone();
        for (at, byte, op) in edits {
            let at = at.min(b.len().saturating_sub(1));
            match op {
                0 if !b.is_empty() => b[at] = byte,
                1 if !b.is_empty() => {
                    b.remove(at);
                }
                _ => b.insert(at, byte),
            }
        }
        b
    })
}

fn set(files: Vec<(&str, Vec<u8>)>) -> ArtifactSet {
    ArtifactSet {
        files: files
            .into_iter()
            .map(|(n, b)| ArtifactFile {
                name: n.to_string(),
                bytes: b,
            })
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn validator_survives_mutated_artifacts(
        detail in mutated("imageDetail.json"),
        defs in mutated("imagedefinitions.json"),
        task in mutated("taskdef.json"),
        spec in mutated("appspec.yaml"),
    ) {
        let _ = validate(&set(vec![
            ("imageDetail.json", detail), ("imagedefinitions.json", defs),
            ("taskdef.json", task), ("appspec.yaml", spec),
        ]));
    }

    #[test]
    fn validator_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), which in 0usize..4) {
        let names = ["imageDetail.json", "imagedefinitions.json", "taskdef.json", "appspec.yaml"];
        let mut files: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (*n, fixture(n))).collect();
        files[which].1 = bytes;
        let _ = validate(&set(files));
    }

    #[test]
    fn validator_survives_arbitrary_json_values(v in arb_json()) {
        let text = serde_json::to_vec(&v).unwrap();
        for name in ["imageDetail.json", "imagedefinitions.json", "taskdef.json", "appspec.json"] {
            let _ = validate(&set(vec![(name, text.clone())]));
        }
    }

    #[test]
    fn taskdef_renderer_survives_any_json(v in arb_json()) {
        let _ = taskdef::render(v, &[taskdef::Deployed { name: "app", slot: 1 }]);
    }

    #[test]
    fn template_parser_survives_mutations(t in mutated("taskdef.json")) {
        if let Ok(text) = String::from_utf8(t) {
            if let Ok(v) = taskdef::parse_template(&text) {
                let _ = taskdef::render(v, &[taskdef::Deployed { name: "app", slot: 1 }]);
            }
        }
    }

    #[test]
    fn config_parser_survives_mutations(t in mutated_config()) {
        let _ = cutover::settings::parse_file(&t, Path::new("cutover.toml"));
    }

    #[test]
    fn image_reference_parser_survives_any_string(s in "\\PC{0,300}") {
        let _ = ImageRef::parse(&s);
    }

    #[test]
    fn image_reference_parser_survives_reference_like_strings(s in "[a-z0-9.:/@_-]{0,40}(sha256:[0-9a-f]{0,70})?") {
        if let Ok(r) = ImageRef::parse(&s) {
            // What parses prints back to something that parses to the same reference.
            prop_assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
        }
    }
}

fn mutated_config() -> impl Strategy<Value = String> {
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("cutover.toml"))
        .unwrap();
    let len = base.len();
    prop::collection::vec((0..len, "\\PC{0,3}"), 1..5).prop_map(move |edits| {
        let mut s = base.clone();
        for (at, ins) in edits {
            let mut at = at.min(s.len());
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, &ins);
        }
        s
    })
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            "\\PC{0,12}",
            Just("<IMAGE1_NAME>".to_string()),
            Just("<IMAGE9_NAME>".to_string()),
            Just("app".to_string()),
            Just("awsvpc".to_string()),
            Just("FARGATE".to_string()),
        ]
        .prop_map(Value::String),
    ];
    let keys = prop_oneof![
        "[a-zA-Z]{1,8}",
        Just("containerDefinitions".to_string()),
        Just("name".to_string()),
        Just("image".to_string()),
        Just("portMappings".to_string()),
        Just("containerPort".to_string()),
        Just("hostPort".to_string()),
        Just("Resources".to_string()),
        Just("TargetService".to_string()),
        Just("Properties".to_string()),
        Just("LoadBalancerInfo".to_string()),
        Just("Hooks".to_string()),
        Just("taskDefinition".to_string()),
        Just("requiresCompatibilities".to_string()),
        Just("networkMode".to_string()),
        Just("NetworkConfiguration".to_string()),
        Just("AwsvpcConfiguration".to_string()),
        Just("CapacityProviderStrategy".to_string()),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}
