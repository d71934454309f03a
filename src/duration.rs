//! Durations written the way Kubernetes users write them: Go duration strings such as `90s`,
//! `1h30m` or `1.5h`, the same syntax the CRDs' CEL rules accept.

use std::time::Duration;

/// Why a duration string does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0:?} is not a duration: use a number and a unit (ns, us, ms, s, m, h), such as 90s or 1h30m")]
    Syntax(String),
    #[error("{0:?} is negative")]
    Negative(String),
    #[error("{0:?} is too large")]
    Overflow(String),
}

/// Parses a Go duration string without a sign (a leading `+` is accepted, `-` is refused).
/// `0` alone means zero.
pub fn parse(s: &str) -> Result<Duration, Error> {
    let syntax = || Error::Syntax(s.to_owned());
    let body = match s.as_bytes().first() {
        Some(b'-') => return Err(Error::Negative(s.to_owned())),
        Some(b'+') => &s[1..],
        _ => s,
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(syntax());
    }
    let mut total: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(syntax)?;
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(syntax()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(syntax());
        }
        let whole: u128 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| Error::Overflow(s.to_owned()))? };
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(|| Error::Overflow(s.to_owned()))?;
        let mut scale = unit_nanos;
        for digit in fraction.bytes() {
            scale /= 10;
            nanos += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(nanos).ok_or_else(|| Error::Overflow(s.to_owned()))?;
        rest = tail;
    }
    let nanos = u64::try_from(total).map_err(|_| Error::Overflow(s.to_owned()))?;
    Ok(Duration::from_nanos(nanos))
}

/// Parses a duration for a SPIRE TTL: whole seconds (a fraction is truncated, as SPIRE does),
/// at most `i32::MAX`.
pub fn parse_ttl_seconds(s: &str) -> Result<i32, Error> {
    let duration = parse(s)?;
    i32::try_from(duration.as_secs()).map_err(|_| Error::Overflow(s.to_owned()))
}

/// Formats a duration the way Go prints one (`1h30m0s`, `90ms`), for messages.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let secs = d.as_secs();
    if secs == 0 {
        let nanos = d.subsec_nanos();
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}us", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let frac = d.subsec_nanos();
    let seconds =
        if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:09}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_duration_strings() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("90s", Duration::from_secs(90)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5h", Duration::from_secs(5400)),
            (".5s", Duration::from_millis(500)),
            ("2.s", Duration::from_secs(2)),
            ("300ms", Duration::from_millis(300)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("+5m", Duration::from_secs(300)),
            ("1h1m1s1ms", Duration::from_millis(3_661_001)),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in ["", "s", "1", "10", "1d", "1 h", "one hour", "1h30", ".s", "1.2.3s", "5m "] {
            assert_eq!(parse(bad), Err(Error::Syntax(bad.into())), "{bad:?}");
        }
        assert_eq!(parse("-1s"), Err(Error::Negative("-1s".into())));
        assert!(matches!(parse("99999999999999999999h"), Err(Error::Overflow(_))));
    }

    #[test]
    fn ttls_are_whole_seconds_within_i32() {
        assert_eq!(parse_ttl_seconds("1h"), Ok(3600));
        assert_eq!(parse_ttl_seconds("1500ms"), Ok(1));
        assert_eq!(parse_ttl_seconds("596523h"), Ok(2_147_482_800));
        assert_eq!(parse_ttl_seconds("596524h"), Err(Error::Overflow("596524h".into())));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(300)), "300ms");
    }
}
