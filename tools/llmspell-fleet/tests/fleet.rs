//! End-to-end: real kernels started through `llmspell-kerneld`, one temp home per test.

mod harness;

use std::time::Duration;

use harness::{Home, alive};
use serde_json::{Value, json};

fn pid_of(entry: &Value) -> u32 {
    entry["pid"].as_u64().unwrap().try_into().unwrap()
}

#[test]
fn spawn_three_list_health_then_a_killed_one_is_unhealthy_and_cleaned_up() {
    let home = Home::new();
    let spawned = home.fleet(&["spawn", "--count", "3", "--json"]);
    let spawned = {
        assert_eq!(spawned.code, Some(0), "{spawned:?}");
        spawned.stdout_json()
    };
    assert_eq!(spawned.as_array().unwrap().len(), 3);
    assert_eq!(home.ids().len(), 3);

    let list = home.fleet(&["list", "--json"]);
    let list = list.stdout_json();
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert!(list.as_array().unwrap().iter().all(|k| k["process"] == "alive"));
    // Piped: one tab-separated line per kernel.
    let tsv = home.fleet(&["list"]).succeeded();
    assert_eq!(tsv.lines().count(), 3);
    assert!(tsv.lines().all(|l| l.split('\t').count() == 8), "{tsv}");

    let health = home.fleet(&["health", "--json"]);
    assert_eq!(health.code, Some(0), "{health:?}");
    for h in health.stdout_json().as_array().unwrap() {
        assert_eq!(h["healthy"], true);
        assert_eq!(h["heartbeat"], true);
        assert!(h["kernel_info_ms"].as_f64().is_some());
        assert!(h["rss_bytes"].as_u64().unwrap() > 0);
        assert_eq!(h["busy"], false);
    }

    let victim = home.registered()[1].clone();
    let victim_id = victim["id"].as_str().unwrap().to_owned();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid_of(&victim).to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(pid_of(&victim)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }

    let health = home.fleet(&["health", "--json"]);
    assert_eq!(health.code, Some(1), "{health:?}");
    let sick: Vec<Value> = health
        .stdout_json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["healthy"] == false)
        .cloned()
        .collect();
    assert_eq!(sick.len(), 1);
    assert_eq!(
        (sick[0]["id"].as_str(), sick[0]["process"].as_str()),
        (Some(&*victim_id), Some("dead"))
    );

    let cleanup = home.fleet(&["cleanup"]).succeeded();
    assert_eq!(cleanup, format!("removed {victim_id}\n"));
    let left = home.registered();
    assert_eq!(left.len(), 2);
    for entry in &left {
        assert!(alive(pid_of(entry)));
        for file in ["connection_file", "pid_file"] {
            assert!(std::path::Path::new(entry[file].as_str().unwrap()).exists(), "{entry}");
        }
    }
    for file in ["connection_file", "pid_file"] {
        assert!(!std::path::Path::new(victim[file].as_str().unwrap()).exists(), "{file} left");
    }
    assert_eq!(home.fleet(&["health"]).code, Some(0));
}

#[test]
fn parallel_spawns_lose_no_entry_and_stop_all_empties_the_registry() {
    let home = Home::new();
    home.fleet(&["spawn", "--count", "2"]).succeeded();
    let children: Vec<_> = (0..8).map(|_| home.command(&["spawn"]).output_async()).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let ids = home.ids();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (10, 10), "{ids:?}");
    let pids: Vec<u32> = home.registered().iter().map(pid_of).collect();

    let stop = home.fleet(&["stop", "--all", "--timeout", "5"]).succeeded();
    assert_eq!(stop.lines().count(), 10);
    assert!(home.registered().is_empty());
    assert!(pids.iter().all(|p| !alive(*p)), "a kernel survived stop --all");
    let kernels: Vec<_> = std::fs::read_dir(home.path().join("kernels")).unwrap().collect();
    assert!(kernels.is_empty(), "files left: {kernels:?}");
}

