//! date_time_handler: now, parse, format, convert, difference and add, with chrono and the
//! IANA time zone database of chrono-tz.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Days, FixedOffset, Local, Months, NaiveDate, NaiveDateTime, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "date_time_handler",
        category: "time",
        description: "Dates and times: now in a time zone, parse (RFC 3339, RFC 2822, ISO dates, \
                      unix timestamps, or a strftime input_format), format with strftime, \
                      convert between IANA time zones, difference between two date-times, add \
                      a duration.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["now", "parse", "format", "convert", "difference", "add"],
                    "description": "What to do (default now)"
                },
                "datetime": {
                    "type": ["string", "number"],
                    "description": "The date-time: RFC 3339 (2024-03-01T12:00:00+01:00), RFC \
                                    2822, 2024-03-01 12:00[:00], 2024-03-01, 'March 1, 2024', \
                                    a unix timestamp (number or '@1709290800'), or 'now' \
                                    (default now)"
                },
                "end": {
                    "type": ["string", "number"],
                    "description": "difference: the second date-time; the result is end minus \
                                    datetime"
                },
                "input_format": {
                    "type": "string",
                    "description": "Parse datetime (and end) with this strftime format, e.g. \
                                    %d/%m/%Y %H:%M"
                },
                "timestamp_unit": {
                    "type": "string",
                    "enum": ["seconds", "milliseconds"],
                    "description": "Unit of numeric timestamps (default seconds)"
                },
                "timezone": {
                    "type": "string",
                    "description": "Zone of date-times without an offset and of the results: an \
                                    IANA name (Europe/Paris), UTC, an offset (+05:30) or local \
                                    (default: the input's own offset, else UTC)"
                },
                "to_timezone": {
                    "type": "string",
                    "description": "convert: the zone to convert to"
                },
                "format": {
                    "type": "string",
                    "description": "format: a strftime format, e.g. '%A %d %B %Y %H:%M %Z'; \
                                    also accepted by the other operations to add a formatted \
                                    field"
                },
                "duration": {
                    "type": "object",
                    "description": "add: integer amounts, may be negative; years, months, weeks \
                                    and days move the calendar date in the zone, the rest is \
                                    exact time",
                    "properties": {
                        "years": {"type": "integer"},
                        "months": {"type": "integer"},
                        "weeks": {"type": "integer"},
                        "days": {"type": "integer"},
                        "hours": {"type": "integer"},
                        "minutes": {"type": "integer"},
                        "seconds": {"type": "integer"},
                        "milliseconds": {"type": "integer"}
                    },
                    "additionalProperties": false
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "convert a time between zones",
                json!({
                    "operation": "convert",
                    "datetime": "2024-07-01T12:00:00Z",
                    "to_timezone": "Asia/Tokyo"
                }),
                json!({"datetime": {"iso": "2024-07-01T21:00:00+09:00", "timezone": "Asia/Tokyo"}}),
            ),
            Example::new(
                "parse a custom format and reformat it",
                json!({
                    "operation": "format",
                    "datetime": "25/12/2023 18:30",
                    "input_format": "%d/%m/%Y %H:%M",
                    "format": "%A %d %B %Y, %H:%M"
                }),
                json!({"result": "Monday 25 December 2023, 18:30"}),
            ),
            Example::new(
                "difference between two date-times",
                json!({
                    "operation": "difference",
                    "datetime": "2024-01-01T00:00:00Z",
                    "end": "2024-01-02T03:04:05Z"
                }),
                json!({"seconds": 97445, "humanized": "1 day, 3 hours, 4 minutes and 5 seconds"}),
            ),
            Example::new(
                "add a month and two hours",
                json!({
                    "operation": "add",
                    "datetime": "2024-01-31 10:00",
                    "timezone": "Europe/Paris",
                    "duration": {"months": 1, "hours": 2}
                }),
                json!({"datetime": {"iso": "2024-02-29T12:00:00+01:00"}}),
            ),
            Example::satisfies(
                "now in UTC",
                json!({"operation": "now", "timezone": "UTC"}),
                "a current ISO date-time in UTC",
                |v| {
                    v["datetime"]["timezone"] == "UTC"
                        && v["datetime"]["unix"].as_i64().is_some_and(|t| t > 1_700_000_000)
                },
            ),
            Example::fails(
                "an unknown time zone",
                json!({"operation": "now", "timezone": "Mars/Olympus_Mons"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

/// A time zone: an IANA zone, a fixed offset, or the system's local zone.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
    Local,
}

impl Zone {
    fn name(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_owned(),
            Zone::Fixed(off) => off.to_string(),
            Zone::Local => "local".to_owned(),
        }
    }

    /// The instant `utc` as seen in this zone.
    fn at(&self, utc: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Zone::Named(tz) => utc.with_timezone(tz).fixed_offset(),
            Zone::Fixed(off) => utc.with_timezone(off),
            Zone::Local => utc.with_timezone(&Local).fixed_offset(),
        }
    }

    /// The wall-clock time `naive` in this zone; the earlier one when a DST change repeats
    /// it, an error when a DST change skips it.
    fn localize(&self, naive: NaiveDateTime) -> Result<DateTime<Utc>, ToolError> {
        let result: LocalResult<DateTime<Utc>> = match self {
            Zone::Named(tz) => tz.from_local_datetime(&naive).map(|d| d.to_utc()),
            Zone::Fixed(off) => off.from_local_datetime(&naive).map(|d| d.to_utc()),
            Zone::Local => Local.from_local_datetime(&naive).map(|d| d.to_utc()),
        };
        match result {
            LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => Ok(dt),
            LocalResult::None => Err(ToolError::validation(format!(
                "{naive} does not exist in {} (it falls in a daylight-saving gap)",
                self.name()
            ))),
        }
    }
}

