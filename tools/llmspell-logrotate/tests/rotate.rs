//! End-to-end tests of llmspell-logrotate: the real binary on real files with a real writer
//! process that reopens on SIGHUP. Every assertion is about files and lines, never timings.

mod harness;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use harness::{Home, read_maybe_gz, tally};

fn append(home: &Home, log: &str, lines: std::ops::RangeInclusive<u64>) {
    use std::io::Write;
    let mut file = std::fs::File::options().append(true).create(true).open(home.file(log)).unwrap();
    let text: String = lines.map(|n| format!("{n:07}\n")).collect();
    file.write_all(text.as_bytes()).unwrap();
}

fn set_mtime(path: &std::path::Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn forty_rotations_while_a_writer_writes_lose_and_double_no_line() {
    let home = Home::new();
    let count = 200_000;
    let mut writer = home.writer("app.log", count, 5_000, 25_000, &[]);
    for _ in 0..40 {
        home.run(&["--compress", "--pid-file", "app.log.pid", "app.log"]).ok();
    }
    writer.wait_done();
    writer.finish();
    let (missing, doubled) = tally(&home.all_lines("app.log"), count);
    assert_eq!((missing.len(), doubled.len()), (0, 0), "missing {missing:?}, doubled {doubled:?}");
    // Each rotation was compressed once its writer had reopened: none is left plain.
    for k in 1..=40 {
        assert!(home.file(&format!("app.log.{k}.gz")).exists(), "no app.log.{k}.gz");
    }
    assert!(!home.file("app.log.41.gz").exists());
    assert!(!home.names().iter().any(|n| n.ends_with(".logrotate-tmp")), "{:?}", home.names());
}

#[test]
fn a_rotation_a_writer_still_has_open_is_neither_compressed_nor_deleted() {
    let home = Home::new();
    let count = 20_000;
    // This writer ignores SIGHUP: it keeps writing into the renamed file.
    let mut writer = home.writer("app.log", count, 1_000, 10_000, &["--no-reopen"]);
    let args = ["--compress", "--pid-file", "app.log.pid", "--reopen-timeout", "300ms"];
    let run = home.run(&[&args[..], &["app.log"]].concat());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains("still has the rotated file open"), "{run:?}");
    assert!(home.file("app.log.1").exists() && !home.file("app.log.1.gz").exists());
    let run = home.run(&["--compress", "--keep", "0", "--missing-ok", "-v", "app.log"]);
    assert!(run.ok().contains("has it open"), "{run:?}");
    assert!(home.file("app.log.1").exists());
    writer.wait_done();
    writer.finish();
    // Closed now: compressed (and with --keep 0 it would go).
    home.run(&["--compress", "--missing-ok", "app.log"]).ok();
    let (missing, doubled) = tally(&home.all_lines("app.log"), count);
    assert_eq!((missing.len(), doubled.len()), (0, 0), "missing {missing:?}, doubled {doubled:?}");
    assert!(home.file("app.log.1.gz").exists());
}

#[test]
fn copytruncate_with_an_o_append_writer_never_doubles_a_line_nor_writes_nuls() {
    let home = Home::new();
    let count = 100_000;
    let mut writer = home.writer("app.log", count, 2_500, 25_000, &["--no-reopen"]);
    for _ in 0..20 {
        home.run(&["--copytruncate", "app.log"]).ok();
    }
    writer.wait_done();
    writer.finish();
    // all_lines fails on a NUL byte; tally on a torn or doubled line.
    let lines = home.all_lines("app.log");
    let (missing, doubled) = tally(&lines, count);
    assert!(doubled.is_empty(), "doubled {doubled:?}");
    assert!(home.file("app.log.20").exists());
    // The documented window: lines appended between the last read and the truncation.
    eprintln!("copytruncate: {} of {count} lines fell in the window", missing.len());
}