/// `Command::spawn` with piped output (a helper, so the test reads as a list of steps).
trait SpawnPiped {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnPiped for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn cull_stops_only_the_idle_kernel_never_the_busy_one() {
    let home = Home::new();
    home.fleet(&["spawn", "--id", "idle"]).succeeded();
    let busy = home.fleet(&["spawn", "--id", "busy", "--tag", "role=worker"]).succeeded();
    let conn = busy.trim().split('\t').nth(2).unwrap().to_owned();
    let info = llmspell_wire::ConnectionInfo::read(std::path::Path::new(&conn)).unwrap();
    let client = llmspell_wire::Client::connect(&info).unwrap();
    // A cell that keeps the kernel busy well past the idle limit.
    let code = "local t = os.clock() while os.clock() - t < 4 do end";
    client
        .request(
            llmspell_wire::Channel::Shell,
            "execute_request",
            json!({"code": code, "silent": false}),
        )
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let health = home.fleet(&["health", "--json", "busy"]).stdout_json();
        if health[0]["busy"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the kernel never became busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(400));

    let culled = home.fleet(&["cull", "--idle", "200ms", "--timeout", "1"]).succeeded();
    assert_eq!(culled, "culled idle\n");
    assert_eq!(home.ids(), ["busy"]);
    let health = home.fleet(&["health", "--json"]).stdout_json();
    assert_eq!(
        (health[0]["healthy"].clone(), health[0]["busy"].clone()),
        (json!(true), json!(true))
    );

