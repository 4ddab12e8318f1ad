//! sqlite_query: SQL on a SQLite database file, read-only unless asked otherwise.
//!
//! The database file goes through the path policy; ATTACH (and so VACUUM INTO, which attaches
//! its target) is refused, so SQL cannot reach other files. A progress handler stops the
//! statement at the deadline.

use std::fs;

use base64::Engine as _;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde_json::{Map, Value, json};

use super::{example_path, regular_file, shown};
use crate::{Context, ErrorType, Example, Params, ToolDef, ToolError, io_error};

pub(super) fn tool() -> ToolDef {
    let db = example_path("llmspell-example-sqlite_query.db");
    ToolDef {
        name: "sqlite_query",
        category: "database",
        description: "Runs SQL on a SQLite database file with positional parameters: query \
                      returns columns and rows, execute returns the number of changed rows; \
                      read-only unless read_only is false.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["query", "execute"],
                    "description": "query (default): one statement, its columns and rows; \
                                    execute: one or more statements, the rows they changed"
                },
                "path": {"type": "string", "description": "The database file"},
                "sql": {"type": "string", "description": "The SQL, with ? placeholders"},
                "params": {
                    "type": "array",
                    "description": "Values for the ? placeholders, in order (arrays and \
                                    objects are bound as JSON text, booleans as 0 / 1)"
                },
                "read_only": {
                    "type": "boolean",
                    "description": "Open the database read-only and refuse writing statements \
                                    (default true); false also creates a missing database"
                },
                "max_rows": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100000,
                    "description": "query: at most this many rows (default 1000)"
                },
                "row_format": {
                    "type": "string",
                    "enum": ["arrays", "objects"],
                    "description": "query: rows as arrays in column order (default) or as \
                                    objects keyed by column name"
                }
            },
            "required": ["path", "sql"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "create a table in a new database",
                json!({"operation": "execute", "path": db, "read_only": false,
                       "sql": "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body \
                               TEXT); DELETE FROM notes; INSERT INTO notes (body) VALUES \
                               ('first'), ('second')"}),
                json!({"statements": 3}),
            ),
            Example::new(
                "a query with parameters and no tables (on the same scratch database)",
                json!({"path": db, "read_only": false, "sql": "SELECT ? + 1 AS n, upper(?) AS s",
                       "params": [41, "abc"], "row_format": "objects"}),
                json!({"columns": ["n", "s"], "rows": [{"n": 42, "s": "ABC"}], "row_count": 1}),
            ),
            Example::fails(
                "a database that does not exist, read-only",
                json!({"path": example_path("llmspell-example-sqlite_query-missing.db"),
                       "sql": "SELECT 1"}),
                ErrorType::NotFound,
            ),
            Example::fails(
                "ATTACH is refused",
                json!({"path": db, "read_only": false, "operation": "execute",
                       "sql": "ATTACH DATABASE '/tmp/other.db' AS other"}),
                ErrorType::Permission,
            ),
        ],
        run,
    }
}

/// An SQLite error as a tool error: interrupts are timeouts, read-only and authorization
/// failures are permission errors; errors while preparing are the SQL's fault (validation).
fn sql_error(cx: &Context, e: rusqlite::Error, preparing: bool) -> ToolError {
    let text = e.to_string().replace('\n', " ");
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::OperationInterrupted => return cx.timed_out(),
            ErrorCode::ReadOnly => {
                return ToolError::permission(format!(
                    "{text}; the database is opened read-only (set read_only: false to write)"
                ));
            }
            ErrorCode::AuthorizationForStatementDenied => {
                return ToolError::permission(format!(
                    "{text}: ATTACH and VACUUM INTO are not allowed (they reach other files)"
                ));
            }
            ErrorCode::NotADatabase => return ToolError::execution(text),
            _ => {}
        }
    }
    if cx.is_cancelled() {
        return cx.timed_out();
    }
    if text.contains("attached databases") {
        return ToolError::permission(format!("{text}: attaching databases is not allowed"));
    }
    match e {
        rusqlite::Error::MultipleStatement => ToolError::validation(
            "parameter \"sql\": query takes one statement; use operation execute for several",
        ),
        _ if preparing => ToolError::validation(format!("parameter \"sql\": {text}")),
        _ => ToolError::execution(text),
    }
}

