//! `llmspell-kerneld install-service`: a systemd unit or launchd property list that runs one
//! kernel in the foreground under the service manager.
//!
//! The definition names this binary by its absolute path and pins `LLMSPELL_HOME` to the home
//! resolved now, so the service finds the same files whatever environment the manager gives it.
//! It is written atomically (temp file in the same directory, then rename), or with `--print`
//! only shown. Rendering lives in [`systemd`] and [`launchd`]; this module picks and places.

pub mod launchd;
pub mod systemd;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::Args;
use llmspell_common::{ExitCode, Home, KernelId};

use crate::Failure;
use crate::status::print_all;

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Write a systemd unit (the default on Linux).
    #[arg(long, conflicts_with = "launchd")]
    pub systemd: bool,
    /// Write a launchd property list (the default on macOS).
    #[arg(long)]
    pub launchd: bool,
    /// Install for the current user (the default).
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// Install for the whole system (/etc/systemd/system or /Library/LaunchDaemons).
    #[arg(long)]
    pub system: bool,
    /// Kernel id the service runs.
    #[arg(long, default_value = "default")]
    pub id: String,
    /// Write the systemd template llmspell-kerneld@.service instead: one instance per kernel id
    /// (`systemctl --user enable --now llmspell-kerneld@ID`), for running a fleet under systemd.
    #[arg(long, conflicts_with_all = ["launchd", "id"])]
    pub template: bool,
    /// Print the definition on standard output instead of writing it.
    #[arg(long)]
    pub print: bool,
}

/// Which service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Systemd,
    Launchd,
}

/// Per-user or system-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    System,
}

/// What goes into a service definition.
#[derive(Debug, Clone)]
pub struct Service {
    pub id: KernelId,
    /// Absolute path of the kernel binary.
    pub exe: String,
    /// Absolute `$LLMSPELL_HOME`.
    pub home: String,
    /// Absolute path of the kernel's log file (launchd's stdout/stderr).
    pub log: String,
    pub scope: Scope,
}

pub fn run(args: &ServiceArgs) -> Result<(), Failure> {
    let id = KernelId::new(&args.id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?;
    let manager = match (args.systemd, args.launchd) {
        (true, _) => Manager::Systemd,
        (_, true) => Manager::Launchd,
        _ if cfg!(target_os = "macos") => Manager::Launchd,
        _ => Manager::Systemd,
    };
    let scope = if args.system { Scope::System } else { Scope::User };
    if args.template && manager == Manager::Launchd {
        return Err(Failure::new(ExitCode::Usage, "--template is a systemd unit: not on macOS"));
    }
    let service = describe(id, scope)?;
    let text = match manager {
        Manager::Systemd if args.template => systemd::template(&service),
        Manager::Systemd => systemd::unit(&service),
        Manager::Launchd => launchd::plist(&service),
    };
    if args.print {
        return print_all(&text);
    }
    let mut path = destination(manager, scope, &service.id)?;
    if args.template {
        path.set_file_name(systemd::TEMPLATE_FILE);
    }
    if manager == Manager::Launchd {
        // launchd opens StandardOutPath itself and does not create its directory.
        let logs = Path::new(&service.log).parent().unwrap_or(Path::new("/"));
        create_dir(logs)?;
    }
    write_atomically(&path, &text)?;
    print_all(&format!("{}\n", path.display()))?;
    if args.template {
        let user = if scope == Scope::User { " --user" } else { "" };
        eprintln!(
            "next: systemctl{user} daemon-reload && systemctl{user} enable --now \
             llmspell-kerneld@ID (one instance per kernel id)"
        );
    } else {
        eprintln!("next: {}", next_step(manager, scope, &service.id, &path));
    }
    Ok(())
}

/// Resolves the binary and home paths the service will use.
fn describe(id: KernelId, scope: Scope) -> Result<Service, Failure> {
    let exe = std::env::current_exe().map_err(|e| {
        Failure::new(ExitCode::Software, format!("cannot find this program's path: {e}"))
    })?;
    let home = Home::from_env();
    let root = std::path::absolute(home.root()).map_err(|e| {
        let msg = format!("cannot resolve LLMSPELL_HOME {}: {e}", home.root().display());
        Failure::new(ExitCode::Config, msg)
    })?;
    let home = Home::at(root);
    Ok(Service {
        exe: utf8(&exe, "the program path")?,
        home: utf8(home.root(), "LLMSPELL_HOME")?,
        log: utf8(&home.log_file(&id), "the log file path")?,
        id,
        scope,
    })
}

/// A path as text for a service file: UTF-8 and on one line.
fn utf8(path: &Path, what: &str) -> Result<String, Failure> {
    match path.to_str() {
        Some(text) if !text.contains(['\n', '\r']) => Ok(text.to_owned()),
        _ => Err(Failure::new(
            ExitCode::Config,
            format!(
                "{what} {} cannot go in a service file (not UTF-8 or has a newline)",
                path.display()
            ),
        )),
    }
}

/// Where the definition goes.
pub fn destination(manager: Manager, scope: Scope, id: &KernelId) -> Result<PathBuf, Failure> {
    let user_home = || {
        std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or_else(|| {
            Failure::new(
                ExitCode::Config,
                "HOME is not set: cannot find the user's service directory",
            )
        })
    };
    let dir = match (manager, scope) {
        (Manager::Systemd, Scope::User) => {
            match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
                // The XDG spec says a relative value is invalid and must be ignored.
                Some(config) if config.is_absolute() => config,
                _ => user_home()?.join(".config"),
            }
            .join("systemd/user")
        }
        (Manager::Systemd, Scope::System) => PathBuf::from("/etc/systemd/system"),
        (Manager::Launchd, Scope::User) => user_home()?.join("Library/LaunchAgents"),
        (Manager::Launchd, Scope::System) => PathBuf::from("/Library/LaunchDaemons"),
    };
    Ok(dir.join(match manager {
        Manager::Systemd => systemd::file_name(id),
        Manager::Launchd => launchd::file_name(id),
    }))
}

