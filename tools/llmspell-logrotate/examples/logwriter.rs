//! A fast log writer for the tests: writes numbered lines (`0000001\n` …), one `write` each,
//! to PATH opened with O_APPEND, and reopens PATH by name on SIGHUP, as llmspell-kerneld does.
//!
//! `logwriter PATH COUNT [--pause-every N] [--pause-us U] [--no-append] [--no-reopen]`
//! prints `ready` once SIGHUP is handled and the file is open, then `done N` after the last
//! line, and goes on reopening on SIGHUP until its stdin is closed. `--no-append` opens without
//! O_APPEND (the writer copytruncate must refuse).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn open(path: &str, append: bool) -> File {
    let mut options = OpenOptions::new();
    if append {
        options.append(true);
    } else {
        options.write(true);
    }
    options.create(true).open(path).unwrap_or_else(|e| panic!("open {path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().expect("PATH").clone();
    let count: u64 = args.get(1).and_then(|c| c.parse().ok()).expect("COUNT");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
    };
    let pause_every: u64 = value("--pause-every").unwrap_or(0);
    let pause = Duration::from_micros(value("--pause-us").unwrap_or(0));
    let append = !args.iter().any(|a| a == "--no-append");
    let reopen = !args.iter().any(|a| a == "--no-reopen");

    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup)).expect("SIGHUP");
    let mut file = open(&path, append);
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    for n in 1..=count {
        if reopen && hup.swap(false, Ordering::SeqCst) {
            file = open(&path, append);
        }
        file.write_all(format!("{n:07}\n").as_bytes()).expect("write");
        if pause_every > 0 && n % pause_every == 0 {
            std::thread::sleep(pause);
        }
    }
    println!("done {count}");
    std::io::stdout().flush().expect("stdout");
    let stop = Arc::new(AtomicBool::new(false));
    let eof = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buffer), Ok(n) if n > 0) {}
        eof.store(true, Ordering::SeqCst);
    });
    while !stop.load(Ordering::SeqCst) {
        if reopen && hup.swap(false, Ordering::SeqCst) {
            file = open(&path, append);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(file);
}