fn parse_zone(param: &str, text: &str) -> Result<Zone, ToolError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("local") {
        return Ok(Zone::Local);
    }
    if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") || t == "GMT" {
        return Ok(Zone::Named(Tz::UTC));
    }
    if t.starts_with(['+', '-'])
        && let Some(off) = parse_offset(t)
    {
        return Ok(Zone::Fixed(off));
    }
    if let Ok(tz) = t.parse::<Tz>() {
        return Ok(Zone::Named(tz));
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS.iter().find(|z| z.name().eq_ignore_ascii_case(t)) {
        return Ok(Zone::Named(*tz));
    }
    Err(ToolError::validation(format!(
        "parameter {param:?}: unknown time zone {text:?} (use an IANA name such as \
         Europe/Paris, UTC, an offset such as +05:30, or local)"
    )))
}

/// "+05:30", "+0530", "-08".
fn parse_offset(t: &str) -> Option<FixedOffset> {
    let sign = if t.starts_with('-') { -1 } else { 1 };
    let digits: String = t[1..].chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
        _ => return None,
    };
    if m >= 60 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// A parsed date-time: the instant, and the zone it was given in (if it carried an offset).
struct Moment {
    utc: DateTime<Utc>,
    offset: Option<FixedOffset>,
}

const NAIVE_DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%B %d, %Y %H:%M",
    "%d %B %Y %H:%M",
];
const DATE_FORMATS: &[&str] =
    &["%Y-%m-%d", "%Y/%m/%d", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y%m%d"];
const OFFSET_FORMATS: &[&str] = &["%Y-%m-%d %H:%M:%S%.f %z", "%Y-%m-%d %H:%M:%S%.f%:z"];

struct Inputs<'a> {
    input_format: Option<&'a str>,
    zone: Zone,
    millis: bool,
}

fn parse_moment(param: &str, value: &Value, how: &Inputs) -> Result<Moment, ToolError> {
    let text = match value {
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            return from_timestamp(param, n, how.millis);
        }
        Value::String(s) => s.trim(),
        _ => return Err(ToolError::validation(format!("parameter {param:?} must be a string"))),
    };
    if let Some(fmt) = how.input_format {
        return parse_with_format(param, text, fmt, how.zone);
    }
    if text.eq_ignore_ascii_case("now") {
        return Ok(Moment { utc: Utc::now(), offset: None });
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(Moment { utc: dt.to_utc(), offset: Some(*dt.offset()) });
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(text) {
        return Ok(Moment { utc: dt.to_utc(), offset: Some(*dt.offset()) });
    }
    let number = text.strip_prefix('@').unwrap_or(text);
    if !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && let Ok(n) = number.parse::<f64>()
    {
        return from_timestamp(param, n, how.millis);
    }
    for fmt in OFFSET_FORMATS {
        if let Ok(dt) = DateTime::parse_from_str(text, fmt) {
            return Ok(Moment { utc: dt.to_utc(), offset: Some(*dt.offset()) });
        }
    }
    for fmt in NAIVE_DATETIME_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return Ok(Moment { utc: how.zone.localize(naive)?, offset: None });
        }
    }
    for fmt in DATE_FORMATS {
        if let Ok(date) = NaiveDate::parse_from_str(text, fmt) {
            let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
            return Ok(Moment { utc: how.zone.localize(naive)?, offset: None });
        }
    }
    Err(ToolError::validation(format!(
        "parameter {param:?}: cannot parse {text:?} as a date-time (use RFC 3339 such as \
         2024-03-01T12:00:00Z, a unix timestamp, or give input_format)"
    )))
}

