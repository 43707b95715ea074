//! `cutover validate --rules` and `--explain`: the catalog as users read it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::Sandbox;
use serde::Deserialize;

/// The JSON shape of one rule; a renamed or added field fails here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    id: String,
    level: String,
    summary: String,
    bad: String,
    good: String,
}

#[test]
fn rules_lists_the_catalog_as_text_and_json() {
    let sb = Sandbox::empty();
    let r = sb.run(&["validate", "--rules"]);
    assert_eq!(r.code, 0, "{r:?}");
    let ids: Vec<&str> = r
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let catalog: Vec<&str> = cutover::validate::catalog::RULES
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, catalog);
    let r = sb.run(&["--output", "json", "validate", "--rules"]);
    assert_eq!(r.code, 0, "{r:?}");
    let rules: Vec<Rule> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rules.len(), catalog.len());
    let unknown = rules
        .iter()
        .find(|r| r.id == "taskdef-unknown-key")
        .unwrap();
    assert_eq!(unknown.level, "warning");
    assert!(rules
        .iter()
        .all(|r| !r.summary.is_empty() && r.bad != r.good));
}

#[test]
fn explain_prints_one_rule_with_examples_and_refuses_an_unknown_id() {
    let sb = Sandbox::empty();
    let r = sb.run(&["validate", "--explain", "taskdef-unknown-key"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "taskdef-unknown-key (warning)\n  every top-level key is a RegisterTaskDefinition parameter (a misspelt one fails registration)\n\nbad:\n  {\"family\": \"app\", \"contianerDefinitions\": [...]}\n\ngood:\n  {\"family\": \"app\", \"containerDefinitions\": [...]}\n"
    );
    let r = sb.run(&["validate", "--explain", "taskdef-nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        "error: no rule `taskdef-nope`\n  hint: `cutover validate --rules` lists them\n"
    );
}