/// The command that loads and starts the service just written.
fn next_step(manager: Manager, scope: Scope, id: &KernelId, path: &Path) -> String {
    match (manager, scope) {
        (Manager::Systemd, Scope::User) => format!(
            "systemctl --user daemon-reload && systemctl --user enable --now llmspell-kerneld-{id}"
        ),
        (Manager::Systemd, Scope::System) => {
            format!("systemctl daemon-reload && systemctl enable --now llmspell-kerneld-{id}")
        }
        (Manager::Launchd, Scope::User) => {
            format!("launchctl bootstrap gui/$(id -u) {}", path.display())
        }
        (Manager::Launchd, Scope::System) => {
            format!("launchctl bootstrap system {}", path.display())
        }
    }
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| {
        let code = llmspell_common::exit::for_io_error(&e, false);
        Failure::new(code, format!("cannot create {}: {e}", dir.display()))
    })
}

/// Temp file in the target directory, mode 0644, synced, renamed over `path`.
fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir(dir)?;
    let fail = |e: std::io::Error| {
        let code = llmspell_common::exit::for_io_error(&e, false);
        Failure::new(code, format!("cannot write {}: {e}", path.display()))
    };
    let mut tmp =
        tempfile::Builder::new().prefix(".llmspell-kerneld-").tempfile_in(dir).map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_paths_are_fixed() {
        let id = KernelId::new("work").unwrap();
        let unit = destination(Manager::Systemd, Scope::System, &id).unwrap();
        assert_eq!(unit, Path::new("/etc/systemd/system/llmspell-kerneld-work.service"));
        let plist = destination(Manager::Launchd, Scope::System, &id).unwrap();
        assert_eq!(plist, Path::new("/Library/LaunchDaemons/io.llmspell.kerneld.work.plist"));
    }

    #[test]
    fn the_next_step_names_the_unit() {
        let id = KernelId::new("work").unwrap();
        let step = next_step(Manager::Systemd, Scope::User, &id, Path::new("/x"));
        assert!(step.ends_with("systemctl --user enable --now llmspell-kerneld-work"), "{step}");
    }
}
