//! Kernels the fleet did not start but can see: live kernels with files in `kernels/` that the
//! registry does not hold, such as instances of the `llmspell-kerneld@.service` systemd template
//! (supervised by systemd, so the fleet lists them but leaves restarting to systemd).
//!
//! A kernel is attributed to systemd when its process's cgroup (`/proc/PID/cgroup`) names a
//! `llmspell-kerneld@ID.service` unit; otherwise it was started by hand.

use llmspell_common::Home;
use llmspell_common::pidfile::{self, Liveness};

/// A live kernel outside the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub id: String,
    pub pid: Option<u32>,
    /// `systemd` (with the unit) or `unregistered`.
    pub source: String,
    pub unit: Option<String>,
}

/// Live kernels in `kernels/` whose id is not in `registered`.
pub fn find(home: &Home, registered: &[String]) -> Vec<External> {
    let ids = home.kernel_ids().unwrap_or_default();
    ids.iter()
        .filter(|id| !registered.iter().any(|r| r == id.as_str()))
        .filter_map(|id| match pidfile::probe(&home.pid_file(id)) {
            Ok(Liveness::Running(pid)) => {
                let unit = pid
                    .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
                    .and_then(|text| systemd_unit(&text));
                let source = if unit.is_some() { "systemd" } else { "unregistered" };
                Some(External { id: id.to_string(), pid, source: source.to_owned(), unit })
            }
            _ => None,
        })
        .collect()
}

/// The `llmspell-kerneld@ID.service` unit named in a /proc/PID/cgroup text, if any.
pub fn systemd_unit(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .flat_map(|line| line.rsplit(':').next().unwrap_or("").split('/'))
        .find(|part| part.starts_with("llmspell-kerneld@") && part.ends_with(".service"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_read_from_cgroup_v1_and_v2_lines() {
        let v2 = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/\
                  llmspell-kerneld@work.service\n";
        assert_eq!(systemd_unit(v2).as_deref(), Some("llmspell-kerneld@work.service"));
        let v1 = "12:pids:/system.slice/llmspell-kerneld@a-1.service\n1:name=systemd:/x\n";
        assert_eq!(systemd_unit(v1).as_deref(), Some("llmspell-kerneld@a-1.service"));
        assert_eq!(systemd_unit("0::/user.slice/session-3.scope\n"), None);
    }

    #[test]
    fn live_kernels_outside_the_registry_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let a = llmspell_common::KernelId::new("a").unwrap();
        let b = llmspell_common::KernelId::new("b").unwrap();
        let _held = llmspell_common::PidFile::acquire(&home.pid_file(&a)).unwrap();
        let _held_b = llmspell_common::PidFile::acquire(&home.pid_file(&b)).unwrap();
        std::fs::write(home.kernels_dir().join("kernel-dead.pid"), "1\n").unwrap();
        let found = find(&home, &["b".to_owned()]);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].id.as_str(), found[0].pid), ("a", Some(std::process::id())));
    }
}