fn parse_with_format(param: &str, text: &str, fmt: &str, zone: Zone) -> Result<Moment, ToolError> {
    strftime_items("input_format", fmt)?;
    if let Ok(dt) = DateTime::parse_from_str(text, fmt) {
        return Ok(Moment { utc: dt.to_utc(), offset: Some(*dt.offset()) });
    }
    let naive = match NaiveDateTime::parse_from_str(text, fmt) {
        Ok(naive) => naive,
        // A format without a time of day: a date at midnight.
        Err(first)
            if first.kind() == chrono::format::ParseErrorKind::NotEnough
                && !has_time_of_day(fmt) =>
        {
            match NaiveDate::parse_from_str(text, fmt) {
                Ok(date) => date.and_hms_opt(0, 0, 0).unwrap_or_default(),
                Err(e) => {
                    return Err(ToolError::validation(format!(
                        "parameter {param:?}: {text:?} does not match input_format {fmt:?}: {e}"
                    )));
                }
            }
        }
        Err(first) => {
            return Err(ToolError::validation(format!(
                "parameter {param:?}: {text:?} does not match input_format {fmt:?}: {first}"
            )));
        }
    };
    Ok(Moment { utc: zone.localize(naive)?, offset: None })
}

/// Whether a strftime format names any part of the time of day.
fn has_time_of_day(fmt: &str) -> bool {
    ["%H", "%I", "%k", "%l", "%M", "%S", "%T", "%R", "%X", "%c", "%p", "%P", "%r", "%s"]
        .iter()
        .any(|spec| fmt.contains(spec))
}

fn from_timestamp(param: &str, n: f64, millis: bool) -> Result<Moment, ToolError> {
    let out_of_range =
        || ToolError::validation(format!("parameter {param:?}: timestamp {n} is out of range"));
    // Whole units and the fraction apart, so that milliseconds stay exact.
    let per_second = if millis { 1000 } else { 1 };
    if !n.is_finite() || n.abs() / per_second as f64 > 1.0e14 {
        return Err(out_of_range());
    }
    let whole = n.floor();
    let fraction_ns = ((n - whole) * 1e9 / per_second as f64).round() as i64;
    let whole = whole as i64;
    let secs = whole.div_euclid(per_second);
    let nanos = whole.rem_euclid(per_second) * (1_000_000_000 / per_second) + fraction_ns;
    let utc = DateTime::from_timestamp(secs, 0)
        .and_then(|t| t.checked_add_signed(TimeDelta::nanoseconds(nanos)))
        .ok_or_else(out_of_range)?;
    Ok(Moment { utc, offset: None })
}

/// The strftime items of `fmt`, or a validation error naming the parameter.
fn strftime_items<'a>(param: &str, fmt: &'a str) -> Result<Vec<Item<'a>>, ToolError> {
    let items: Vec<Item<'a>> = StrftimeItems::new(fmt).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {fmt:?} is not a valid strftime format"
        )));
    }
    Ok(items)
}

fn format_with(dt: &DateTime<FixedOffset>, fmt: &str) -> Result<String, ToolError> {
    let items = strftime_items("format", fmt)?;
    let mut out = String::new();
    write!(out, "{}", dt.format_with_items(items.iter())).map_err(|_| {
        ToolError::validation(format!("parameter \"format\": {fmt:?} cannot format this date-time"))
    })?;
    Ok(out)
}

