//! Go's `fmt` layouts of floating-point numbers: `%e`, `%g` (and `%v`), `%x`, `%b`, and the
//! `#` flag's forced decimal point, digit for digit as strconv writes them.

use std::fmt::Write as _;

/// The shortest decimal digits of `f` (no leading zeros) and the decimal point position,
/// or the digits rounded to `significant` digits.
fn decimal_digits(f: f64, significant: Option<usize>) -> (String, i32) {
    let s = match significant {
        Some(p) => format!("{:.*e}", p.max(1) - 1, f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    if digits == "0" {
        return (digits, 1);
    }
    (digits, exponent + 1)
}

/// Go's `%e` layout from digits: `d.ddde±XX` with `precision` fraction digits.
fn layout_e(digits: &str, dp: i32, precision: usize, upper: bool) -> String {
    let mut s = String::new();
    let mut chars = digits.chars();
    s.push(chars.next().unwrap_or('0'));
    if precision > 0 {
        s.push('.');
        let rest: Vec<char> = chars.collect();
        for i in 0..precision {
            s.push(rest.get(i).copied().unwrap_or('0'));
        }
    }
    let exp = if digits == "0" { 0 } else { dp - 1 };
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exp.unsigned_abs());
    s
}

/// Go's `%f` layout from digits with `precision` fraction digits.
fn layout_f(digits: &str, dp: i32, precision: usize) -> String {
    let d: Vec<char> = digits.chars().collect();
    let digit = |i: i32| -> char { if i >= 0 && (i as usize) < d.len() { d[i as usize] } else { '0' } };
    let mut s = String::new();
    if dp > 0 {
        for i in 0..dp {
            s.push(digit(i));
        }
    } else {
        s.push('0');
    }
    if precision > 0 {
        s.push('.');
        for i in 1..=precision as i32 {
            s.push(digit(dp + i - 1));
        }
    }
    s
}

pub(super) fn format_e(f: f64, precision: usize, upper: bool) -> String {
    let s = format!("{:.*e}", precision, f.abs());
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exponent.parse().unwrap_or(0);
    let mut out = mantissa.to_string();
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
    out
}

/// Go's `%g` (and `%v` for floats): shortest digits, or `precision` significant digits,
/// in `%e` form for large and small exponents.
pub(super) fn format_g(f: f64, precision: Option<usize>, upper: bool) -> String {
    if f.is_nan() || f.is_infinite() {
        return String::new();
    }
    let (digits, dp) = decimal_digits(f, precision.map(|p| p.max(1)));
    let nd = digits.len() as i32;
    let shortest = precision.is_none();
    let mut prec = match precision {
        Some(p) => p.max(1) as i32,
        None => nd,
    };
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    if digits != "0" && (exp < -4 || exp >= eprec) {
        if prec > nd {
            prec = nd;
        }
        return layout_e(&digits, dp, (prec - 1).max(0) as usize, upper);
    }
    if prec > dp {
        prec = nd;
    }
    layout_f(&digits, dp, (prec - dp).max(0) as usize)
}

/// Go's `#` flag for floats: always a decimal point, and for `%g` (`significant` > 0) the
/// trailing zeros up to that many significant digits. `hex` says `e` is a digit, not an
/// exponent.
pub(super) fn keep_decimal_point(body: &str, significant: i64, hex: bool) -> String {
    let tail_at = body.find(|c: char| matches!(c, 'p' | 'P') || (!hex && matches!(c, 'e' | 'E')));
    let (num, tail) = body.split_at(tail_at.unwrap_or(body.len()));
    let mut digits = significant;
    let mut seen_nonzero = false;
    for c in num.chars().filter(|&c| c != '.') {
        seen_nonzero |= c != '0';
        if seen_nonzero {
            digits -= 1;
        }
    }
    let mut out = num.to_string();
    if !num.contains('.') {
        if num == "0" {
            digits -= 1;
        }
        out.push('.');
    }
    for _ in 0..digits.max(0) {
        out.push('0');
    }
    out.push_str(tail);
    out
}

/// Go's `%x` for floats (strconv's `fmtX`): `0x1.8p+01`, with the shortest digits or, given
/// a precision, that many hex digits rounded half to even.
pub(super) fn format_hex_float(f: f64, precision: Option<usize>, upper: bool) -> String {
    let bits = f.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1 << 52) - 1);
    let mut exp = if biased == 0 {
        -1022
    } else {
        mant |= 1 << 52;
        biased - 1023
    };
    if mant == 0 {
        exp = 0;
    }
    // The leading 1 (if any) goes to bit 60.
    mant <<= 8;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = precision.filter(|&p| p < 15) {
        let shift = (p * 4) as u32;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    let mut s = String::from(if upper { "0X" } else { "0x" });
    s.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    let fraction_digits = match precision {
        None if mant != 0 => (64 - mant.trailing_zeros() as usize).div_ceil(4),
        None => 0,
        Some(p) => p,
    };
    if fraction_digits > 0 {
        s.push('.');
        for _ in 0..fraction_digits {
            s.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    }
    s.push(if upper { 'P' } else { 'p' });
    s.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exp.unsigned_abs());
    s
}

/// Go's `%b` for floats: decimal mantissa and binary exponent, `4503599627370496p-52`.
pub(super) fn format_binary_float(f: f64) -> String {
    let bits = f.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1 << 52) - 1);
    let e = if exp == 0 {
        -1074
    } else {
        mant |= 1 << 52;
        exp - 1075
    };
    format!("{mant}p{}{}", if e < 0 { '-' } else { '+' }, e.unsigned_abs())
}
