//! `llmspell-kerneld stop` and `install-service` on real processes and files: stopping daemons
//! (gracefully, and with SIGKILL when SIGTERM is ignored), cleaning stale files, and service
//! definitions that `systemd-analyze verify` and Python's plistlib accept.

mod harness;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use harness::{Home, binary};
use serde_json::{Value, json};

fn run(home: &Home, args: &[&str]) -> Output {
    home.command(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn exe() -> PathBuf {
    std::fs::canonicalize(binary()).unwrap()
}

// ---- stop -----------------------------------------------------------------------------------

#[test]
fn stop_ends_a_running_daemon_and_its_files_are_gone() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "sp-run"]);
    let out = run(&home, &["stop", "sp-run"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("stopped sp-run (pid {})\n", daemon.pid));
    daemon.wait_gone();
    assert!(!home.path().join("kernels/kernel-sp-run.json").exists());
    assert!(!home.path().join("kernels/kernel-sp-run.pid").exists());
}

#[test]
fn stop_all_ends_every_kernel() {
    let home = Home::new();
    let a = home.start_daemon(&["--id", "sp-a"]);
    let b = home.start_daemon(&["--id", "sp-b"]);
    let out = run(&home, &["stop", "--all"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let want = format!("stopped sp-a (pid {})\nstopped sp-b (pid {})\n", a.pid, b.pid);
    assert_eq!(text(&out.stdout), want);
    a.wait_gone();
    b.wait_gone();
    let left: Vec<_> = std::fs::read_dir(home.path().join("kernels")).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn stop_of_an_unknown_id_is_not_running() {
    let home = Home::new();
    let out = run(&home, &["stop", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "nosuch: not running\n");
}

#[test]
fn stop_of_a_killed_kernel_cleans_its_stale_files_and_says_not_running() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "sp-dead"]);
    daemon.signal("KILL");
    daemon.wait_gone();
    let out = run(&home, &["stop", "sp-dead"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("sp-dead: not running (removed stale "), "{stdout}");
    assert!(stdout.contains("kernel-sp-dead.pid") && stdout.contains("kernel-sp-dead.json"));
    assert!(!home.path().join("kernels/kernel-sp-dead.pid").exists());
    assert!(!home.path().join("kernels/kernel-sp-dead.json").exists());
}

#[test]
fn stop_leaves_the_files_of_a_kernel_that_answers_without_its_pid_file() {
    let home = Home::new();
    let elsewhere = home.path().join("elsewhere.pid");
    let kernel = home.start(&["--id", "sp-alive", "--pid-file", elsewhere.to_str().unwrap()]);
    let out = run(&home, &["stop", "sp-alive"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("answers but no process holds"), "{}", text(&out.stderr));
    assert!(kernel.path.exists(), "the live kernel's connection file was removed");
    // A dead kernel's file whose ports another kernel has since taken: that kernel (another
    // key) does not answer for it, so the file is stale and goes.
    let mut ghost: Value =
        serde_json::from_str(&std::fs::read_to_string(&kernel.path).unwrap()).unwrap();
    ghost["key"] = json!("not-the-live-kernels-key");
    let ghost_file = home.path().join("kernels/kernel-ghost.json");
    std::fs::write(&ghost_file, ghost.to_string()).unwrap();
    let out = run(&home, &["stop", "ghost"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ghost: not running (removed stale "));
    assert!(!ghost_file.exists());
}

#[test]
fn stop_needs_ids_or_all() {
    let home = Home::new();
    assert_eq!(run(&home, &["stop"]).status.code(), Some(64));
    assert_eq!(run(&home, &["stop", "--all", "x"]).status.code(), Some(64));
    assert_eq!(run(&home, &["stop", "--timeout", "soon", "x"]).status.code(), Some(64));
}

#[test]
fn a_process_ignoring_sigterm_gets_sigkill_after_the_timeout() {
    let home = Home::new();
    let pid_file = home.path().join("kernels/kernel-stubborn.pid");
    std::fs::create_dir_all(pid_file.parent().unwrap()).unwrap();
    // Holds the PID-file lock the way a kernel does (flock) and ignores SIGTERM.
    let script = "import fcntl, os, signal, sys, time\n\
        f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX)\n\
        f.write(f'{os.getpid()}\\n'); f.flush()\n\
        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
        print('ready', flush=True); time.sleep(120)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(&pid_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let out = run(&home, &["stop", "--timeout", "0.2", "stubborn"]);
    let status = child.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("stopped stubborn (pid {})\n", child.id()));
    assert!(text(&out.stderr).contains("sent SIGKILL"), "{}", text(&out.stderr));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    assert!(!pid_file.exists());
}

// ---- install-service ------------------------------------------------------------------------

/// `install-service ARGS` with HOME and XDG_CONFIG_HOME inside the temp dir.
fn service(home: &Home, args: &[&str], xdg: Option<&Path>) -> Output {
    let mut full = vec!["install-service"];
    full.extend_from_slice(args);
    let mut cmd = home.command(&full);
    cmd.env("HOME", home.path().join("user"));
    match xdg {
        Some(dir) => cmd.env("XDG_CONFIG_HOME", dir),
        None => cmd.env_remove("XDG_CONFIG_HOME"),
    };
    cmd.output().unwrap()
}

#[test]
fn print_shows_the_unit_and_writes_nothing() {
    let home = Home::new();
    let out = service(&home, &["--print", "--systemd"], Some(&home.path().join("xdg")));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let unit = text(&out.stdout);
    let want = [
        "[Unit]".to_owned(),
        "Description=llmspell kernel default".to_owned(),
        "Documentation=man:llmspell-kerneld(8)".to_owned(),
        "After=network.target".to_owned(),
        "Type=notify".to_owned(),
        format!("ExecStart={} start --id default", exe().display()),
        "ExecReload=/bin/kill -USR1 $MAINPID".to_owned(),
        "Restart=on-failure".to_owned(),
        "RestartPreventExitStatus=78".to_owned(),
        "TimeoutStopSec=30".to_owned(),
        format!("Environment=\"LLMSPELL_HOME={}\"", home.path().display()),
        "WantedBy=default.target".to_owned(),
    ];
    for line in &want {
        assert!(unit.lines().any(|l| l == line), "missing {line:?} in\n{unit}");
    }
    assert!(!home.path().join("xdg").exists() && !home.path().join("user").exists());

    let out = service(&home, &["--print", "--system", "--id", "work"], None);
    let unit = text(&out.stdout);
    assert!(unit.contains("WantedBy=multi-user.target\n"), "{unit}");
    assert!(unit.contains(" start --id work\n"), "{unit}");
}

#[test]
fn install_writes_under_xdg_config_home_or_home_config() {
    let home = Home::new();
    let xdg = home.path().join("xdg");
    let out = service(&home, &["--id", "svc"], Some(&xdg));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let path = xdg.join("systemd/user/llmspell-kerneld-svc.service");
    assert_eq!(text(&out.stdout), format!("{}\n", path.display()));
    assert!(text(&out.stderr).contains(
        "systemctl --user daemon-reload && systemctl --user enable --now llmspell-kerneld-svc"
    ));
    let printed = service(&home, &["--id", "svc", "--print"], Some(&xdg));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text(&printed.stdout));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temp file is left: {names:?}");

    let out = service(&home, &["--user"], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        home.path().join("user/.config/systemd/user/llmspell-kerneld-default.service").exists()
    );
}

#[test]
fn bad_service_flags_are_usage_errors() {
    let home = Home::new();
    for args in [&["--systemd", "--launchd"][..], &["--user", "--system"], &["--id", "No!"]] {
        assert_eq!(service(&home, args, None).status.code(), Some(64), "{args:?}");
    }
}

/// The script in tests/service/ that finds or fetches systemd-analyze and runs verify strictly.
fn systemd_verify(unit: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/service/systemd-analyze.sh");
    Command::new("bash").arg(script).arg(unit).output().unwrap()
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    // A home with a space and a percent sign exercises systemd's quoting and specifier escapes.
    let home = Home::new();
    let odd_home = home.path().join("my home 100%");
    let units = home.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    for (scope, id) in [("--user", "verify-user"), ("--system", "verify-system")] {
        let out = home
            .command(&["install-service", "--systemd", scope, "--id", id, "--print"])
            .env("LLMSPELL_HOME", &odd_home)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
        let unit = units.join(format!("llmspell-kerneld-{id}.service"));
        std::fs::write(&unit, &out.stdout).unwrap();
        let verify = systemd_verify(&unit);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "systemd-analyze verify {}:\n{}{}",
            unit.display(),
            text(&verify.stdout),
            text(&verify.stderr)
        );
    }
    // The template, checked as an instance (systemd verifies instances, not bare templates).
    let out = home
        .command(&["install-service", "--systemd", "--user", "--template", "--print"])
        .env("LLMSPELL_HOME", &odd_home)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains(" start --id %i\n"), "{}", text(&out.stdout));
    let instance = units.join("llmspell-kerneld@verify-t.service");
    std::fs::write(&instance, &out.stdout).unwrap();
    let verify = systemd_verify(&instance);
    assert_eq!(verify.status.code(), Some(0), "{}{}", text(&verify.stdout), text(&verify.stderr));
    // The check is strict: a broken unit fails it.
    let broken = units.join("llmspell-kerneld-broken.service");
    std::fs::write(&broken, "[Service]\nType=notif\nExecStart=/nonexistent/x\n").unwrap();
    assert_eq!(systemd_verify(&broken).status.code(), Some(1));
}

#[test]
fn the_launchd_plist_parses_with_plistlib() {
    let home = Home::new();
    let out = service(&home, &["--launchd", "--print", "--id", "mac"], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let plist = home.path().join("io.llmspell.kerneld.mac.plist");
    std::fs::write(&plist, &out.stdout).unwrap();
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))",
        ])
        .arg(&plist)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "plistlib: {}", text(&parsed.stderr));
    let value: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    let log = home.path().join("logs/kernel-mac.log");
    let want = json!({
        "Label": "io.llmspell.kerneld.mac",
        "ProgramArguments": [exe(), "start", "--id", "mac"],
        "EnvironmentVariables": {"LLMSPELL_HOME": home.path()},
        "KeepAlive": true,
        "RunAtLoad": true,
        "StandardOutPath": log,
        "StandardErrorPath": log,
    });
    assert_eq!(value, want);

    // Installing writes ~/Library/LaunchAgents and creates the log directory launchd needs.
    let out = service(&home, &["--launchd", "--id", "mac"], None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let written = home.path().join("user/Library/LaunchAgents/io.llmspell.kerneld.mac.plist");
    assert_eq!(text(&out.stdout), format!("{}\n", written.display()));
    assert_eq!(std::fs::read(&written).unwrap(), std::fs::read(&plist).unwrap());
    assert!(home.path().join("logs").is_dir());
}