fn describe(utc: DateTime<Utc>, zone: Zone) -> Value {
    let dt = zone.at(utc);
    json!({
        "iso": dt.to_rfc3339(),
        "unix": dt.timestamp(),
        "unix_ms": dt.timestamp_millis(),
        "date": dt.format("%Y-%m-%d").to_string(),
        "time": dt.format("%H:%M:%S").to_string(),
        "weekday": dt.format("%A").to_string(),
        "year": dt.year(),
        "month": dt.month(),
        "day": dt.day(),
        "hour": dt.hour(),
        "minute": dt.minute(),
        "second": dt.second(),
        "day_of_year": dt.ordinal(),
        "iso_week": dt.iso_week().week(),
        "offset": dt.format("%:z").to_string(),
        "timezone": zone.name(),
    })
}

fn run(p: &Params, _cx: &Context) -> Result<Value, ToolError> {
    let zone_param = p.opt_str("timezone")?.map(|t| parse_zone("timezone", t)).transpose()?;
    let how = Inputs {
        input_format: p.opt_str("input_format")?,
        zone: zone_param.unwrap_or(Zone::Named(Tz::UTC)),
        millis: p.str_or("timestamp_unit", "seconds")? == "milliseconds",
    };
    let moment = |param: &str| -> Result<Moment, ToolError> {
        match p.get(param) {
            Some(v) => parse_moment(param, v, &how),
            None => Ok(Moment { utc: Utc::now(), offset: None }),
        }
    };
    // Results are shown in `timezone`, else in the input's own offset, else UTC.
    let shown = |m: &Moment| -> Zone {
        zone_param.or(m.offset.map(Zone::Fixed)).unwrap_or(Zone::Named(Tz::UTC))
    };
    let with_format = |mut out: Value, utc: DateTime<Utc>, zone: Zone| {
        if let Some(fmt) = p.opt_str("format")? {
            out["formatted"] = json!(format_with(&zone.at(utc), fmt)?);
        }
        Ok::<Value, ToolError>(out)
    };
    match p.str_or("operation", "now")? {
        "parse" => {
            if !p.has("datetime") {
                return Err(ToolError::validation("operation parse needs \"datetime\""));
            }
            let m = moment("datetime")?;
            let zone = shown(&m);
            with_format(json!({"datetime": describe(m.utc, zone)}), m.utc, zone)
        }
        "format" => {
            let fmt = p.opt_str("format")?.ok_or_else(|| {
                ToolError::validation("operation format needs the parameter \"format\"")
            })?;
            let m = moment("datetime")?;
            let zone = shown(&m);
            let result = format_with(&zone.at(m.utc), fmt)?;
            Ok(json!({"result": result, "datetime": describe(m.utc, zone)}))
        }
        "convert" => {
            let to = p.opt_str("to_timezone")?.ok_or_else(|| {
                ToolError::validation("operation convert needs the parameter \"to_timezone\"")
            })?;
            let to = parse_zone("to_timezone", to)?;
            let m = moment("datetime")?;
            let out = json!({
                "datetime": describe(m.utc, to),
                "from": describe(m.utc, shown(&m)),
            });
            with_format(out, m.utc, to)
        }
        "difference" => {
            if !p.has("end") {
                return Err(ToolError::validation("operation difference needs \"end\""));
            }
            let start = moment("datetime")?;
            let end = moment("end")?;
            Ok(difference(end.utc - start.utc))
        }
        "add" => {
            let duration = p.opt_object("duration")?.ok_or_else(|| {
                ToolError::validation("operation add needs the parameter \"duration\"")
            })?;
            let m = moment("datetime")?;
            let zone = shown(&m);
            let utc = add(m.utc, zone, duration)?;
            with_format(json!({"datetime": describe(utc, zone)}), utc, zone)
        }
        _ => {
            let zone = zone_param.unwrap_or(Zone::Named(Tz::UTC));
            let now = Utc::now();
            with_format(json!({"datetime": describe(now, zone)}), now, zone)
        }
    }
}

fn difference(delta: TimeDelta) -> Value {
    let millis = delta.num_milliseconds();
    let total = delta.num_seconds();
    let abs = total.unsigned_abs();
    let (days, hours, minutes, seconds) =
        (abs / 86_400, abs % 86_400 / 3600, abs % 3600 / 60, abs % 60);
    let mut parts = Vec::new();
    for (n, unit) in [(days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second")] {
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    let humanized = match parts.len() {
        0 => "0 seconds".to_owned(),
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} and {last}", parts.join(", "))
        }
    };
    let direction = match total.cmp(&0) {
        std::cmp::Ordering::Greater => "later",
        std::cmp::Ordering::Less => "earlier",
        std::cmp::Ordering::Equal => {
            if millis == 0 {
                "same"
            } else if millis > 0 {
                "later"
            } else {
                "earlier"
            }
        }
    };
    json!({
        "seconds": total,
        "milliseconds": millis,
        "minutes": total as f64 / 60.0,
        "hours": total as f64 / 3600.0,
        "days": total as f64 / 86_400.0,
        "parts": {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds},
        "humanized": humanized,
        "direction": direction,
    })
}

