//! Tests of the `State` global through Lua code run by an [`Engine`](crate::Engine).

use std::path::Path;

use crate::testutil::{engine, error, run, value};
use crate::{Engine, testutil::Recorded};

fn attached(path: &Path) -> (Engine, Recorded) {
    let (mut e, rec) = engine();
    e.attach_state(path.to_path_buf());
    (e, rec)
}

#[test]
fn save_load_delete_list_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _) = attached(&dir.path().join("state.db"));
    run(&mut e, "State.save('s', 'b', {1, 2, {x = 'y', z = {true, false}}})").result.unwrap();
    run(&mut e, "State.save('s', 'a', 'text'); State.save('t', 'c', 1)").result.unwrap();
    assert_eq!(
        value(&mut e, "State.load('s', 'b')").as_deref(),
        Some("{1, 2, {x = \"y\", z = {true, false}}}")
    );
    assert_eq!(value(&mut e, "State.load('s', 'a')").as_deref(), Some("\"text\""));
    assert_eq!(value(&mut e, "State.load('s', 'missing') == nil").as_deref(), Some("true"));
    assert_eq!(value(&mut e, "State.list_keys('s')").as_deref(), Some("{\"a\", \"b\"}"));
    assert_eq!(value(&mut e, "State.list_keys('none')").as_deref(), Some("{}"));
    assert_eq!(value(&mut e, "State.delete('s', 'a')").as_deref(), Some("true"));
    assert_eq!(value(&mut e, "State.delete('s', 'a')").as_deref(), Some("false"));
    assert_eq!(value(&mut e, "State.list_keys('s')").as_deref(), Some("{\"b\"}"));
    run(&mut e, "State.save('s', 'b', 'replaced')").result.unwrap();
    assert_eq!(value(&mut e, "State.load('s', 'b')").as_deref(), Some("\"replaced\""));
}

#[test]
fn numbers_keep_their_subtype_and_nulls_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _) = attached(&dir.path().join("state.db"));
    run(&mut e, "State.save('n', 'k', {3, 3.0, -0.5, math.maxinteger, 2^53, 1e300})")
        .result
        .unwrap();
    let kinds = "local v = State.load('n', 'k') local out = {} \
                 for i, x in ipairs(v) do out[i] = math.type(x) end return table.concat(out, ',')";
    assert_eq!(
        value(&mut e, kinds).as_deref(),
        Some("\"integer,float,float,integer,float,float\"")
    );
    assert_eq!(
        value(&mut e, "State.load('n', 'k')[4] == math.maxinteger").as_deref(),
        Some("true")
    );
    run(&mut e, "State.save('n', 'null', nil); State.save('n', 'arr', {1, JSON.null, 3})")
        .result
        .unwrap();
    assert_eq!(value(&mut e, "State.load('n', 'null') == JSON.null").as_deref(), Some("true"));
    assert_eq!(value(&mut e, "State.load('n', 'arr')").as_deref(), Some("{1, JSON.null, 3}"));
}

#[test]
fn persists_across_reset_and_engines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (mut e, _) = attached(&path);
    run(&mut e, "State.save('s', 'k', {n = 1})").result.unwrap();
    e.reset().unwrap();
    assert_eq!(value(&mut e, "State.load('s', 'k')").as_deref(), Some("{n = 1}"));

    let (mut other, _) = attached(&path);
    assert_eq!(value(&mut other, "State.load('s', 'k').n").as_deref(), Some("1"));
    run(&mut other, "State.save('s', 'k2', 'from other')").result.unwrap();
    assert_eq!(value(&mut e, "State.load('s', 'k2')").as_deref(), Some("\"from other\""));
    e.close_state().unwrap();
    other.close_state().unwrap();
    e.close_state().unwrap();
    assert_eq!(value(&mut e, "#State.list_keys('s')").as_deref(), Some("2"), "reopens");
}

#[test]
fn the_file_is_created_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/state.db");
    let (mut e, _) = attached(&path);
    run(&mut e, "x = type(State.save)").result.unwrap();
    e.close_state().unwrap();
    assert!(!path.exists(), "no State call, no file");
    run(&mut e, "State.list_keys('s')").result.unwrap();
    assert!(path.exists());
}

#[test]
fn without_a_store_state_exists_but_fails() {
    let (mut e, _) = engine();
    assert_eq!(
        value(&mut e, "type(State.save) .. type(State.list_keys)").as_deref(),
        Some("\"functionfunction\"")
    );
    for code in ["State.load('s', 'k')", "\nState.save('s', 'k', 1)", "State.list_keys('s')"] {
        let err = error(&mut e, code);
        assert!(
            err.evalue.ends_with(": State is not available: this engine has no state store"),
            "{err:?}"
        );
    }
    assert_eq!(error(&mut e, "\nState.delete('s', 'k')").evalue[..10], *"cell-1:2: ");
    e.close_state().unwrap();
}

#[test]
fn errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _) = attached(&dir.path().join("state.db"));
    let cases = [
        (
            "State.save('s', 'k', {a = {f = print}})",
            "cell-1:1: State.save(\"s\", \"k\"): cannot encode a function at [\"a\"][\"f\"]",
        ),
        (
            "State.save('k', 42)",
            "cell-1:1: State.save: expected 3 arguments (scope, key, value), got 2; there is no \
             default scope",
        ),
        ("State.load('s', 1)", "cell-1:1: State.load: the key must be a string, got integer"),
        ("State.list_keys()", "cell-1:1: State.list_keys: the scope must be a string, got nil"),
        ("State.delete('', 'k')", "cell-1:1: State.delete: the state scope is empty"),
        (
            "State.save('s', string.rep('k', 1025), 1)",
            "cell-1:1: State.save: the state key is 1025 bytes long; the limit is 1024",
        ),
    ];
    for (code, want) in cases {
        assert_eq!(error(&mut e, code).evalue, want, "{code}");
    }
    let caught = "local ok, err = pcall(State.save, 's', 'k', print) return err";
    let caught = value(&mut e, caught).unwrap();
    assert!(caught.contains("cannot encode a function"), "{caught}");
}

#[test]
fn storage_errors_are_lua_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let (mut e, _) = attached(&file.join("state.db"));
    let err = error(&mut e, "State.load('s', 'k')");
    assert!(err.evalue.starts_with("cell-1:1: State.load: cannot create the state directory"));
    assert!(err.evalue.contains("plain-file"), "{err:?}");
    // The open is retried each call, and the engine keeps working.
    assert_eq!(value(&mut e, "(pcall(State.list_keys, 's'))").as_deref(), Some("false"));
    assert_eq!(value(&mut e, "1 + 1").as_deref(), Some("2"));
}

#[test]
fn completion_and_inspection_know_state() {
    let (mut e, _) = engine();
    assert_eq!(e.complete("State.li", 8).matches, ["list_keys"]);
    assert_eq!(e.complete("State.", 6).matches, ["delete", "list_keys", "load", "save"]);
    let i = e.inspect("State.save", 8, 0).unwrap();
    assert!(i.text_plain.starts_with("State.save(scope, key, value)\n"), "{i:?}");
    let i = e.inspect("State.load", 8, 0).unwrap();
    assert!(i.text_plain.starts_with("State.load(scope, key) -> value|nil"), "{i:?}");
}
