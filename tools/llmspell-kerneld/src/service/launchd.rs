//! The launchd property list (launchd.plist(5)) that runs one kernel.
//!
//! launchd runs the kernel in the foreground (`start`, never `--daemon`: launchd tracks the
//! process it started), keeps it alive and starts it at load. Its standard output (the connection
//! file path) and standard error (the log) go to the kernel's log file. Every string is
//! XML-escaped.

use llmspell_common::KernelId;

use super::Service;

/// `io.llmspell.kerneld.<id>`, the job's Label.
pub fn label(id: &KernelId) -> String {
    format!("io.llmspell.kerneld.{id}")
}

/// `io.llmspell.kerneld.<id>.plist`.
pub fn file_name(id: &KernelId) -> String {
    format!("{}.plist", label(id))
}

/// The property list's text.
pub fn plist(s: &Service) -> String {
    let args: String = [s.exe.as_str(), "start", "--id", s.id.as_str()]
        .iter()
        .map(|a| format!("\t\t<string>{}</string>\n", xml(a)))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by `llmspell-kerneld install-service`; see llmspell-kerneld(8). -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{label}</string>
	<key>ProgramArguments</key>
	<array>
{args}	</array>
	<key>EnvironmentVariables</key>
	<dict>
		<key>LLMSPELL_HOME</key>
		<string>{home}</string>
	</dict>
	<key>KeepAlive</key>
	<true/>
	<key>RunAtLoad</key>
	<true/>
	<key>StandardOutPath</key>
	<string>{log}</string>
	<key>StandardErrorPath</key>
	<string>{log}</string>
</dict>
</plist>
"#,
        label = xml(&label(&s.id)),
        home = xml(&s.home),
        log = xml(&s.log),
    )
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Scope;

    #[test]
    fn strings_are_escaped_and_the_kernel_runs_in_the_foreground() {
        let s = Service {
            id: KernelId::new("work").unwrap(),
            exe: "/opt/a&b/llmspell-kerneld".into(),
            home: "/Users/a/<h>".into(),
            log: "/Users/a/<h>/logs/kernel-work.log".into(),
            scope: Scope::User,
        };
        let text = plist(&s);
        assert!(text.contains("<string>/opt/a&amp;b/llmspell-kerneld</string>"));
        assert!(text.contains("<string>/Users/a/&lt;h&gt;</string>"));
        assert!(text.contains("<string>io.llmspell.kerneld.work</string>"));
        assert!(!text.contains("--daemon"));
    }
}