#[test]
fn copytruncate_refuses_a_writer_without_o_append() {
    let home = Home::new();
    let mut writer = home.writer("app.log", 10, 0, 0, &["--no-append"]);
    writer.wait_done();
    let before = std::fs::read(home.file("app.log")).unwrap();
    let run = home.run(&["--copytruncate", "app.log"]);
    let line = run.fails(78);
    assert!(line.contains("O_APPEND") && line.contains(&writer.pid().to_string()), "{line}");
    assert_eq!(std::fs::read(home.file("app.log")).unwrap(), before);
    assert!(!home.file("app.log.1").exists());
    writer.finish();
}

#[test]
fn retention_by_count_keeps_the_newest() {
    let home = Home::new();
    for round in 1..=5 {
        append(&home, "app.log", round..=round);
        home.run(&["--keep", "2", "app.log"]).ok();
    }
    let rotations: Vec<_> =
        home.names().into_iter().filter(|n| n.starts_with("app.log.")).collect();
    assert_eq!(rotations, ["app.log.1", "app.log.2"]);
    assert_eq!(read_maybe_gz(&home.file("app.log.1")), "0000005\n");
    assert_eq!(read_maybe_gz(&home.file("app.log.2")), "0000004\n");
}

#[test]
fn retention_by_age_deletes_rotations_last_written_long_ago() {
    let home = Home::new();
    for round in 1..=3 {
        append(&home, "app.log", round..=round);
        home.run(&["app.log"]).ok();
    }
    set_mtime(&home.file("app.log.2"), Duration::from_secs(10 * 86400));
    set_mtime(&home.file("app.log.3"), Duration::from_secs(9 * 86400));
    // Not due (size), so only the retention runs.
    let out = home.run(&["--size", "1G", "--keep-age", "1week", "--missing-ok", "-v", "app.log"]);
    assert!(out.ok().contains("deleted") && out.stdout.contains("keep-age"), "{out:?}");
    let rotations: Vec<_> =
        home.names().into_iter().filter(|n| n.starts_with("app.log.")).collect();
    assert_eq!(rotations, ["app.log.1"]);
}

#[test]
fn retention_by_total_size_deletes_the_oldest_first() {
    let home = Home::new();
    for round in 0..4u64 {
        append(&home, "app.log", round * 125 + 1..=round * 125 + 125); // 1000 bytes each
        home.run(&["app.log"]).ok();
    }
    home.run(&["--max-total", "2500", "--missing-ok", "app.log"]).ok();
    let rotations: Vec<_> =
        home.names().into_iter().filter(|n| n.starts_with("app.log.")).collect();
    assert_eq!(rotations, ["app.log.1", "app.log.2"]);
    assert!(read_maybe_gz(&home.file("app.log.1")).starts_with("0000376\n"));
}

#[test]
fn files_it_did_not_create_are_never_deleted() {
    let home = Home::new();
    std::fs::write(home.file("app.log.1"), "not mine\n").unwrap();
    for round in 1..=3 {
        append(&home, "app.log", round..=round);
        let run = home.run(&["--keep", "1", "--compress", "app.log"]);
        assert_eq!(run.code, Some(0), "{run:?}");
    }
    // The stranger was moved up by the rotations but neither compressed nor deleted.
    let found: Vec<_> =
        home.names().into_iter().filter(|n| read_maybe_gz(&home.file(n)) == "not mine\n").collect();
    assert_eq!(found.len(), 1, "{:?}", home.names());
    assert!(!found[0].ends_with(".gz"));
    let last = home.run(&["--keep", "1", "--missing-ok", "app.log"]);
    let warning =
        format!("{}: not deleted (keep 1): llmspell-logrotate did not create it", found[0]);
    assert!(last.stderr.contains(&warning), "{last:?}");
    // Of its own rotations only the newest is left.
    let ours: Vec<_> = home.names().into_iter().filter(|n| n.ends_with(".gz")).collect();
    assert_eq!(ours, ["app.log.1.gz"]);
    assert_eq!(read_maybe_gz(&home.file("app.log.1.gz")), "0000003\n");
}

