//! csv_analyzer: statistics, filtering, JSON conversion and previews of CSV data (csv crate).

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{MAX_FILE_BYTES, read_text_file};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const DEFAULT_MAX_ROWS: u64 = 1000;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "csv_analyzer",
        category: "data",
        description: "Analyzes CSV text or a CSV file: stats (row count and per column the \
                      inferred type, nulls, distinct and top values, min/max/mean/sum), filter \
                      rows by a column condition, to_json (rows as objects), head (first rows).",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["stats", "filter", "to_json", "head"],
                    "description": "What to do (default stats)"
                },
                "csv": {"type": "string", "description": "The CSV text (give this or path)"},
                "path": {
                    "type": "string",
                    "description": "A CSV file to read instead of csv (at most 64 MiB)"
                },
                "delimiter": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1,
                    "description": "The field separator, one ASCII character (default ,)"
                },
                "has_headers": {
                    "type": "boolean",
                    "description": "The first row names the columns (default true); without \
                                    headers columns are named column_1, column_2, ..."
                },
                "column": {"type": "string", "description": "filter: the column to test"},
                "op": {
                    "type": "string",
                    "enum": ["eq", "ne", "lt", "gt", "le", "ge", "contains"],
                    "description": "filter: the comparison; numbers compare as numbers when \
                                    both sides are numeric, else as text (default eq)"
                },
                "value": {
                    "type": ["string", "number", "boolean"],
                    "description": "filter: the value to compare the column with"
                },
                "n": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "head: how many rows (default 10)"
                },
                "max_rows": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "filter, to_json: at most this many rows returned \
                                    (default 1000)"
                },
                "top": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 100,
                    "description": "stats: how many most frequent values per column (default 5)"
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "column statistics",
                json!({"csv": "name,age\nada,36\nbob,\ncy,40\n"}),
                json!({
                    "rows": 3,
                    "columns": [
                        {"name": "name", "type": "string", "count": 3, "nulls": 0, "distinct": 3},
                        {"name": "age", "type": "integer", "count": 2, "nulls": 1,
                         "min": 36, "max": 40, "mean": 38, "sum": 76}
                    ]
                }),
            ),
            Example::new(
                "filter rows",
                json!({
                    "operation": "filter",
                    "csv": "city;pop\nOslo;700000\nBergen;290000\n",
                    "delimiter": ";",
                    "column": "pop",
                    "op": "gt",
                    "value": 500000
                }),
                json!({"rows": [{"city": "Oslo", "pop": 700000}], "matched": 1}),
            ),
            Example::new(
                "convert to JSON",
                json!({"operation": "to_json", "csv": "a,b\n1,x\n2.5,\n"}),
                json!({"rows": [{"a": 1, "b": "x"}, {"a": 2.5, "b": null}]}),
            ),
            Example::fails(
                "a row with a missing field",
                json!({"csv": "a,b\n1,2\n3\n"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let text = match (p.opt_str("csv")?, p.opt_str("path")?) {
        (Some(_), Some(_)) => {
            return Err(ToolError::validation("give either \"csv\" or \"path\", not both"));
        }
        (Some(text), None) => text.to_owned(),
        (None, Some(path)) => read_text_file(cx, "path", path, MAX_FILE_BYTES)?,
        (None, None) => {
            return Err(ToolError::validation("the parameter \"csv\" or \"path\" is needed"));
        }
    };
    let delimiter = p.str_or("delimiter", ",")?;
    let delimiter = match delimiter.as_bytes() {
        [b] if b.is_ascii() => *b,
        _ => {
            return Err(ToolError::validation(format!(
                "parameter \"delimiter\": {delimiter:?} is not a single ASCII character"
            )));
        }
    };
    let has_headers = p.bool_or("has_headers", true)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(has_headers)
        .flexible(false)
        .from_reader(text.as_bytes());
    let mut table = Table { reader: &mut reader, columns: Vec::new(), cx };
    table.read_headers(has_headers)?;
    match p.str_or("operation", "stats")? {
        "filter" => filter(p, &mut table),
        "to_json" => to_json(p, &mut table),
        "head" => head(p, &mut table),
        _ => stats(p, &mut table),
    }
}

struct Table<'a, R: std::io::Read> {
    reader: &'a mut csv::Reader<R>,
    columns: Vec<String>,
    cx: &'a Context,
}

impl<R: std::io::Read> Table<'_, R> {
    fn read_headers(&mut self, has_headers: bool) -> Result<(), ToolError> {
        let raw: Vec<String> = if has_headers {
            self.reader.headers().map_err(csv_error)?.iter().map(str::to_owned).collect()
        } else {
            let width = self.reader.headers().map_err(csv_error)?.len();
            vec![String::new(); width]
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        self.columns = raw
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let base = if name.trim().is_empty() {
                    format!("column_{}", i + 1)
                } else {
                    name.trim().to_owned()
                };
                let n = seen.entry(base.clone()).or_insert(0);
                *n += 1;
                if *n == 1 { base } else { format!("{base}_{n}") }
            })
            .collect();
        Ok(())
    }

    /// Calls `f` with every record in order; stops early when `f` returns false.
    fn each(
        &mut self,
        mut f: impl FnMut(&csv::StringRecord) -> Result<bool, ToolError>,
    ) -> Result<(), ToolError> {
        let mut record = csv::StringRecord::new();
        loop {
            self.cx.check()?;
            if !self.reader.read_record(&mut record).map_err(csv_error)? {
                return Ok(());
            }
            if !f(&record)? {
                return Ok(());
            }
        }
    }

    fn object(&self, record: &csv::StringRecord) -> Value {
        let mut row = Map::new();
        for (name, cell) in self.columns.iter().zip(record.iter()) {
            row.insert(name.clone(), cell_value(cell));
        }
        Value::Object(row)
    }
}

