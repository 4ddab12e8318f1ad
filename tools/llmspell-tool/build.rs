//! Links `llmspell-tool` as a position-dependent executable on Linux.
//!
//! The binary carries every built-in tool (image, archive, SQLite, regex …), whose static tables
//! need about 75 000 relative relocations in a PIE: the loader applies them at every start,
//! copying some 460 pages, which was half of an `invoke` (measured: `--version` 5.4 ms PIE,
//! 2.0 ms without; `invoke calculator` 10.2 ms and 5.4 ms). A non-PIE executable has them
//! resolved at link time. What is given up is address randomization of the executable's own
//! image; shared libraries, stack, heap and mmap stay randomized. The tool parses local
//! arguments and talks to a local kernel; delete this file to get a PIE back.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
