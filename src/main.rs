//! The `cutover` binary: parse flags, hand over to the library, map the outcome to an exit code.
fn main() {
    std::process::exit(cutover::main_entry());
}
