//! What tools may touch: the allowed paths, the executables process_executor may run, and the
//! default timeout. Read from the `[tools]` table of config.toml:
//!
//! ```toml
//! [tools]
//! allowed_paths = ["~/notes", "/srv/data"]   # default: the working directory and the temp dir
//! allowed_executables = ["echo", "git"]      # default: none (process_executor is off)
//! timeout_secs = 30                          # default invoke timeout
//! ```
//!
//! Paths are checked after resolving symlinks: a path is allowed when its real location (the
//! longest existing ancestor, canonicalized, plus the not-yet-existing rest) lies under the real
//! location of an allowed root. A `..` in the part that does not exist yet is refused, so
//! neither `..` nor a symlink can lead out.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ToolError;

/// The default for `timeout_secs`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Policy {
    /// Relative paths in parameters are resolved against this directory.
    base_dir: PathBuf,
    /// Canonical allowed roots.
    roots: Vec<PathBuf>,
    /// Names (or absolute paths) process_executor may run.
    executables: Vec<String>,
    default_timeout: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    allowed_paths: Option<Vec<String>>,
    allowed_executables: Option<Vec<String>>,
    timeout_secs: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    tools: Section,
}

impl Policy {
    /// The defaults: `base_dir` and the system temp dir, no executables, 30 s.
    pub fn new(base_dir: PathBuf) -> Policy {
        let roots = vec![base_dir.clone(), std::env::temp_dir()];
        Policy::with(base_dir, roots, Vec::new(), DEFAULT_TIMEOUT)
    }

    /// Explicit settings; roots that do not exist are dropped (they cannot contain anything).
    pub fn with(
        base_dir: PathBuf,
        roots: Vec<PathBuf>,
        executables: Vec<String>,
        default_timeout: Duration,
    ) -> Policy {
        let mut canonical: Vec<PathBuf> = roots
            .iter()
            .map(|r| if r.is_absolute() { r.clone() } else { base_dir.join(r) })
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .collect();
        canonical.sort();
        canonical.dedup();
        Policy { base_dir, roots: canonical, executables, default_timeout }
    }

    /// Reads the `[tools]` table of a config file's text; other tables are ignored. `~/` in
    /// allowed_paths is the user's home; relative entries are relative to `base_dir`.
    pub fn from_config(text: &str, base_dir: PathBuf) -> Result<Policy, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?;
        let section = file.tools;
        let timeout = match section.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(s) => Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("tools.timeout_secs = {s} is not a positive number"))?,
        };
        let mut policy = Policy::new(base_dir.clone());
        if let Some(paths) = section.allowed_paths {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let roots = paths
                .iter()
                .map(|p| match (p.strip_prefix("~/"), &home) {
                    (Some(rest), Some(home)) => home.join(rest),
                    _ => PathBuf::from(p),
                })
                .collect();
            policy = Policy::with(base_dir, roots, Vec::new(), timeout);
        }
        policy.executables = section.allowed_executables.unwrap_or_default();
        policy.default_timeout = timeout;
        Ok(policy)
    }

    /// Reads `path` if it exists (a missing file means the defaults).
    pub fn load(path: &Path, base_dir: PathBuf) -> Result<Policy, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Policy::from_config(&text, base_dir)
                .map_err(|e| format!("config {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::new(base_dir)),
            Err(e) => Err(format!("cannot read config {}: {e}", path.display())),
        }
    }

    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    pub fn executables(&self) -> &[String] {
        &self.executables
    }

    pub fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    pub fn set_default_timeout(&mut self, timeout: Duration) {
        self.default_timeout = timeout;
    }

    /// Where `path` really is, if that is under an allowed root; else a permission error.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        if path.is_empty() {
            return Err(ToolError::validation("the path is empty"));
        }
        let given = Path::new(path);
        let absolute =
            if given.is_absolute() { given.to_path_buf() } else { self.base_dir.join(given) };
        let real = real_location(&absolute)
            .map_err(|why| ToolError::permission(format!("{path}: {why}")))?;
        if self.roots.iter().any(|root| real.starts_with(root)) {
            Ok(real)
        } else {
            Err(ToolError::permission(format!(
                "{path} resolves to {}, outside the allowed paths ({}); see [tools] allowed_paths",
                real.display(),
                self.roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            )))
        }
    }

    /// Whether process_executor may run `command` (a bare name, or an absolute path whose file
    /// name or whole path is listed).
    pub fn allows_executable(&self, command: &str) -> Result<(), ToolError> {
        let name = Path::new(command).file_name().and_then(|n| n.to_str()).unwrap_or(command);
        let bare = !command.contains('/');
        let listed = self.executables.iter().any(|e| e == command || (bare && e == name));
        if listed {
            return Ok(());
        }
        if self.executables.is_empty() {
            Err(ToolError::permission(format!(
                "process_executor is off: no executable is allowed ([tools] allowed_executables); \
                 {command:?} was asked for"
            )))
        } else {
            Err(ToolError::permission(format!(
                "{command:?} is not in [tools] allowed_executables ({})",
                self.executables.join(", ")
            )))
        }
    }
}

