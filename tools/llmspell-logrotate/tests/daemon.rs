//! Rotating the log of a real `llmspell-kerneld start --daemon` kernel, which reopens its log on
//! SIGHUP and whose PID file is flock-held (the lock is what makes the PID trusted).

mod harness;

use std::collections::BTreeMap;

use harness::{Daemon, Home, read_maybe_gz};

#[test]
fn a_daemon_kernel_log_rotates_with_sighup_losing_and_doubling_nothing() {
    let home = Home::new();
    // Info level, so that each reopen writes a line into the new file.
    std::fs::write(home.file("config.toml"), "[kernel]\nlog_level = \"info\"\n").unwrap();
    let kernel = Daemon::start(&home, "rot");
    let args = ["--compress", "-v", "--pid-file", "kernels/{stem}.pid", "logs/kernel-rot.log"];
    for _ in 0..5 {
        let run = home.run(&args);
        assert!(run.ok().contains(&format!("sent SIGHUP to {}", kernel.pid)), "{run:?}");
    }
    // Compressed only once the kernel had closed it: each rotation was reopened from.
    let mut files = vec![home.file("logs/kernel-rot.log")];
    files.extend((1..=5).map(|k| home.file(&format!("logs/kernel-rot.log.{k}.gz"))));
    let texts: Vec<String> = files.iter().map(|f| read_maybe_gz(f)).collect();
    let reopened = |text: &str| text.matches("SIGHUP: reopened log file").count();
    // Newest to oldest: the live log and .1 … .4 each start with the reopen that opened them;
    // .5 holds the start-up.
    for (file, text) in files.iter().zip(&texts).take(5) {
        assert_eq!(reopened(text), 1, "{}: {text}", file.display());
    }
    assert_eq!(reopened(&texts[5]), 0, "{}", texts[5]);
    assert!(!texts[5].is_empty(), "the start-up lines are in the oldest rotation");
    let mut seen = BTreeMap::new();
    for line in texts.iter().flat_map(|t| t.lines()) {
        *seen.entry(line).or_insert(0) += 1;
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "lines in two files: {doubled:?}");
    drop(kernel);
}
