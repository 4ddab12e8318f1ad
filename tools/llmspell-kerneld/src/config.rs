//! config.toml: defaults shared by every llmspell tool; this kernel reads the `[kernel]` table
//! and, for its tools, the `[tools]` table ([`tools_policy`], parsed by
//! `llmspell_tools::Policy`), the `[providers.NAME]` tables ([`providers`], parsed by
//! `llmspell_llm::Providers`), and ignores the rest (other tools' sections). A bad file is a
//! configuration error (exit 78) naming the file and the key.

use std::path::{Path, PathBuf};

use llmspell_common::{ExitCode, Home};
use serde::Deserialize;
use tracing_subscriber::filter::LevelFilter;

use crate::Failure;

/// The kernel's settings after reading config.toml.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// None when config.toml does not set it (flags and LLMSPELL_LOG decide, else warn).
    pub log_level: Option<LevelFilter>,
    /// How long SIGTERM lets a running cell finish before interrupting it.
    pub shutdown_grace_secs: u64,
    /// Largest accepted ZeroMQ message; a bigger one drops the sending peer's connection.
    pub max_message_bytes: i64,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig { log_level: None, shutdown_grace_secs: 10, max_message_bytes: 256 << 20 }
    }
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    kernel: Section,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Section {
    log_level: Option<String>,
    max_message_bytes: Option<i64>,
    shutdown_grace_secs: Option<u64>,
}

/// The file to read: `explicit` (which must exist) or `$LLMSPELL_HOME/config.toml` (if it
/// exists).
fn config_path(explicit: Option<&Path>, home: &Home) -> (PathBuf, bool) {
    match explicit {
        Some(p) => (p.to_owned(), true),
        None => (home.config_file(), false),
    }
}

/// The `[tools]` policy (allowed_paths, allowed_executables, timeout_secs) of the same file
/// [`load`] reads; relative paths in it are relative to `base_dir` (the directory the kernel
/// was started in). No file or no table means the defaults. Call [`load`] first: it reports a
/// missing explicit file.
pub fn tools_policy(
    explicit: Option<&Path>,
    home: &Home,
    base_dir: PathBuf,
) -> Result<llmspell_tools::Policy, Failure> {
    let (path, _) = config_path(explicit, home);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(llmspell_tools::Policy::new(base_dir));
        }
        Err(e) => {
            let code = llmspell_common::exit::for_io_error(&e, true);
            return Err(Failure::new(code, format!("cannot read config {}: {e}", path.display())));
        }
    };
    llmspell_tools::Policy::from_config(&text, base_dir).map_err(|e| {
        Failure::new(ExitCode::Config, format!("config {}: [tools]: {e}", path.display()))
    })
}

/// The `[providers.NAME]` tables (LLM providers for the `Agent` global) of the same file
/// [`load`] reads; a relative `api_key_file` is relative to `base_dir`. No file or no table
/// means no providers.
pub fn providers(
    explicit: Option<&Path>,
    home: &Home,
    base_dir: &Path,
) -> Result<llmspell_llm::Providers, Failure> {
    let (path, _) = config_path(explicit, home);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(llmspell_llm::Providers::default());
        }
        Err(e) => {
            let code = llmspell_common::exit::for_io_error(&e, true);
            return Err(Failure::new(code, format!("cannot read config {}: {e}", path.display())));
        }
    };
    llmspell_llm::Providers::parse(&text, base_dir)
        .map_err(|e| Failure::new(ExitCode::Config, format!("config {}: {e}", path.display())))
}

/// Reads `explicit` (which must exist) or `$LLMSPELL_HOME/config.toml` (if it exists).
pub fn load(explicit: Option<&Path>, home: &Home) -> Result<KernelConfig, Failure> {
    let (path, required) = config_path(explicit, home);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(KernelConfig::default());
        }
        Err(e) => {
            let code = llmspell_common::exit::for_io_error(&e, true);
            return Err(Failure::new(code, format!("cannot read config {}: {e}", path.display())));
        }
    };
    parse(&text, &path)
}