/// The canonical location of `absolute`: its longest existing ancestor resolved, plus the rest.
fn real_location(absolute: &Path) -> Result<PathBuf, String> {
    let components: Vec<Component> = absolute.components().collect();
    for split in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        match std::fs::canonicalize(&prefix) {
            Ok(mut real) => {
                for c in &components[split..] {
                    match c {
                        Component::Normal(name) => real.push(name),
                        Component::CurDir => {}
                        _ => return Err("`..` is not allowed in a path that does not exist".into()),
                    }
                }
                return Ok(real);
            }
            Err(_) if std::fs::symlink_metadata(&prefix).is_ok() => {
                return Err(format!("{} is a dangling symlink", prefix.display()));
            }
            Err(_) => {}
        }
    }
    Err("no part of the path exists".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dir: &Path) -> Policy {
        Policy::with(dir.to_path_buf(), vec![dir.join("ok")], vec!["echo".into()], DEFAULT_TIMEOUT)
    }

    #[test]
    fn paths_under_a_root_resolve_and_escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("ok/sub")).unwrap();
        std::fs::create_dir_all(root.join("secret")).unwrap();
        std::os::unix::fs::symlink(root.join("secret"), root.join("ok/link")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("ok/dangling")).unwrap();
        let p = policy(&root);
        assert_eq!(p.resolve("ok/sub/new.txt").unwrap(), root.join("ok/sub/new.txt"));
        assert_eq!(p.resolve("ok/sub/../x").unwrap(), root.join("ok/x"));
        for bad in [
            "ok/../secret/x",
            "ok/link/x",
            "ok/link",
            "secret",
            "/etc/passwd",
            "ok/new/../../secret",
            "ok/dangling",
        ] {
            let err = p.resolve(bad).unwrap_err();
            assert_eq!(err.error_type, crate::ErrorType::Permission, "{bad}: {err}");
        }
    }

    #[test]
    fn executables_must_be_listed() {
        let dir = tempfile::tempdir().unwrap();
        let p = policy(dir.path());
        assert!(p.allows_executable("echo").is_ok());
        assert!(p.allows_executable("/bin/echo").is_err(), "a path must be listed as a path");
        assert!(p.allows_executable("sh").is_err());
        let off = Policy::new(dir.path().to_path_buf());
        assert!(off.allows_executable("echo").unwrap_err().message.contains("off"));
    }

    #[test]
    fn config_sets_paths_executables_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[kernel]\nx = 1\n[tools]\nallowed_paths = [\".\"]\nallowed_executables = [\"ls\"]\ntimeout_secs = 2.5\n";
        let p = Policy::from_config(text, dir.path().to_path_buf()).unwrap();
        assert_eq!(p.roots(), [std::fs::canonicalize(dir.path()).unwrap()]);
        assert_eq!(p.executables(), ["ls"]);
        assert_eq!(p.default_timeout(), Duration::from_millis(2500));
        let err =
            Policy::from_config("[tools]\nallowed_path = []\n", dir.path().into()).unwrap_err();
        assert!(err.contains("allowed_path"), "{err}");
        assert!(Policy::from_config("[tools]\ntimeout_secs = 0\n", dir.path().into()).is_err());
    }
}