#[test]
fn dateext_names_sort_in_rotation_order() {
    let home = Home::new();
    for round in 1..=6 {
        append(&home, "app.log", round..=round);
        home.run(&["--dateext", "--compress", "--delay-compress", "app.log"]).ok();
    }
    let mut rotations: Vec<_> =
        home.names().into_iter().filter(|n| n.starts_with("app.log-")).collect();
    rotations.sort();
    assert_eq!(rotations.len(), 6, "{rotations:?}");
    assert_eq!(rotations.iter().filter(|n| n.ends_with(".gz")).count(), 5, "{rotations:?}");
    let in_name_order: Vec<String> =
        rotations.iter().map(|n| read_maybe_gz(&home.file(n)).trim().to_owned()).collect();
    let expected: Vec<String> = (1..=6).map(|n| format!("{n:07}")).collect();
    assert_eq!(in_name_order, expected);
}

#[test]
fn concurrent_runs_one_exits_75_at_once() {
    let home = Home::new();
    append(&home, "app.log", 1..=10);
    let mut first = home
        .command(&["app.log"])
        .env(llmspell_logrotate::FAILPOINT_ENV, "locked:stop")
        .spawn()
        .unwrap();
    // Wait until the first run has the lock and stopped itself there.
    let stat = format!("/proc/{}/stat", first.id());
    while !std::fs::read_to_string(&stat).unwrap().contains(") T ") {
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = home.run(&["app.log"]);
    let line = second.fails(75);
    assert!(line.contains(&first.id().to_string()), "{line}");
    let pid = nix::unistd::Pid::from_raw(first.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(read_maybe_gz(&home.file("app.log.1")).lines().count(), 10);
    assert!(!home.file("app.log.2").exists());
}

#[test]
fn dry_run_changes_nothing() {
    let home = Home::new();
    for round in 1..=3 {
        append(&home, "app.log", round..=round);
        home.run(&["app.log"]).ok();
    }
    append(&home, "app.log", 4..=4);
    let before = home.snapshot();
    let out = home.run(&["-n", "--keep", "1", "--compress", "app.log"]);
    let text = out.ok();
    assert!(text.contains("would rotate"), "{text}");
    assert!(text.contains("would compress") && text.contains("would delete"), "{text}");
    assert_eq!(home.snapshot(), before);
    // Not even a state file where there was none.
    let fresh = Home::new();
    append(&fresh, "x.log", 1..=1);
    fresh.run(&["--dry-run", "x.log"]).ok();
    assert_eq!(fresh.names(), ["x.log"]);
}

#[test]
fn nothing_to_do_exits_0_and_says_nothing() {
    let home = Home::new();
    append(&home, "app.log", 1..=10);
    std::fs::write(home.file("empty.log"), "").unwrap();
    home.run(&["--size", "1M", "app.log"]).ok();
    home.run(&["--not-if-empty", "empty.log"]).ok();
    home.run(&["--max-age", "1d", "app.log"]).ok();
    home.run(&["--missing-ok", "gone.log"]).ok();
    assert!(!home.file("app.log.1").exists() && !home.file("empty.log.1").exists());
}

#[test]
fn delay_compress_and_create() {
    let home = Home::new();
    for round in 1..=2 {
        append(&home, "app.log", round..=round);
        home.run(&["--compress", "--delay-compress", "--create", "0640", "app.log"]).ok();
    }
    assert!(home.file("app.log.1").exists() && home.file("app.log.2.gz").exists());
    let meta = std::fs::metadata(home.file("app.log")).unwrap();
    assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (0, 0o640));
}

#[test]
fn config_globs_with_a_pid_file_per_log() {
    let home = Home::new();
    std::fs::create_dir_all(home.file("logs")).unwrap();
    std::fs::create_dir_all(home.file("run")).unwrap();
    let writer = home.writer("logs/app.log", 50, 0, 0, &[]);
    std::fs::rename(home.file("logs/app.log.pid"), home.file("run/app.pid")).unwrap();
    std::fs::write(
        home.file("rotate.toml"),
        "keep = 2\n[\"logs/*.log\"]\ncompress = true\npid-file = \"run/{stem}.pid\"\n",
    )
    .unwrap();
    let out = home.run(&["--config", "rotate.toml", "-v"]);
    assert!(out.ok().contains(&format!("sent SIGHUP to {}", writer.pid())), "{out:?}");
    assert!(home.file("logs/app.log.1.gz").exists());
    writer.finish();
    assert_eq!(read_maybe_gz(&home.file("logs/app.log.1.gz")).lines().count(), 50);
}

#[test]
fn a_pid_file_older_than_its_process_is_not_trusted() {
    let home = Home::new();
    append(&home, "app.log", 1..=3);
    let mut stranger = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(home.file("app.pid"), format!("{}\n", stranger.id())).unwrap();
    set_mtime(&home.file("app.pid"), Duration::from_secs(86400));
    let run = home.run(&["--pid-file", "app.pid", "app.log"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stderr.contains("stale"), "{run:?}");
    assert!(stranger.try_wait().unwrap().is_none(), "the stranger was signalled");
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[test]
fn usage_and_configuration_errors() {
    let home = Home::new();
    // clap's own messages (several lines, with a usage hint) for what it checks itself.
    for args in [&["--size", "lots", "a.log"][..], &["--signal", "HUP", "a.log"], &[]] {
        let run = home.run(args);
        assert_eq!(run.code, Some(64), "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{run:?}");
    }
    home.run(&["--copytruncate", "--pid-file", "p", "a.log"]).code.filter(|&c| c == 64).unwrap();
    std::fs::write(home.file("mixed.toml"), "[\"a.log\"]\ncopytruncate = true\nsignal = 1\n")
        .unwrap();
    assert!(home.run(&["--config", "mixed.toml"]).fails(78).contains("copytruncate"));
    home.run(&["--config", "none.toml"]).fails(66);
    std::fs::write(home.file("bad.toml"), "[\"*.log\"]\nsise = 1\n").unwrap();
    assert!(home.run(&["--config", "bad.toml"]).fails(78).contains("sise"));
    home.run(&["missing.log"]).fails(66);
}

/// Runs that SIGKILL themselves between two steps leave nothing that the next run does not
/// finish or undo: every line exactly once, no temporary file, nothing pending.
#[test]
fn killed_at_any_step_the_next_run_finishes_or_undoes_it() {
    let home = Home::new();
    let mut next = 1;
    let mut round = |step: &str, args: &[&str]| {
        append(&home, "app.log", next..=next + 99);
        next += 100;
        home.run_killed_at(step, args);
        home.run(args).ok();
    };
    let rename = ["--compress", "--missing-ok", "app.log"];
    let copy = ["--copytruncate", "--compress", "--missing-ok", "app.log"];
    for step in ["locked", "shifted", "renamed", "compressed"] {
        round(step, &rename);
    }
    for step in ["copied", "truncated", "compressed"] {
        round(step, &copy);
    }
    let count = next - 1;
    let (missing, doubled) = tally(&home.all_lines("app.log"), count);
    assert_eq!((missing.len(), doubled.len()), (0, 0), "missing {missing:?}, doubled {doubled:?}");
    assert!(!home.names().iter().any(|n| n.starts_with('.')), "{:?}", home.names());
    let state = std::fs::read_to_string(home.file("logrotate.state")).unwrap();
    assert!(!state.contains("pending"), "{state}");
}

/// A real SIGKILL at whatever moment it lands, while a large rotation is compressed.
#[test]
fn killed_at_an_arbitrary_moment_no_line_is_lost_or_doubled() {
    let home = Home::new();
    let mut next = 1;
    for delay_ms in [0, 3, 10, 30] {
        append(&home, "app.log", next..=next + 99_999);
        next += 100_000;
        let mut child = home.command(&["--compress", "app.log"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        home.run(&["--compress", "--missing-ok", "app.log"]).ok();
    }
    let (missing, doubled) = tally(&home.all_lines("app.log"), next - 1);
    assert_eq!((missing.len(), doubled.len()), (0, 0), "missing {missing:?}, doubled {doubled:?}");
    assert!(!home.names().iter().any(|n| n.starts_with('.')), "{:?}", home.names());
}
