//! The integration tests, as one test binary (one link of the AWS SDK instead of one per file):
//! one module per area, and the one harness they share ([`support`]).

mod support;

mod aws_model;
mod build;
mod buildspec_artifacts;
mod buildspec_config;
mod buildspec_phases;
mod cli;
mod cli_probe;
mod deploy;
mod deploy_native;
mod deploy_replay;
mod dockerignore_oracle;
mod dry_run_offline;
mod hooks;
mod init;
mod live_pipeline;
mod live_service;
mod live_verify;
mod local_deploy;
mod local_native;
mod local_pipeline;
mod no_panic;
mod pinned_images;
mod probe_bench;
mod probe_failures;
mod probe_outage;
mod probe_report;
mod probe_signal;
mod probe_transition;
mod progress_plain;
mod rehearse_cutover;
mod rehearse_docker;
mod rehearse_repeat;
mod rules_cli;
mod sample_app;
mod validate_rules;
mod verify_native;