/// Ragged rows and bad UTF-8 are the input's fault: validation errors naming the line.
fn csv_error(e: csv::Error) -> ToolError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            let line = pos.as_ref().map_or("?".to_owned(), |p| p.line().to_string());
            ToolError::validation(format!(
                "CSV line {line} has {len} fields, but the rows before it have {expected_len}"
            ))
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let line = pos.as_ref().map_or("?".to_owned(), |p| p.line().to_string());
            ToolError::validation(format!("CSV line {line} is not valid UTF-8"))
        }
        csv::ErrorKind::Io(err) => ToolError::execution(format!("reading the CSV: {err}")),
        _ => ToolError::validation(format!("invalid CSV: {e}")),
    }
}

/// A number when the cell is one (but not "007"-style codes), null when empty, else the text.
fn cell_value(cell: &str) -> Value {
    if cell.trim().is_empty() {
        return Value::Null;
    }
    number(cell).unwrap_or_else(|| Value::String(cell.to_owned()))
}

fn number(cell: &str) -> Option<Value> {
    let t = cell.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let leading_zero = digits.len() > 1
        && digits.starts_with('0')
        && digits.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
    if leading_zero || !digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(json!(i));
    }
    let f: f64 = t.parse().ok()?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

fn column_index(columns: &[String], name: &str) -> Result<usize, ToolError> {
    columns.iter().position(|c| c == name).ok_or_else(|| {
        let shown: Vec<&str> = columns.iter().take(20).map(String::as_str).collect();
        ToolError::validation(format!(
            "parameter \"column\": no column {name:?}; the columns are {}",
            shown.join(", ")
        ))
    })
}

fn filter<R: std::io::Read>(p: &Params, t: &mut Table<'_, R>) -> Result<Value, ToolError> {
    let column = p
        .opt_str("column")?
        .ok_or_else(|| ToolError::validation("operation filter needs the parameter \"column\""))?;
    let index = column_index(&t.columns, column)?;
    let op = p.str_or("op", "eq")?.to_owned();
    let wanted = match p.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => {
            return Err(ToolError::validation("operation filter needs the parameter \"value\""));
        }
    };
    let wanted_num = number(&wanted).and_then(|v| v.as_f64());
    let max = p.u64_or("max_rows", DEFAULT_MAX_ROWS)? as usize;
    let mut rows = Vec::new();
    let mut matched = 0u64;
    let columns = t.columns.clone();
    t.each(|record| {
        let cell = record.get(index).unwrap_or("");
        if matches(cell, &op, &wanted, wanted_num) {
            matched += 1;
            if rows.len() < max {
                let mut row = Map::new();
                for (name, c) in columns.iter().zip(record.iter()) {
                    row.insert(name.clone(), cell_value(c));
                }
                rows.push(Value::Object(row));
            }
        }
        Ok(true)
    })?;
    let truncated = matched > rows.len() as u64;
    Ok(json!({"rows": rows, "matched": matched, "truncated": truncated}))
}

