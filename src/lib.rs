//! cutover: writes and checks the artifacts of an ECS blue/green deployment through CodePipeline.

pub mod probe;

/// Entry point used by `main.rs`; returns the process exit code.
pub fn main_entry() -> i32 {
    0
}
