//! Unit tests of [`Store`](crate::Store): values, names, persistence, shared files.

use serde_json::json;

use crate::{MAX_NAME_BYTES, SCHEMA_VERSION, StateError, Store};
use llmspell_common::{ExitCode, HasExitCode};

fn temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db")).unwrap();
    (dir, store)
}

#[test]
fn nested_json_round_trips() {
    let (_dir, s) = temp();
    let v = json!({"a": [1, 2.5, "x", null, {"b": true}], "c": {"d": {"e": -3}}, "é": ""});
    s.save("sc", "k", &v).unwrap();
    assert_eq!(s.load("sc", "k").unwrap(), Some(v));
    assert_eq!(s.load("sc", "missing").unwrap(), None);
    assert_eq!(s.load("other", "k").unwrap(), None);
}

#[test]
fn integers_and_floats_keep_their_kind() {
    let (_dir, s) = temp();
    s.save("n", "k", &json!([3, 3.0, -0.5, i64::MAX, 1e300])).unwrap();
    let back = s.load("n", "k").unwrap().unwrap();
    assert!(back[0].is_i64());
    assert!(back[1].is_f64());
    assert_eq!(back[3].as_i64(), Some(i64::MAX));
    assert_eq!(back[4].as_f64(), Some(1e300));
}

#[test]
fn overwrite_and_delete() {
    let (_dir, s) = temp();
    s.save("sc", "k", &json!(1)).unwrap();
    s.save("sc", "k", &json!({"now": "a table"})).unwrap();
    assert_eq!(s.load("sc", "k").unwrap(), Some(json!({"now": "a table"})));
    assert!(s.delete("sc", "k").unwrap());
    assert!(!s.delete("sc", "k").unwrap());
    assert_eq!(s.load("sc", "k").unwrap(), None);
}

#[test]
fn list_keys_is_sorted_and_per_scope() {
    let (_dir, s) = temp();
    for k in ["b", "a", "B", "a2", "é"] {
        s.save("one", k, &json!(k)).unwrap();
    }
    s.save("two", "z", &json!(null)).unwrap();
    assert_eq!(s.list_keys("one").unwrap(), ["B", "a", "a2", "b", "é"]);
    assert_eq!(s.list_keys("two").unwrap(), ["z"]);
    assert!(s.list_keys("three").unwrap().is_empty());
}

#[test]
fn reopen_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/state.db");
    {
        let s = Store::open(&path).unwrap();
        s.save("sc", "k", &json!([1, {"x": "y"}])).unwrap();
        s.checkpoint().unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.load("sc", "k").unwrap(), Some(json!([1, {"x": "y"}])));
    assert_eq!(s.path(), path);
}

#[test]
fn two_handles_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    assert_eq!(b.load("sc", "k").unwrap(), None);
    a.save("sc", "k", &json!("first")).unwrap();
    assert_eq!(b.load("sc", "k").unwrap(), Some(json!("first")));
    b.save("sc", "k", &json!("second")).unwrap();
    assert_eq!(a.load("sc", "k").unwrap(), Some(json!("second")));
    assert!(a.delete("sc", "k").unwrap());
    assert_eq!(b.list_keys("sc").unwrap(), Vec::<String>::new());
    a.checkpoint().unwrap();
}

#[test]
fn names_are_checked() {
    let (_dir, s) = temp();
    let err = s.save("", "k", &json!(1)).unwrap_err();
    assert_eq!(err.to_string(), "the state scope is empty");
    assert_eq!(err.exit_code(), ExitCode::DataErr);
    let err = s.load("sc", "").unwrap_err();
    assert_eq!(err.to_string(), "the state key is empty");
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    let err = s.delete("sc", &long).unwrap_err();
    assert_eq!(err.to_string(), "the state key is 1025 bytes long; the limit is 1024");
    assert!(matches!(s.list_keys(&long), Err(StateError::InvalidName { what: "scope", .. })));
    let max = "y".repeat(MAX_NAME_BYTES);
    s.save(&max, &max, &json!(1)).unwrap();
    assert_eq!(s.list_keys(&max).unwrap(), [max]);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StateError::NewerSchema { found: 2, .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

#[test]
fn corrupt_values_and_unopenable_paths_name_the_path() {
    let (dir, s) = temp();
    let path = dir.path().join("state.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    // Bypass the json_valid check, as an outside tool could.
    conn.pragma_update(None, "ignore_check_constraints", true).unwrap();
    conn.execute("INSERT INTO state VALUES ('sc', 'k', '{oops', 'now')", []).unwrap();
    let err = s.load("sc", "k").unwrap_err();
    assert!(err.to_string().contains("\"sc\"/\"k\" is not valid JSON"), "{err}");
    assert_eq!(err.exit_code(), ExitCode::DataErr);

    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let err = Store::open(&file.join("state.db")).unwrap_err();
    assert!(matches!(err, StateError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("plain-file"), "{err}");
}