fn open(p: &Params, cx: &Context) -> Result<(Connection, bool), ToolError> {
    let path = cx.path(p.str("path")?)?;
    let read_only = p.bool_or("read_only", true)?;
    match fs::metadata(&path) {
        Ok(_) => {
            regular_file(&path, "path")?;
        }
        Err(e) if read_only => {
            let mut err = io_error(e, Some(&path));
            err.message.push_str(" (read_only: false creates it)");
            return Err(err);
        }
        Err(_) => {}
    }
    let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX
        | if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
    let opened = |e| ToolError::execution(format!("cannot open {}: {e}", shown(&path)));
    let mut conn = Connection::open_with_flags(&path, flags).map_err(opened)?;
    // No other database files: not by ATTACH, not by VACUUM INTO.
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0).map_err(opened)?;
    conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Attach { .. } => Authorization::Deny,
        _ => Authorization::Allow,
    }))
    .map_err(opened)?;
    let watch = cx.clone();
    conn.progress_handler(1000, Some(move || watch.is_cancelled())).map_err(opened)?;
    conn.busy_timeout(cx.remaining()).map_err(opened)?;
    Ok((conn, read_only))
}

fn bind(p: &Params) -> Result<Vec<SqlValue>, ToolError> {
    let items = p.opt_array("params")?.map(Vec::as_slice).unwrap_or_default();
    Ok(items
        .iter()
        .map(|v| match v {
            Value::Null => SqlValue::Null,
            Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => SqlValue::Text(s.clone()),
            other => SqlValue::Text(other.to_string()),
        })
        .collect())
}

fn check_statement(
    stmt: &rusqlite::Statement<'_>,
    read_only: bool,
    params: usize,
) -> Result<(), ToolError> {
    if read_only && !stmt.readonly() {
        return Err(ToolError::permission(
            "the statement writes, and the database is opened read-only (set read_only: false)",
        ));
    }
    let wanted = stmt.parameter_count();
    if wanted != params {
        return Err(ToolError::validation(format!(
            "parameter \"params\": the SQL has {wanted} placeholder(s) but {params} value(s) \
             were given"
        )));
    }
    Ok(())
}

fn cell(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(b)}),
    }
}

fn query(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let (conn, read_only) = open(p, cx)?;
    let values = bind(p)?;
    let mut batch = rusqlite::Batch::new(&conn, p.str("sql")?);
    let Some(mut stmt) = batch.next().map_err(|e| sql_error(cx, e, true))? else {
        return Err(ToolError::validation("parameter \"sql\" holds no statement"));
    };
    if batch.next().map_err(|e| sql_error(cx, e, true))?.is_some() {
        return Err(sql_error(cx, rusqlite::Error::MultipleStatement, true));
    }
    check_statement(&stmt, read_only, values.len())?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let objects = p.str_or("row_format", "arrays")? == "objects";
    let max_rows = p.u64_or("max_rows", 1000)? as usize;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(values.iter()))
        .map_err(|e| sql_error(cx, e, false))?;
    let (mut out, mut truncated) = (Vec::new(), false);
    while let Some(row) = rows.next().map_err(|e| sql_error(cx, e, false))? {
        cx.check()?;
        if out.len() >= max_rows {
            truncated = true;
            break;
        }
        let cells = (0..columns.len()).map(|i| row.get_ref(i).map(cell).unwrap_or(Value::Null));
        out.push(if objects {
            Value::Object(columns.iter().cloned().zip(cells).collect::<Map<_, _>>())
        } else {
            Value::Array(cells.collect())
        });
    }
    Ok(json!({"columns": columns, "row_count": out.len(), "rows": out, "truncated": truncated}))
}

