//! The systemd unit (systemd.service(5)) that runs one kernel.
//!
//! `Type=notify`: the kernel sends READY=1 once its connection file is written, so units ordered
//! after this one start only when the kernel listens. `ExecReload` sends SIGUSR1, which makes the
//! kernel reload config.toml (its log goes to the journal, so there is no file to reopen). Exit
//! status 78 (configuration error) is not worth a restart.
//! The template `llmspell-kerneld@.service` is the same unit with the instance name (`%i`) as the
//! id, so one file supervises a whole fleet: `systemctl --user enable --now llmspell-kerneld@k1`.
//! Values are quoted and escaped for systemd's own syntax (quotes, backslashes, `%` specifiers
//! and, on command lines, `$` variables), so any UTF-8 path survives.

use llmspell_common::KernelId;

use super::{Scope, Service};

/// `llmspell-kerneld-<id>.service`.
pub fn file_name(id: &KernelId) -> String {
    format!("llmspell-kerneld-{id}.service")
}

/// The template unit's file name.
pub const TEMPLATE_FILE: &str = "llmspell-kerneld@.service";

/// The unit's text.
pub fn unit(s: &Service) -> String {
    render(s, s.id.as_str())
}

/// The template's text: the kernel id is the instance name, `%i` (a valid id needs no escaping,
/// and systemd refuses instance names a kernel id could not be only at start, with exit 64).
pub fn template(s: &Service) -> String {
    render(s, "%i")
}

fn render(s: &Service, id: &str) -> String {
    let wanted_by = match s.scope {
        Scope::User => "default.target",
        Scope::System => "multi-user.target",
    };
    format!(
        "\
# Written by `llmspell-kerneld install-service`; see llmspell-kerneld(8).
[Unit]
Description=llmspell kernel {id}
Documentation=man:llmspell-kerneld(8)
After=network.target

[Service]
Type=notify
ExecStart={exe} start --id {id}
ExecReload=/bin/kill -USR1 $MAINPID
Restart=on-failure
RestartPreventExitStatus=78
TimeoutStopSec=30
Environment={env}

[Install]
WantedBy={wanted_by}
",
        exe = command_word(&s.exe),
        env = quoted(&format!("LLMSPELL_HOME={}", s.home)),
    )
}

/// One word of a command line: `%` and `$` doubled so they are taken literally, quoted if needed.
fn command_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@=%$".contains(c);
    if escaped.chars().all(plain) { escaped } else { quoted_raw(&escaped) }
}

/// A double-quoted value with `%` doubled (for settings that expand specifiers, not `$`).
fn quoted(value: &str) -> String {
    quoted_raw(&value.replace('%', "%%"))
}

fn quoted_raw(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(exe: &str, home: &str, scope: Scope) -> Service {
        Service {
            id: KernelId::new("work").unwrap(),
            exe: exe.into(),
            home: home.into(),
            log: format!("{home}/logs/kernel-work.log"),
            scope,
        }
    }

    #[test]
    fn a_plain_unit_has_every_setting() {
        let text = unit(&service("/usr/bin/llmspell-kerneld", "/home/a/.llmspell", Scope::User));
        for line in [
            "Type=notify",
            "ExecStart=/usr/bin/llmspell-kerneld start --id work",
            "ExecReload=/bin/kill -USR1 $MAINPID",
            "RestartPreventExitStatus=78",
            "Environment=\"LLMSPELL_HOME=/home/a/.llmspell\"",
            "WantedBy=default.target",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn the_template_takes_the_id_from_the_instance_name() {
        let text = template(&service("/usr/bin/llmspell-kerneld", "/h", Scope::User));
        assert!(text.lines().any(|l| l == "ExecStart=/usr/bin/llmspell-kerneld start --id %i"));
        assert!(text.lines().any(|l| l == "Description=llmspell kernel %i"), "{text}");
    }

    #[test]
    fn odd_paths_are_quoted_and_escaped() {
        let s = service("/opt/my tools/100%/$x\"k", "/srv/h%\\", Scope::System);
        let text = unit(&s);
        assert!(
            text.contains("ExecStart=\"/opt/my tools/100%%/$$x\\\"k\" start --id work"),
            "{text}"
        );
        assert!(text.contains("Environment=\"LLMSPELL_HOME=/srv/h%%\\\\\""), "{text}");
        assert!(text.contains("WantedBy=multi-user.target"));
    }
}