fn matches(cell: &str, op: &str, wanted: &str, wanted_num: Option<f64>) -> bool {
    if op == "contains" {
        return cell.contains(wanted);
    }
    let cell_num = number(cell).and_then(|v| v.as_f64());
    let order = match (cell_num, wanted_num) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        // Text against a number never orders; eq/ne still compare the text.
        (None, Some(_)) if op != "eq" && op != "ne" => None,
        _ => Some(cell.trim().cmp(wanted.trim())),
    };
    let Some(order) = order else { return false };
    match op {
        "ne" => order != Ordering::Equal,
        "lt" => order == Ordering::Less,
        "gt" => order == Ordering::Greater,
        "le" => order != Ordering::Greater,
        "ge" => order != Ordering::Less,
        _ => order == Ordering::Equal,
    }
}

fn to_json<R: std::io::Read>(p: &Params, t: &mut Table<'_, R>) -> Result<Value, ToolError> {
    let max = p.u64_or("max_rows", DEFAULT_MAX_ROWS)? as usize;
    let mut rows = Vec::new();
    let mut total = 0u64;
    let columns = t.columns.clone();
    t.each(|record| {
        total += 1;
        if rows.len() < max {
            let mut row = Map::new();
            for (name, c) in columns.iter().zip(record.iter()) {
                row.insert(name.clone(), cell_value(c));
            }
            rows.push(Value::Object(row));
        }
        Ok(true)
    })?;
    let truncated = total > rows.len() as u64;
    Ok(json!({"columns": columns, "rows": rows, "row_count": total, "truncated": truncated}))
}

fn head<R: std::io::Read>(p: &Params, t: &mut Table<'_, R>) -> Result<Value, ToolError> {
    let n = p.u64_or("n", 10)? as usize;
    let mut rows = Vec::new();
    if n > 0 {
        let mut objects = Vec::new();
        t.each(|record| {
            objects.push(record.clone());
            Ok(objects.len() < n)
        })?;
        rows = objects.iter().map(|r| t.object(r)).collect();
    }
    Ok(json!({"columns": t.columns, "rows": rows}))
}

#[derive(Default)]
struct ColumnStats {
    nulls: u64,
    ints: u64,
    floats: u64,
    bools: u64,
    texts: u64,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
    counts: HashMap<String, u64>,
}

fn stats<R: std::io::Read>(p: &Params, t: &mut Table<'_, R>) -> Result<Value, ToolError> {
    let top = p.u64_or("top", 5)? as usize;
    let mut cols: Vec<ColumnStats> = t.columns.iter().map(|_| ColumnStats::default()).collect();
    let mut rows = 0u64;
    t.each(|record| {
        rows += 1;
        for (s, cell) in cols.iter_mut().zip(record.iter()) {
            let trimmed = cell.trim();
            if trimmed.is_empty() {
                s.nulls += 1;
                continue;
            }
            *s.counts.entry(cell.to_owned()).or_insert(0) += 1;
            match number(cell) {
                Some(v) => {
                    if v.is_i64() {
                        s.ints += 1
                    } else {
                        s.floats += 1
                    }
                    let f = v.as_f64().unwrap_or(0.0);
                    s.sum += f;
                    s.min = Some(s.min.map_or(f, |m| m.min(f)));
                    s.max = Some(s.max.map_or(f, |m| m.max(f)));
                }
                None if trimmed.eq_ignore_ascii_case("true")
                    || trimmed.eq_ignore_ascii_case("false") =>
                {
                    s.bools += 1
                }
                None => s.texts += 1,
            }
        }
        Ok(true)
    })?;
    let columns: Vec<Value> =
        t.columns.iter().zip(cols).map(|(name, s)| column_json(name, s, top)).collect();
    Ok(json!({"rows": rows, "columns": columns}))
}

