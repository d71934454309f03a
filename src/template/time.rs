//! `metav1.Time` as templates see it: printed with Go's `time.Time.String` layout, in UTC
//! (`2026-01-02 03:04:05 +0000 UTC`), and a few argument-less methods.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::value::{IntType, Value};

/// Seconds from 0001-01-01 to 1970-01-01: the Unix time of Go's zero time.
const ZERO_TIME_UNIX: i64 = -62_135_596_800;

fn unix_parts(t: Option<&Time>) -> (i64, i32) {
    match t {
        Some(t) => (t.0.as_second(), t.0.subsec_nanosecond()),
        None => (ZERO_TIME_UNIX, 0),
    }
}

/// The proleptic Gregorian date of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Go's `time.Time.String()` for a UTC time; `None` is the zero time.
pub(crate) fn go_string(t: Option<&Time>) -> String {
    let (secs, nanos) = unix_parts(t);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut s = format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// The day of the year (1 to 366) of a proleptic Gregorian date.
fn day_of_year(year: i64, month: u32, day: u32) -> i64 {
    const BEFORE_MONTH: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    BEFORE_MONTH[month as usize - 1] + i64::from(day) + i64::from(leap && month > 2)
}

/// The argument-less `time.Time` methods templates can call: `Unix`, `UnixMilli`,
/// `UnixNano`, `IsZero`, `String`, and the `int` calendar fields `Year`, `YearDay`, `Day`,
/// `Hour`, `Minute`, `Second` and `Nanosecond` (in UTC).
pub(crate) fn method(t: Option<&Time>, name: &str) -> Option<Value<'static>> {
    let (secs, nanos) = unix_parts(t);
    let nanos = i64::from(nanos);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let second_of_day = secs.rem_euclid(86_400);
    Some(match name {
        "Year" => Value::int(year),
        "YearDay" => Value::int(day_of_year(year, month, day)),
        "Day" => Value::int(i64::from(day)),
        "Hour" => Value::int(second_of_day / 3600),
        "Minute" => Value::int(second_of_day % 3600 / 60),
        "Second" => Value::int(second_of_day % 60),
        "Nanosecond" => Value::int(nanos),
        "Unix" => Value::Int(secs, IntType::Int64),
        "UnixMilli" => Value::Int(secs * 1000 + nanos / 1_000_000, IntType::Int64),
        "UnixNano" => Value::Int(secs.saturating_mul(1_000_000_000).saturating_add(nanos), IntType::Int64),
        "IsZero" => Value::Bool(secs == ZERO_TIME_UNIX && nanos == 0),
        "String" => Value::string(go_string(t)),
        _ => return None,
    })
}