fn parse(text: &str, path: &Path) -> Result<KernelConfig, Failure> {
    let bad =
        |msg: String| Failure::new(ExitCode::Config, format!("config {}: {msg}", path.display()));
    let file: File = toml::from_str(text).map_err(|e| bad(e.to_string().replace('\n', " ")))?;
    let mut config = KernelConfig::default();
    if let Some(level) = file.kernel.log_level {
        config.log_level = Some(crate::logger::parse_level(&level).ok_or_else(|| {
            bad(format!(
                "kernel.log_level = {level:?} is not one of off, error, warn, info, debug, trace"
            ))
        })?);
    }
    if let Some(grace) = file.kernel.shutdown_grace_secs {
        config.shutdown_grace_secs = grace;
    }
    if let Some(max) = file.kernel.max_message_bytes {
        if max < 1024 {
            return Err(bad(format!("kernel.max_message_bytes = {max} is below 1024")));
        }
        config.max_message_bytes = max;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kernel_section_and_ignores_other_tools() {
        let c = parse("[kernel]\nlog_level = \"debug\"\n[fleet]\nx = 1\n", Path::new("c")).unwrap();
        assert_eq!(c.log_level, Some(LevelFilter::DEBUG));
    }

    #[test]
    fn names_the_bad_key() {
        let err = parse("[kernel]\nlog_level = \"loud\"\n", Path::new("c.toml")).unwrap_err();
        assert_eq!(err.code, ExitCode::Config);
        assert!(err.message.contains("kernel.log_level") && err.message.contains("c.toml"));
        let err = parse("[kernel]\nlog_levle = \"info\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.message.contains("log_levle"), "{}", err.message);
    }

    #[test]
    fn tools_table_is_read_and_a_bad_one_names_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let base = dir.path().to_path_buf();
        assert!(tools_policy(None, &home, base.clone()).is_ok(), "no file: defaults");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[kernel]\nlog_level = \"info\"\n[tools]\ntimeout_secs = 2\n")
            .unwrap();
        let p = tools_policy(Some(&file), &home, base.clone()).unwrap();
        assert_eq!(p.default_timeout(), std::time::Duration::from_secs(2));
        std::fs::write(&file, "[tools]\nallowed_pathz = [\"/tmp\"]\n").unwrap();
        let err = tools_policy(Some(&file), &home, base).unwrap_err();
        assert_eq!(err.code, ExitCode::Config);
        assert!(
            err.message.contains("c.toml") && err.message.contains("allowed_pathz"),
            "{}",
            err.message
        );
    }

    #[test]
    fn providers_table_is_read_and_a_bad_one_names_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        assert!(providers(None, &home, dir.path()).unwrap().list.is_empty(), "no file: none");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[kernel]\nlog_level = \"info\"\n[providers.p]\nkind = \"openai\"\n")
            .unwrap();
        let p = providers(Some(&file), &home, dir.path()).unwrap();
        assert_eq!(p.list[0].name, "p");
        assert!(parse(&std::fs::read_to_string(&file).unwrap(), &file).is_ok(), "[kernel] too");
        std::fs::write(&file, "[providers.p]\nkind = \"openai\"\nmodle = \"x\"\n").unwrap();
        let err = providers(Some(&file), &home, dir.path()).unwrap_err();
        assert_eq!(err.code, ExitCode::Config);
        assert!(err.message.contains("c.toml") && err.message.contains("modle"), "{}", err.message);
    }

    #[test]
    fn missing_default_file_is_fine_missing_explicit_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        assert!(load(None, &home).is_ok());
        let err = load(Some(&dir.path().join("nope.toml")), &home).unwrap_err();
        assert_eq!(err.code, ExitCode::NoInput);
    }
}