fn column_json(name: &str, s: ColumnStats, top: usize) -> Value {
    let count = s.ints + s.floats + s.bools + s.texts;
    let kind = if count == 0 {
        "empty"
    } else if s.ints == count {
        "integer"
    } else if s.ints + s.floats == count {
        "number"
    } else if s.bools == count {
        "boolean"
    } else {
        "string"
    };
    let mut out = json!({
        "name": name,
        "type": kind,
        "count": count,
        "nulls": s.nulls,
        "distinct": s.counts.len(),
    });
    if kind == "integer" || kind == "number" {
        let as_num = |f: f64| {
            if kind == "integer" && f.abs() < 9.0e15 { json!(f as i64) } else { json!(f) }
        };
        out["min"] = s.min.map_or(Value::Null, as_num);
        out["max"] = s.max.map_or(Value::Null, as_num);
        out["sum"] = as_num(s.sum);
        out["mean"] = json!(s.sum / count as f64);
    }
    let mut frequent: Vec<(String, u64)> = s.counts.into_iter().collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out["top_values"] = frequent
        .into_iter()
        .take(top)
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::json;

    use super::super::test_util::{assert_err, stops_when_cancelled, temp_registry};
    use crate::error::ErrorType;

    const PEOPLE: &str = "name,age,score,active,zip\n\
                          ada,36,9.5,true,0123\n\
                          bob,,7,false,4567\n\
                          cy,40,7,TRUE,0123\n\
                          \"d, jr\",25,-1.5,false,\n";

    #[test]
    fn stats_infer_types_and_summarise() {
        let (_d, r) = temp_registry();
        let out = r.invoke("csv_analyzer", json!({"csv": PEOPLE, "top": 2}), None).unwrap();
        assert_eq!(out["rows"], 4);
        let col = |name: &str| {
            out["columns"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
        };
        assert_eq!(
            col("age"),
            json!({"name": "age", "type": "integer", "count": 3, "nulls": 1, "distinct": 3,
                   "min": 25, "max": 40, "sum": 101, "mean": 101.0 / 3.0,
                   "top_values": [{"value": "25", "count": 1}, {"value": "36", "count": 1}]})
        );
        let score = col("score");
        assert_eq!(score["type"], "number");
        assert_eq!(score["min"], -1.5);
        assert_eq!(score["max"], 9.5);
        assert_eq!(score["sum"], 22.0);
        assert_eq!(score["top_values"][0], json!({"value": "7", "count": 2}));
        assert_eq!(col("active")["type"], "boolean");
        assert_eq!(col("name")["type"], "string");
        assert!(col("name").get("mean").is_none());
        // Codes with leading zeros stay text.
        assert_eq!(col("zip")["type"], "string");
        assert_eq!(col("zip")["nulls"], 1);
        let out = r.invoke("csv_analyzer", json!({"csv": "a,b\n,\n"}), None).unwrap();
        assert_eq!(out["columns"][0]["type"], "empty");
        let out = r.invoke("csv_analyzer", json!({"csv": ""}), None).unwrap();
        assert_eq!(out, json!({"rows": 0, "columns": []}));
    }

    #[test]
    fn filter_compares_numbers_and_text() {
        let (_d, r) = temp_registry();
        let f = |column: &str, op: &str, value: serde_json::Value| {
            let params = json!({"operation": "filter", "csv": PEOPLE, "column": column, "op": op,
                                "value": value});
            let out = r.invoke("csv_analyzer", params, None).unwrap();
            let names: Vec<String> = out["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row["name"].as_str().unwrap().to_owned())
                .collect();
            names
        };
        assert_eq!(f("age", "gt", json!(30)), ["ada", "cy"]);
        assert_eq!(f("age", "le", json!("36")), ["ada", "d, jr"]);
        assert_eq!(f("score", "eq", json!(7)), ["bob", "cy"]);
        assert_eq!(f("score", "ne", json!(7)), ["ada", "d, jr"]);
        assert_eq!(f("score", "lt", json!(0)), ["d, jr"]);
        assert_eq!(f("name", "contains", json!("jr")), ["d, jr"]);
        assert_eq!(f("name", "ge", json!("bob")), ["bob", "cy", "d, jr"]);
        assert_eq!(f("active", "eq", json!("false")), ["bob", "d, jr"]);
        assert_eq!(f("zip", "eq", json!("0123")), ["ada", "cy"]);
        let out = r
            .invoke(
                "csv_analyzer",
                json!({"operation": "filter", "csv": PEOPLE, "column": "age", "op": "ge",
                       "value": 0, "max_rows": 1}),
                None,
            )
            .unwrap();
        assert_eq!(
            out["rows"],
            json!([{"name": "ada", "age": 36, "score": 9.5, "active": "true",
                                        "zip": "0123"}])
        );
        assert_eq!(out["matched"], 3);
        assert_eq!(out["truncated"], true);
        let e = r.invoke(
            "csv_analyzer",
            json!({"operation": "filter", "csv": PEOPLE, "column": "height", "value": 1}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["no column \"height\"", "name, age"]);
        let e = r.invoke(
            "csv_analyzer",
            json!({"operation": "filter", "csv": PEOPLE, "value": 1}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["column"]);
        let e = r.invoke(
            "csv_analyzer",
            json!({"operation": "filter", "csv": PEOPLE, "column": "age"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["value"]);
        let e = r.invoke(
            "csv_analyzer",
            json!({"operation": "filter", "csv": PEOPLE, "column": "age", "value": 1, "op": "~"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["/op", "enum"]);
    }

    #[test]
    fn to_json_and_head() {
        let (_d, r) = temp_registry();
        let out = r.invoke("csv_analyzer", json!({"operation": "to_json", "csv": PEOPLE}), None);
        let out = out.unwrap();
        assert_eq!(out["row_count"], 4);
        assert_eq!(
            out["rows"][1],
            json!({"name": "bob", "age": null, "score": 7,
                                          "active": "false", "zip": 4567})
        );
        assert_eq!(out["rows"][3]["name"], "d, jr");
        let out = r
            .invoke(
                "csv_analyzer",
                json!({"operation": "to_json", "csv": PEOPLE, "max_rows": 2}),
                None,
            )
            .unwrap();
        assert_eq!(out["rows"].as_array().unwrap().len(), 2);
        assert_eq!(out["truncated"], true);
        let out = r
            .invoke("csv_analyzer", json!({"operation": "head", "csv": PEOPLE, "n": 2}), None)
            .unwrap();
        assert_eq!(out["columns"], json!(["name", "age", "score", "active", "zip"]));
        assert_eq!(out["rows"].as_array().unwrap().len(), 2);
        assert_eq!(out["rows"][1]["name"], "bob");
        let out = r
            .invoke("csv_analyzer", json!({"operation": "head", "csv": PEOPLE, "n": 0}), None)
            .unwrap();
        assert_eq!(out["rows"], json!([]));
    }

    #[test]
    fn delimiters_headers_and_duplicate_names() {
        let (_d, r) = temp_registry();
        let out = r
            .invoke(
                "csv_analyzer",
                json!({"operation": "to_json", "csv": "1\tx\n2\ty\n", "delimiter": "\t",
                       "has_headers": false}),
                None,
            )
            .unwrap();
        assert_eq!(out["columns"], json!(["column_1", "column_2"]));
        assert_eq!(
            out["rows"],
            json!([{"column_1": 1, "column_2": "x"},
                                       {"column_1": 2, "column_2": "y"}])
        );
        let out = r
            .invoke("csv_analyzer", json!({"operation": "head", "csv": "a,a,\n1,2,3\n"}), None)
            .unwrap();
        assert_eq!(out["columns"], json!(["a", "a_2", "column_3"]));
        let e = r.invoke("csv_analyzer", json!({"csv": "a", "delimiter": "é"}), None);
        assert_err(e, ErrorType::Validation, &["delimiter", "ASCII"]);
        let e = r.invoke("csv_analyzer", json!({"csv": "a", "delimiter": ",,"}), None);
        assert_err(e, ErrorType::Validation, &["/delimiter", "maxLength"]);
    }

    #[test]
    fn ragged_rows_name_the_line() {
        let (_d, r) = temp_registry();
        let e = r.invoke("csv_analyzer", json!({"csv": "a,b\n1,2\n3,4\n5\n"}), None);
        assert_err(e, ErrorType::Validation, &["line 4", "1 fields", "have 2"]);
        let e =
            r.invoke("csv_analyzer", json!({"operation": "to_json", "csv": "a,b\n1,2,3\n"}), None);
        assert_err(e, ErrorType::Validation, &["line 2", "3 fields"]);
    }

    #[test]
    fn files_go_through_the_policy() {
        let (dir, r) = temp_registry();
        std::fs::write(dir.path().join("p.csv"), PEOPLE).unwrap();
        let out = r.invoke("csv_analyzer", json!({"path": "p.csv"}), None).unwrap();
        assert_eq!(out["rows"], 4);
        let e = r.invoke("csv_analyzer", json!({"path": "missing.csv"}), None);
        assert_err(e, ErrorType::NotFound, &["missing.csv"]);
        let e = r.invoke("csv_analyzer", json!({"path": "/etc/passwd"}), None);
        assert_err(e, ErrorType::Permission, &["/etc/passwd"]);
        let e = r.invoke("csv_analyzer", json!({"path": "../outside.csv"}), None);
        assert_eq!(e.unwrap_err().error_type, ErrorType::Permission);
        let e = r.invoke("csv_analyzer", json!({"path": "p.csv", "csv": "a"}), None);
        assert_err(e, ErrorType::Validation, &["not both"]);
        let e = r.invoke("csv_analyzer", json!({}), None);
        assert_err(e, ErrorType::Validation, &["\"csv\" or \"path\""]);
    }

    #[test]
    fn a_cancel_stops_the_scan() {
        let (dir, r) = temp_registry();
        let path = dir.path().join("big.csv");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "id,name,value").unwrap();
        for i in 0..1_500_000 {
            writeln!(f, "{i},name{},{}.5", i % 1000, i % 77).unwrap();
        }
        drop(f);
        let e = stops_when_cancelled(&r, "csv_analyzer", json!({"path": "big.csv"}));
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
    }
}
