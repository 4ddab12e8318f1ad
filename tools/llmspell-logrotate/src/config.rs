//! The config file: a small TOML file of the command line's options, per glob.
//!
//! ```toml
//! keep = 5                     # top-level keys: defaults for every table below
//! compress = true
//!
//! ["~/.llmspell/logs/*.log"]   # a table per glob; its keys win over the defaults
//! size = "10M"
//! pid-file = "~/.llmspell/kernels/{stem}.pid"
//! ```
//!
//! Keys are the long option names. Globs and paths may start with `~/`; relative ones are
//! relative to the config file's directory. Guarantees: an unknown key or a bad value is an
//! error naming the file and the key; a glob never picks up rotations or this tool's temporary
//! files (which would otherwise be rotated again); a log matched by two globs gets the first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::names;
use crate::options::Options;

/// One log and the options it is rotated with.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub options: Options,
    /// The glob that matched it (for messages), or `None` for a file named on the command line.
    pub pattern: Option<String>,
}

/// A parsed config file: its defaults and its globs in file order.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub defaults: Options,
    pub globs: Vec<(String, Options)>,
}

/// Reads and parses `path`. Errors are one line naming the file.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses config text (top-level keys are defaults, each table is a glob).
pub fn parse(text: &str) -> Result<Config, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
    let mut defaults = toml::Table::new();
    let mut globs = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(options) => {
                let options: Options =
                    toml::Value::Table(options).try_into().map_err(|e: toml::de::Error| {
                        format!("[{key:?}]: {}", one_line(&e.to_string()))
                    })?;
                globs.push((key, options));
            }
            other => {
                defaults.insert(key, other);
            }
        }
    }
    let defaults: Options = toml::Value::Table(defaults)
        .try_into()
        .map_err(|e: toml::de::Error| one_line(&e.to_string()))?;
    Ok(Config { defaults, globs })
}

/// toml's messages span several lines (a snippet with a caret); ours are one.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `~/x` with $HOME; a relative path joined to `base`.
pub fn expand(path: &str, base: &Path) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let expanded = match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    };
    if expanded.is_absolute() { expanded } else { base.join(expanded) }
}

/// The logs each glob matches, in file order, first match winning. A glob that matches
/// nothing gives its literal path (so a missing log is reported, or skipped with missing-ok).
pub fn entries(config: &Config, base: &Path, flags: &Options) -> Result<Vec<Entry>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (pattern, options) in &config.globs {
        let options = config.defaults.overlaid(options).overlaid(flags);
        let full = expand(pattern, base);
        let text = full.to_str().ok_or_else(|| format!("glob {pattern:?} is not UTF-8"))?;
        let mut matched: Vec<PathBuf> = glob::glob(text)
            .map_err(|e| format!("bad glob {pattern:?}: {e}"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file() && !p.is_symlink())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(names::is_log_name))
            .collect();
        if matched.is_empty() && !has_magic(pattern) {
            matched.push(full.clone());
        }
        for path in matched {
            if seen.insert(path.clone()) {
                out.push(Entry { path, options: options.clone(), pattern: Some(pattern.clone()) });
            }
        }
    }
    Ok(out)
}

fn has_magic(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_globs_and_top_level_keys_defaults() {
        let config = parse("keep = 3\n[\"logs/*.log\"]\nsize = \"1K\"\ncompress = true\n").unwrap();
        assert_eq!(config.defaults.keep, Some(3));
        assert_eq!(config.globs.len(), 1);
        assert_eq!(config.globs[0].0, "logs/*.log");
        assert_eq!(config.globs[0].1.size, Some(1024));
    }

    #[test]
    fn errors_name_the_key_on_one_line() {
        let err = parse("[\"a.log\"]\nkeep = \"x\"\n").unwrap_err();
        assert!(err.contains("a.log") && !err.contains('\n'), "{err}");
        let err = parse("bogus = 1\n").unwrap_err();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn globs_skip_rotations_and_first_match_wins() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "a.log.1", "a.log.2.gz", "a.log-20240101-000000-000000", "b.log"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        let config = parse("[\"*.log*\"]\nkeep = 1\n[\"a.log\"]\nkeep = 2\n").unwrap();
        let flags = Options { compress: Some(true), ..Options::default() };
        let found = entries(&config, dir.path(), &flags).unwrap();
        let names: Vec<_> =
            found.iter().map(|e| e.path.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["a.log", "b.log"]);
        assert_eq!(found[0].options.keep, Some(1));
        assert_eq!(found[0].options.compress, Some(true));
    }

    #[test]
    fn a_literal_path_that_matches_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let config = parse("[\"gone.log\"]\n").unwrap();
        let found = entries(&config, dir.path(), &Options::default()).unwrap();
        assert_eq!(found[0].path, dir.path().join("gone.log"));
    }
}