fn add(
    utc: DateTime<Utc>,
    zone: Zone,
    duration: &serde_json::Map<String, Value>,
) -> Result<DateTime<Utc>, ToolError> {
    let get = |k: &str| -> Result<i64, ToolError> {
        match duration.get(k) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v.as_i64().ok_or_else(|| {
                ToolError::validation(format!("parameter \"duration\": {k} must be an integer"))
            }),
        }
    };
    let overflow = || ToolError::validation("the resulting date-time is out of range");
    let (years, months, weeks, days) = (get("years")?, get("months")?, get("weeks")?, get("days")?);
    let months = years.checked_mul(12).and_then(|y| y.checked_add(months)).ok_or_else(overflow)?;
    let days = weeks.checked_mul(7).and_then(|w| w.checked_add(days)).ok_or_else(overflow)?;
    let mut result = utc;
    if months != 0 || days != 0 {
        let mut local = zone.at(utc).naive_local();
        let m = Months::new(u32::try_from(months.unsigned_abs()).map_err(|_| overflow())?);
        local = if months >= 0 { local.checked_add_months(m) } else { local.checked_sub_months(m) }
            .ok_or_else(overflow)?;
        let d = Days::new(days.unsigned_abs());
        local = if days >= 0 { local.checked_add_days(d) } else { local.checked_sub_days(d) }
            .ok_or_else(overflow)?;
        result = match zone.localize(local) {
            Ok(dt) => dt,
            // Landing in a DST gap: the same wall-clock distance past the gap's start.
            Err(_) => zone.localize(local + TimeDelta::hours(1))?,
        };
    }
    let exact = [
        (get("hours")?, 3_600_000i64),
        (get("minutes")?, 60_000),
        (get("seconds")?, 1000),
        (get("milliseconds")?, 1),
    ];
    for (n, unit) in exact {
        let ms = n.checked_mul(unit).ok_or_else(overflow)?;
        let delta = TimeDelta::try_milliseconds(ms).ok_or_else(overflow)?;
        result = result.checked_add_signed(delta).ok_or_else(overflow)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::test_util::{assert_err, temp_registry};
    use crate::error::ErrorType;
    use crate::registry::Registry;

    fn call(r: &Registry, params: Value) -> Value {
        r.invoke("date_time_handler", params, None).unwrap()
    }

    #[test]
    fn now_in_a_zone() {
        let (_d, r) = temp_registry();
        let before = chrono::Utc::now().timestamp();
        let out = call(&r, json!({"timezone": "America/New_York"}));
        let t = out["datetime"]["unix"].as_i64().unwrap();
        assert!(t >= before && t <= before + 60, "{out}");
        assert_eq!(out["datetime"]["timezone"], "America/New_York");
        let offset = out["datetime"]["offset"].as_str().unwrap();
        assert!(offset == "-05:00" || offset == "-04:00", "{offset}");
        let out = call(&r, json!({"operation": "now", "timezone": "+05:30", "format": "%z"}));
        assert_eq!(out["formatted"], "+0530");
        let out = call(&r, json!({"operation": "now"}));
        assert_eq!(out["datetime"]["timezone"], "UTC");
        let out = call(&r, json!({"operation": "now", "timezone": "local"}));
        assert_eq!(out["datetime"]["timezone"], "local");
        let out = call(&r, json!({"operation": "now", "timezone": "europe/paris"}));
        assert_eq!(out["datetime"]["timezone"], "Europe/Paris");
    }

    #[test]
    fn parse_many_formats() {
        let (_d, r) = temp_registry();
        let parse = |datetime: Value| {
            call(&r, json!({"operation": "parse", "datetime": datetime}))["datetime"].clone()
        };
        let d = parse(json!("2024-03-01T12:30:00+01:00"));
        assert_eq!(d["iso"], "2024-03-01T12:30:00+01:00");
        assert_eq!(d["unix"], 1709292600);
        assert_eq!(d["weekday"], "Friday");
        assert_eq!(d["timezone"], "+01:00");
        assert_eq!(parse(json!("Fri, 01 Mar 2024 11:30:00 GMT"))["unix"], 1709292600);
        assert_eq!(parse(json!(1709292600))["iso"], "2024-03-01T11:30:00+00:00");
        assert_eq!(parse(json!("@1709292600"))["date"], "2024-03-01");
        assert_eq!(parse(json!(1709292600.5))["unix_ms"], 1709292600500i64);
        assert_eq!(parse(json!("2024-03-01 11:30"))["unix"], 1709292600);
        assert_eq!(parse(json!("2024-03-01T11:30:00.250"))["unix_ms"], 1709292600250i64);
        assert_eq!(parse(json!("2024-03-01"))["time"], "00:00:00");
        assert_eq!(parse(json!("March 1, 2024"))["date"], "2024-03-01");
        assert_eq!(parse(json!("1 Mar 2024"))["day_of_year"], 61);
        assert_eq!(parse(json!("2024-03-01 11:30:00 +0000"))["unix"], 1709292600);
        // Naive times are in `timezone`, and results are shown in it.
        let out = call(
            &r,
            json!({"operation": "parse", "datetime": "2024-07-01 12:00",
                   "timezone": "Europe/Paris"}),
        );
        assert_eq!(out["datetime"]["iso"], "2024-07-01T12:00:00+02:00");
        let out = call(
            &r,
            json!({"operation": "parse", "datetime": 1709292600123i64,
                   "timestamp_unit": "milliseconds"}),
        );
        assert_eq!(out["datetime"]["unix_ms"], 1709292600123i64);
        let out = call(
            &r,
            json!({"operation": "parse", "datetime": "03.01.24 7:05pm",
                   "input_format": "%m.%d.%y %I:%M%P", "format": "%Y-%m-%dT%H"}),
        );
        assert_eq!(out["formatted"], "2024-03-01T19");
        let out = call(
            &r,
            json!({"operation": "parse", "datetime": "01/03/2024", "input_format": "%d/%m/%Y"}),
        );
        assert_eq!(out["datetime"]["date"], "2024-03-01");
    }

    #[test]
    fn unparseable_input_and_unknown_zones_are_validation() {
        let (_d, r) = temp_registry();
        let e =
            r.invoke("date_time_handler", json!({"operation": "parse", "datetime": "soon"}), None);
        assert_err(e, ErrorType::Validation, &["\"datetime\"", "\"soon\""]);
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "parse", "datetime": "2024-13-01", "input_format": "%Y-%m-%d"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["does not match input_format", "%Y-%m-%d"]);
        // An hour without minutes is not enough; the hour is not silently dropped.
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "parse", "datetime": "2024-03-01 7pm",
                   "input_format": "%Y-%m-%d %I%P"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["does not match input_format", "not enough"]);
        let e = r.invoke("date_time_handler", json!({"timezone": "Mars/Base"}), None);
        assert_err(e, ErrorType::Validation, &["unknown time zone", "Mars/Base"]);
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "convert", "to_timezone": "+25:00"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["to_timezone", "+25:00"]);
        let e =
            r.invoke("date_time_handler", json!({"operation": "format", "format": "%Q %Y"}), None);
        assert_err(e, ErrorType::Validation, &["format", "strftime"]);
        let e = r.invoke("date_time_handler", json!({"operation": "format"}), None);
        assert_err(e, ErrorType::Validation, &["format"]);
        let e =
            r.invoke("date_time_handler", json!({"operation": "parse", "datetime": 1e300}), None);
        assert_err(e, ErrorType::Validation, &["out of range"]);
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "parse", "datetime": "2024-03-31 02:30",
                   "timezone": "Europe/Paris"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["does not exist in Europe/Paris"]);
        let e = r.invoke("date_time_handler", json!({"operation": "parse"}), None);
        assert_err(e, ErrorType::Validation, &["datetime"]);
        let e =
            r.invoke("date_time_handler", json!({"operation": "parse", "datetime": true}), None);
        assert_err(e, ErrorType::Validation, &["/datetime", "type"]);
    }

    #[test]
    fn format_and_convert() {
        let (_d, r) = temp_registry();
        let out = call(
            &r,
            json!({"operation": "format", "datetime": "2024-03-01T11:30:00Z",
                   "format": "%a %d %b %Y %I:%M %p %Z", "timezone": "Asia/Kolkata"}),
        );
        assert_eq!(out["result"], "Fri 01 Mar 2024 05:00 PM +05:30");
        let out = call(
            &r,
            json!({"operation": "convert", "datetime": "2024-01-15 09:00",
                   "timezone": "America/Los_Angeles", "to_timezone": "Europe/London"}),
        );
        assert_eq!(out["datetime"]["iso"], "2024-01-15T17:00:00+00:00");
        assert_eq!(out["from"]["iso"], "2024-01-15T09:00:00-08:00");
        assert_eq!(out["from"]["timezone"], "America/Los_Angeles");
        let out = call(
            &r,
            json!({"operation": "convert", "datetime": "2024-07-15T09:00:00-07:00",
                   "to_timezone": "Europe/London", "format": "%H:%M"}),
        );
        assert_eq!(out["formatted"], "17:00");
        assert_eq!(out["datetime"]["offset"], "+01:00");
        let e = r.invoke("date_time_handler", json!({"operation": "convert"}), None);
        assert_err(e, ErrorType::Validation, &["to_timezone"]);
    }

    #[test]
    fn differences() {
        let (_d, r) = temp_registry();
        let out = call(
            &r,
            json!({"operation": "difference", "datetime": "2024-03-02T00:00:00Z",
                   "end": "2024-03-01T23:59:00Z"}),
        );
        assert_eq!(out["seconds"], -60);
        assert_eq!(out["humanized"], "1 minute");
        assert_eq!(out["direction"], "earlier");
        assert_eq!(out["parts"], json!({"days": 0, "hours": 0, "minutes": 1, "seconds": 0}));
        // Across a DST change: 23 real hours between the two local midnights.
        let out = call(
            &r,
            json!({"operation": "difference", "datetime": "2024-03-31", "end": "2024-04-01",
                   "timezone": "Europe/Paris"}),
        );
        assert_eq!(out["hours"], 23.0);
        let out = call(&r, json!({"operation": "difference", "datetime": 0, "end": 0}));
        assert_eq!(out["direction"], "same");
        assert_eq!(out["humanized"], "0 seconds");
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "difference", "datetime": "2024-01-01"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["end"]);
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "difference", "datetime": "2024-01-01", "end": "tomorrowish"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["\"end\"", "tomorrowish"]);
    }

    #[test]
    fn adding_durations() {
        let (_d, r) = temp_registry();
        let add = |datetime: &str, duration: Value, zone: &str| {
            call(
                &r,
                json!({"operation": "add", "datetime": datetime, "duration": duration,
                       "timezone": zone}),
            )["datetime"]["iso"]
                .clone()
        };
        assert_eq!(
            add("2024-01-31T10:00:00Z", json!({"months": 1}), "UTC"),
            "2024-02-29T10:00:00+00:00"
        );
        assert_eq!(add("2024-02-29", json!({"years": -1}), "UTC"), "2023-02-28T00:00:00+00:00");
        assert_eq!(
            add(
                "2024-01-01",
                json!({"weeks": 1, "days": -2, "hours": 25, "minutes": -1,
                                     "seconds": 30, "milliseconds": 500}),
                "UTC"
            ),
            "2024-01-07T00:59:30.500+00:00"
        );
        // A calendar day across the DST change keeps the wall-clock time; 24 hours do not.
        assert_eq!(
            add("2024-03-30 12:00", json!({"days": 1}), "Europe/Paris"),
            "2024-03-31T12:00:00+02:00"
        );
        assert_eq!(
            add("2024-03-30 12:00", json!({"hours": 24}), "Europe/Paris"),
            "2024-03-31T13:00:00+02:00"
        );
        // Landing in the gap moves past it.
        assert_eq!(
            add("2024-03-30 02:30", json!({"days": 1}), "Europe/Paris"),
            "2024-03-31T03:30:00+02:00"
        );
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "add", "datetime": "2024-01-01", "duration": {"years": 9999999}}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["out of range"]);
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "add", "datetime": "2024-01-01", "duration": {"fortnights": 1}}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["duration", "additionalProperties"]);
        let e = r.invoke("date_time_handler", json!({"operation": "add"}), None);
        assert_err(e, ErrorType::Validation, &["duration"]);
        let e = r.invoke(
            "date_time_handler",
            json!({"operation": "add", "duration": {"seconds": i64::MAX}}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["out of range"]);
    }
}