    // --busy takes the busy one too (it has run longer than the limit); stop --tag would as well.
    let culled = home.fleet(&["cull", "--idle", "200ms", "--busy", "--timeout", "1"]).succeeded();
    assert_eq!(culled, "culled busy\n");
    assert!(home.registered().is_empty());
}

#[test]
fn a_corrupt_registry_is_reported_with_65_and_left_untouched() {
    let home = Home::new();
    std::fs::create_dir_all(home.path().join("fleet")).unwrap();
    let garbage = "{\"version\": 1, \"kernels\": [{\"id\": \"a\"";
    std::fs::write(home.registry(), garbage).unwrap();
    let commands: [&[&str]; 7] = [
        &["list"],
        &["spawn"],
        &["cleanup"],
        &["stop", "--all"],
        &["health"],
        &["metrics"],
        &["cull", "--idle", "1s"],
    ];
    for args in commands {
        let run = home.fleet(args);
        assert_eq!(run.code, Some(65), "{args:?}: {run:?}");
        assert!(run.stderr.contains("corrupt fleet registry"), "{run:?}");
        assert_eq!(std::fs::read_to_string(home.registry()).unwrap(), garbage, "{args:?}");
    }
    // spawn refused before starting anything.
    let kernels = home.path().join("kernels");
    assert!(!kernels.exists() || std::fs::read_dir(kernels).unwrap().next().is_none());
}

#[test]
fn port_range_restart_connect_logs_and_metrics() {
    let home = Home::new();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let first = probe.local_addr().unwrap().port();
    drop(probe);
    let (first, last) = (first.saturating_sub(200), first.saturating_sub(100));
    let range = format!("{first}-{last}");
    let spawned = home.fleet(&["spawn", "--id", "pr", "--port-range", &range, "--json"]);
    assert_eq!(spawned.code, Some(0), "{spawned:?}");
    let in_range = |entry: &Value| {
        let ports = entry["ports"].as_object().unwrap();
        assert_eq!(ports.len(), 5);
        ports.values().all(|p| (first..=last).contains(&(p.as_u64().unwrap() as u16)))
    };
    assert!(in_range(&spawned.stdout_json()[0]), "{spawned:?}");

    let conn = home.fleet(&["connect", "pr"]).succeeded();
    assert_eq!(conn.trim(), home.path().join("kernels/kernel-pr.json").to_str().unwrap());
    assert_eq!(home.fleet(&["connect", "nope"]).code, Some(66));

    let old_pid = pid_of(&home.registered()[0]);
    let execute = |code: &str| {
        let info = llmspell_wire::ConnectionInfo::read(std::path::Path::new(conn.trim())).unwrap();
        let client = llmspell_wire::Client::connect(&info).unwrap();
        // Until iopub is subscribed, the cell's idle may be published to nobody.
        client.wait_ready(Duration::from_secs(10)).unwrap();
        let outcome = client.execute(code, Duration::from_secs(10)).unwrap();
        outcome.result_text().map(str::to_owned)
    };
    execute(r#"State.save("fleet", "kept", "yes")"#);
    home.fleet(&["restart", "pr", "--timeout", "2"]).succeeded();
    // Same id, so the same state store: what was saved before the restart is there after it.
    assert_eq!(execute(r#"State.load("fleet", "kept")"#).as_deref(), Some("\"yes\""));
    let entry = home.registered()[0].clone();
    assert_eq!((entry["id"].as_str(), entry["restarts"].as_u64()), (Some("pr"), Some(1)));
    assert_ne!(pid_of(&entry), old_pid);
    assert!(!alive(old_pid));
    assert!(in_range(&entry), "{entry}");

    // The log file exists (the daemon opened it); its content is the kernel's business.
    assert_eq!(home.fleet(&["logs", "pr"]).code, Some(0));
    assert_eq!(home.fleet(&["logs", "nope"]).code, Some(66));

    let metrics = home.fleet(&["metrics"]).succeeded();
    assert!(metrics.contains("llmspell_fleet_kernels{state=\"running\"} 1\n"), "{metrics}");
    assert!(metrics.contains("llmspell_kernel_restarts_total{id=\"pr\"} 1\n"), "{metrics}");
    assert!(metrics.contains("llmspell_kernel_up{id=\"pr\"} 1\n"), "{metrics}");
    let textfile = home.path().join("textfile/llmspell.prom");
    home.fleet(&["metrics", "--textfile", textfile.to_str().unwrap()]).succeeded();
    let written = std::fs::read_to_string(&textfile).unwrap();
    assert!(written.contains("# TYPE llmspell_kernel_rss_bytes gauge\n"));
    let names: Vec<_> = std::fs::read_dir(textfile.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1, "a temp file was left");
}

#[test]
fn kernels_the_fleet_did_not_start_are_listed_but_not_registered() {
    let home = Home::new();
    home.kerneld(&["start", "--daemon", "--id", "by-hand"]).succeeded();
    let list = home.fleet(&["list", "--json"]).stdout_json();
    assert_eq!(list[0]["id"], "by-hand");
    assert_eq!(list[0]["source"], "unregistered");
    assert!(home.registered().is_empty());
    // connect works for it too (the file llmspell-kerneld uses for that id).
    assert!(
        home.fleet(&["connect", "by-hand"]).succeeded().trim().ends_with("kernel-by-hand.json")
    );
}

#[test]
fn stop_by_tag_stops_only_the_tagged_kernels() {
    let home = Home::new();
    home.fleet(&["spawn", "--count", "2", "--tag", "team=a"]).succeeded();
    home.fleet(&["spawn", "--id", "keep", "--tag", "team=b"]).succeeded();
    let stopped = home.fleet(&["stop", "--tag", "team=a", "--timeout", "5"]).succeeded();
    assert_eq!(stopped.lines().count(), 2, "{stopped}");
    assert_eq!(home.ids(), ["keep"]);
    assert_eq!(home.fleet(&["health"]).code, Some(0));
    // An id the registry does not hold is refused, and nothing is stopped.
    assert_eq!(home.fleet(&["stop", "nope"]).code, Some(66));
    assert_eq!(home.ids(), ["keep"]);
}

#[test]
fn logs_follow_keeps_reading_across_a_rotation() {
    use std::io::{BufRead, BufReader, Write};
    let home = Home::new();
    let logs = home.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("kernel-w.log");
    std::fs::write(&log, "first\n").unwrap();
    assert_eq!(home.fleet(&["logs", "w"]).succeeded(), "first\n");

    let mut child =
        home.command(&["logs", "w", "-f"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    let append = |path: &std::path::Path, text: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(&log, "second\n");
    assert_eq!(lines.next().unwrap().unwrap(), "second");
    // Rotation by rename: a line written to the old file just before, then the new file.
    append(&log, "third\n");
    std::fs::rename(&log, logs.join("kernel-w.log.1")).unwrap();
    append(&log, "fourth\n");
    assert_eq!(lines.next().unwrap().unwrap(), "third");
    assert_eq!(lines.next().unwrap().unwrap(), "fourth");
    child.kill().unwrap();
    child.wait().unwrap();
}
