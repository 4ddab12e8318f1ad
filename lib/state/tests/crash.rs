//! Crash safety: a writer killed with SIGKILL in the middle of a loop of saves and deletes leaves
//! a store that opens, passes SQLite's integrity check, and holds only complete values.
//!
//! The writer is this test binary run again with [`CHILD_ENV`] set, selecting
//! [`crash_writer_child`] alone; without the variable that test returns at once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llmspell_state::Store;
use serde_json::{Value, json};

/// Set to the store path in the child process.
const CHILD_ENV: &str = "LLMSPELL_STATE_CRASH_CHILD";

/// A value that checks itself: `len` and `sum` describe `items` and `text`.
fn value_for(i: u64) -> Value {
    let n = (i % 500) as usize;
    let items: Vec<u64> = (0..n as u64).map(|x| x * i).collect();
    let sum: u64 = items.iter().fold(0u64, |a, b| a.wrapping_add(*b));
    json!({"i": i, "len": n, "sum": sum, "items": items, "text": "x".repeat(n * 20)})
}

fn is_complete(v: &Value) -> bool {
    let (Some(n), Some(sum), Some(items), Some(text)) =
        (v["len"].as_u64(), v["sum"].as_u64(), v["items"].as_array(), v["text"].as_str())
    else {
        return false;
    };
    let got = items.iter().filter_map(Value::as_u64).fold(0u64, |a, b| a.wrapping_add(b));
    items.len() as u64 == n && got == sum && text.len() as u64 == n * 20
}

#[test]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let store = Store::open(Path::new(&path)).expect("child opens the store");
    for i in 0u64.. {
        let key = format!("k{:03}", i % 200);
        store.save("crash", &key, &value_for(i)).expect("child saves");
        if i % 7 == 0 {
            store.delete("crash", &format!("k{:03}", (i * 13) % 200)).expect("child deletes");
        }
    }
}

#[test]
fn sigkill_during_writes_leaves_a_readable_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_writer_child", "--test-threads=1", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        // Wait until the writer is well into its loop (watching through a second connection).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the writer exited early ({status}) in round {round}");
            }
            let count =
                Store::open(&path).and_then(|s| s.list_keys("crash")).map_or(0, |k| k.len());
            if count >= 150 {
                break;
            }
            assert!(Instant::now() < deadline, "the writer made no progress");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(17 * round + 5));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().unwrap();
        assert!(!status.success(), "the writer was killed, not finished: {status}");

        let conn = rusqlite::Connection::open(&path).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "round {round}");
        drop(conn);
        let store = Store::open(&path).unwrap();
        let keys = store.list_keys("crash").unwrap();
        assert!(!keys.is_empty());
        for key in &keys {
            let v = store.load("crash", key).unwrap().expect("a listed key has a value");
            assert!(is_complete(&v), "round {round}: {key} holds a partial value: {v}");
        }
    }
}