fn execute(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let (conn, read_only) = open(p, cx)?;
    let values = bind(p)?;
    let sql = p.str("sql")?;
    let before = conn.total_changes();
    let mut batch = rusqlite::Batch::new(&conn, sql);
    let mut statements = 0u64;
    while let Some(mut stmt) = batch.next().map_err(|e| sql_error(cx, e, true))? {
        cx.check()?;
        statements += 1;
        let bound = if statements == 1 { values.len() } else { 0 };
        if statements > 1 && !values.is_empty() {
            return Err(ToolError::validation(
                "parameter \"params\": params are only allowed with a single statement",
            ));
        }
        check_statement(&stmt, read_only, bound)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values.iter().take(bound)))
            .map_err(|e| sql_error(cx, e, false))?;
        while rows.next().map_err(|e| sql_error(cx, e, false))?.is_some() {
            cx.check()?;
        }
    }
    if statements == 0 {
        return Err(ToolError::validation("parameter \"sql\" holds no statement"));
    }
    Ok(json!({
        "changes": conn.total_changes() - before,
        "last_insert_rowid": conn.last_insert_rowid(),
        "statements": statements,
    }))
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    match p.str_or("operation", "query")? {
        "query" => query(p, cx),
        "execute" => execute(p, cx),
        other => Err(ToolError::validation(format!("unknown operation {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::Connection;
    use serde_json::json;

    use super::super::testing::{Fx, eventually, exists};
    use crate::ErrorType;

    const T: &str = "sqlite_query";

    fn db(fx: &Fx) -> String {
        let path = fx.root.join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);
             INSERT INTO t (name, score, data) VALUES ('ann', 1.5, x'00ff'), ('bob', NULL, NULL);",
        )
        .unwrap();
        fx.p("t.db")
    }

    fn count(fx: &Fx) -> i64 {
        let conn = Connection::open(fx.root.join("t.db")).unwrap();
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn query_rows_as_arrays_and_objects() {
        let fx = Fx::new();
        let path = db(&fx);
        let out = fx.ok(T, json!({"path": path, "sql": "SELECT * FROM t ORDER BY id"}));
        assert_eq!(out["columns"], json!(["id", "name", "score", "data"]));
        assert_eq!(
            out["rows"],
            json!([[1, "ann", 1.5, {"base64": "AP8="}], [2, "bob", null, null]])
        );
        assert_eq!(out["row_count"], 2);
        assert_eq!(out["truncated"], false);
        let out = fx.ok(
            T,
            json!({"path": path, "sql": "SELECT name FROM t WHERE score > ?",
                                  "params": [1], "row_format": "objects"}),
        );
        assert_eq!(out["rows"], json!([{"name": "ann"}]));
        let out = fx.ok(
            T,
            json!({"path": path, "sql": "SELECT ?, ?, ?, ?, ?",
                                  "params": [true, null, 2.5, "s", {"a": [1]}]}),
        );
        assert_eq!(out["rows"], json!([[1, null, 2.5, "s", "{\"a\":[1]}"]]));
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT x FROM c";
        let out = fx.ok(T, json!({"path": path, "max_rows": 3, "sql": endless}));
        assert_eq!(out["rows"], json!([[1], [2], [3]]));
        assert_eq!(out["truncated"], true);
    }

    #[test]
    fn execute_changes_rows_only_when_not_read_only() {
        let fx = Fx::new();
        let path = db(&fx);
        let e = fx.err(
            T,
            json!({"operation": "execute", "path": path,
                                 "sql": "INSERT INTO t (name) VALUES (?)", "params": ["cy"]}),
            ErrorType::Permission,
        );
        assert!(e.message.contains("read_only"), "{e}");
        let e = fx.err(T, json!({"path": path, "sql": "DELETE FROM t"}), ErrorType::Permission);
        assert!(e.message.contains("read_only"), "{e}");
        assert_eq!(count(&fx), 2);
        let out = fx.ok(
            T,
            json!({"operation": "execute", "path": path, "read_only": false,
                                  "sql": "INSERT INTO t (name) VALUES (?)", "params": ["cy"]}),
        );
        assert_eq!(out["changes"], 1);
        assert_eq!(out["last_insert_rowid"], 3);
        let out = fx.ok(
            T,
            json!({"operation": "execute", "path": path, "read_only": false,
            "sql": "UPDATE t SET score = 0; DELETE FROM t WHERE name = 'bob';"}),
        );
        assert_eq!(out["changes"], 4);
        assert_eq!(out["statements"], 2);
        assert_eq!(count(&fx), 2);
        // RETURNING through query when writes are allowed.
        let out = fx.ok(
            T,
            json!({"path": path, "read_only": false,
            "sql": "INSERT INTO t (name) VALUES ('dee') RETURNING id"}),
        );
        assert_eq!(out["rows"], json!([[4]]));
        // A new database is created only when writing is allowed.
        fx.err(T, json!({"path": fx.p("new.db"), "sql": "SELECT 1"}), ErrorType::NotFound);
        assert!(!exists(&fx.root.join("new.db")));
        fx.ok(
            T,
            json!({"operation": "execute", "path": fx.p("new.db"), "read_only": false,
                        "sql": "CREATE TABLE x (y)"}),
        );
        assert!(exists(&fx.root.join("new.db")));
    }

    #[test]
    fn bad_sql_and_parameters() {
        let fx = Fx::new();
        let path = db(&fx);
        let e = fx.err(T, json!({"path": path, "sql": "SELEC 1"}), ErrorType::Validation);
        assert!(e.message.contains("\"sql\"") && e.message.contains("syntax"), "{e}");
        let e =
            fx.err(T, json!({"path": path, "sql": "SELECT * FROM nope"}), ErrorType::Validation);
        assert!(e.message.contains("no such table"), "{e}");
        let e = fx.err(T, json!({"path": path, "sql": "SELECT ?"}), ErrorType::Validation);
        assert!(e.message.contains("\"params\""), "{e}");
        let e =
            fx.err(T, json!({"path": path, "sql": "SELECT 1; SELECT 2"}), ErrorType::Validation);
        assert!(e.message.contains("execute"), "{e}");
        fx.err(
            T,
            json!({"operation": "execute", "path": path, "read_only": false,
                         "sql": "SELECT 1; SELECT ?", "params": [1]}),
            ErrorType::Validation,
        );
        fx.err(T, json!({"path": path, "sql": "  "}), ErrorType::Validation);
        fx.err(
            T,
            json!({"operation": "execute", "path": path, "sql": "-- nothing"}),
            ErrorType::Validation,
        );
        fx.err(T, json!({"path": path}), ErrorType::Validation);
        fx.err(T, json!({"path": path, "sql": "SELECT 1", "max_rows": 0}), ErrorType::Validation);
        let e = fx.err(
            T,
            json!({"operation": "execute", "path": path, "read_only": false,
                                 "sql": "INSERT INTO t (id) VALUES (1)"}),
            ErrorType::Execution,
        );
        assert!(e.message.contains("UNIQUE"), "{e}");
        std::fs::write(fx.root.join("junk.db"), vec![7u8; 4096]).unwrap();
        fx.err(
            T,
            json!({"path": fx.p("junk.db"), "sql": "SELECT * FROM sqlite_master"}),
            ErrorType::Execution,
        );
        fx.err(T, json!({"path": fx.p(""), "sql": "SELECT 1"}), ErrorType::Validation);
    }

    #[test]
    fn other_files_cannot_be_reached() {
        let fx = Fx::new();
        let path = db(&fx);
        let outside = fx.outside.join("stolen.db").to_string_lossy().into_owned();
        std::fs::copy(fx.root.join("t.db"), fx.outside.join("other.db")).unwrap();
        let other = fx.outside.join("other.db").to_string_lossy().into_owned();
        for (sql, read_only) in [
            (format!("ATTACH DATABASE '{other}' AS o"), true),
            (format!("ATTACH DATABASE '{outside}' AS o"), false),
            (format!("VACUUM INTO '{outside}'"), false),
            (format!("VACUUM INTO '{outside}'"), true),
        ] {
            fx.err(
                T,
                json!({"operation": "execute", "path": path, "sql": sql,
                             "read_only": read_only}),
                ErrorType::Permission,
            );
        }
        std::fs::remove_file(fx.outside.join("other.db")).unwrap();
        fx.outside_untouched();
        for bad in [fx.p("out_dir/x.db"), fx.p("../outside/x.db"), other.clone()] {
            fx.err(
                T,
                json!({"path": bad, "sql": "SELECT 1", "read_only": false}),
                ErrorType::Permission,
            );
        }
        std::os::unix::fs::symlink(fx.outside.join("y.db"), fx.root.join("dangling.db")).unwrap();
        fx.err(
            T,
            json!({"path": fx.p("dangling.db"), "sql": "CREATE TABLE z (a)",
                         "operation": "execute", "read_only": false}),
            ErrorType::Permission,
        );
        fx.outside_untouched();
    }

    #[test]
    fn a_query_that_runs_forever_stops_at_the_timeout() {
        let fx = Fx::new();
        let path = db(&fx);
        // It reads the table t (so it holds a read lock) and never ends.
        let forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c, t";
        // While the query runs it holds a shared lock, so another connection cannot write.
        let writer = Connection::open(fx.root.join("t.db")).unwrap();
        writer.busy_timeout(Duration::ZERO).unwrap();
        let insert = || writer.execute("INSERT INTO t (name) VALUES ('w')", []);
        let started = std::time::Instant::now();
        let result = std::thread::scope(|s| {
            let call = s.spawn(|| {
                fx.r.invoke(T, json!({"path": path, "sql": forever}), Some(Duration::from_secs(4)))
            });
            assert!(eventually(3, || insert().is_err()), "the query never took its lock");
            call.join().unwrap()
        });
        let e = result.unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(started.elapsed() < Duration::from_secs(30));
        // Once the tool stopped, the lock is gone: the query thread really ended.
        assert!(eventually(10, || insert().is_ok()), "the query kept running after the timeout");
        // A tiny timeout too.
        let e =
            fx.r.invoke(T, json!({"path": path, "sql": forever}), Some(Duration::from_millis(50)))
                .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(eventually(10, || insert().is_ok()), "the query kept running after the timeout");
    }
}
