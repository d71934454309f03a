//! Go's `fmt` printing rules for template values: how `{{ . }}` prints a value, and the
//! `print`, `println` and `printf` built-ins, including Go's `%!verb(type=value)` markers
//! for mismatched verbs and arguments.
//!
//! Go prints Kubernetes API structs through generated `String` methods whose output is not
//! meant for identifiers; printing a struct is therefore an error here, asking the template
//! to name a field instead. A non-nil pointer to a scalar prints the value it points to
//! (Go would print the address, which is never useful in an identifier).

use std::fmt::Write as _;

use super::float::{format_binary_float, format_e, format_g, format_hex_float, keep_decimal_point};
use super::value::{Pointer, Value};

/// A formatting failure: a value this module refuses to print.
pub(crate) type FormatResult<T> = Result<T, String>;

fn unprintable(value: &Value<'_>) -> String {
    format!("can't print a value of type {}; name one of its fields instead", value.type_name())
}

/// What `{{ pipeline }}` writes for the pipeline's value.
pub(crate) fn print_action(value: &Value<'_>, out: &mut String) -> FormatResult<()> {
    match value {
        Value::Missing | Value::Nil => out.push_str("<no value>"),
        Value::Ptr(p) => match p.elem() {
            Some(v) => return print_action(&v, out),
            None => out.push_str(p.nil_text()),
        },
        other => {
            let mut p = Printer::new(out);
            p.print_arg(other, 'v')?;
        }
    }
    Ok(())
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value<'_>]) -> FormatResult<String> {
    let mut out = String::new();
    let mut p = Printer::new(&mut out);
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(..));
        if i > 0 && !is_string && !prev_string {
            p.out.push(' ');
        }
        p.print_arg(arg, 'v')?;
        prev_string = is_string;
    }
    Ok(out)
}

/// Go's `fmt.Sprintln`: spaces between all operands and a final newline.
pub(crate) fn sprintln(args: &[Value<'_>]) -> FormatResult<String> {
    let mut out = String::new();
    let mut p = Printer::new(&mut out);
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            p.out.push(' ');
        }
        p.print_arg(arg, 'v')?;
    }
    out.push('\n');
    Ok(out)
}

/// The text `html`, `js` and `urlquery` escape: a lone string as is, otherwise the
/// arguments printed as `print` would, with a missing value shown as `<no value>`.
pub(crate) fn escaper_input(args: &[Value<'_>]) -> FormatResult<String> {
    if let [Value::Str(s, t)] = args
        && t.is_plain()
    {
        return Ok(s.to_string());
    }
    let printable: Vec<Value<'_>> = args
        .iter()
        .map(|a| match a {
            Value::Missing | Value::Nil => Value::str("<no value>"),
            Value::Ptr(p) => p.elem().unwrap_or_else(|| a.clone()),
            other => other.clone(),
        })
        .collect();
    sprint(&printable)
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value<'_>]) -> FormatResult<String> {
    let mut out = String::new();
    let mut p = Printer::new(&mut out);
    p.do_printf(format, args)?;
    Ok(out)
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    quote_string(s, false)
}

/// Go's `strconv.Quote`, or `strconv.QuoteToASCII` (for `%+q`) when `ascii` is set.
fn quote_string(s: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`, or `strconv.QuoteRuneToASCII` when `ascii` is set.
fn quote_char(c: char, ascii: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

/// Go's `strconv.CanBackquote`: no backquote, no control character other than tab, no BOM.
fn can_backquote(s: &str) -> bool {
    !s.chars().any(|c| c == '`' || c == '\u{7f}' || c == '\u{feff}' || (c < ' ' && c != '\t'))
}

/// Go's `%#U`: `U+0023 '#'`, used in lexer error messages.
pub(crate) fn quote_rune(c: char) -> String {
    if is_print(c) { format!("U+{:04X} '{c}'", u32::from(c)) } else { format!("U+{:04X}", u32::from(c)) }
}

/// Go's `strconv.IsPrint`, closely enough for quoting.
fn is_print(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace() || ('\u{200b}'..='\u{200f}').contains(&c))
}

fn push_escaped(out: &mut String, c: char, quote: char, ascii: bool) {
    match c {
        c if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        c if is_print(c) && (c.is_ascii() || !ascii) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if u32::from(c) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if u32::from(c) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        }
        c => {
            let _ = write!(out, "\\U{:08x}", u32::from(c));
        }
    }
}

/// The flags, width and precision of one verb.
#[derive(Clone, Copy, Default)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    sharp_v: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

struct Printer<'o> {
    out: &'o mut String,
    flags: Flags,
}

/// Width and precision beyond this are rejected, as Go does.
const MAX_NUM: usize = 1_000_000;

fn parse_num(s: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if n > MAX_NUM {
            return (None, s.len());
        }
        n = n * 10 + usize::from(s[i] - b'0');
        i += 1;
    }
    ((i > start).then_some(n), i)
}

impl<'o> Printer<'o> {
    fn new(out: &'o mut String) -> Self {
        Printer { out, flags: Flags::default() }
    }

    // Padding.

    fn padding(&mut self, n: usize) {
        let c = if self.flags.zero { '0' } else { ' ' };
        self.out.extend(std::iter::repeat_n(c, n));
    }

    /// Writes `s` padded to the width, on the left or (with `-`) on the right.
    fn pad(&mut self, s: &str) {
        let Some(width) = self.flags.width else {
            self.out.push_str(s);
            return;
        };
        let n = width.saturating_sub(s.chars().count());
        if self.flags.minus {
            self.out.push_str(s);
            let zero = std::mem::replace(&mut self.flags.zero, false);
            self.padding(n);
            self.flags.zero = zero;
        } else {
            self.padding(n);
            self.out.push_str(s);
        }
    }

    /// The sign printed before a number: `-` when negative, else what the `+` and space flags ask.
    fn sign(&self, negative: bool) -> &'static str {
        if negative {
            "-"
        } else if self.flags.plus {
            "+"
        } else if self.flags.space {
            " "
        } else {
            ""
        }
    }

    fn pad_no_zero(&mut self, s: &str) {
        let zero = std::mem::replace(&mut self.flags.zero, false);
        self.pad(s);
        self.flags.zero = zero;
    }

    // Arguments.

    fn print_arg(&mut self, arg: &Value<'_>, verb: char) -> FormatResult<()> {
        match verb {
            'T' => {
                let name = arg.type_name();
                self.pad(&name);
                return Ok(());
            }
            'p' => {
                self.bad_verb(arg, verb)?;
                return Ok(());
            }
            _ => {}
        }
        match arg {
            Value::Missing | Value::Nil => {
                if verb == 'v' {
                    self.pad("<nil>");
                } else {
                    self.bad_verb(arg, verb)?;
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(arg, verb)?,
            },
            Value::Int(i, t) => {
                let unsigned = *t == super::value::IntType::Uint8;
                self.fmt_integer(*i, unsigned, verb, arg)?;
            }
            Value::Float(f) => self.fmt_float(*f, verb, arg)?,
            Value::Str(s, _) => self.fmt_string(s, verb, arg)?,
            Value::Time(t) => {
                let text = super::time::go_string(*t);
                self.fmt_stringer(&text, verb, arg)?;
            }
            Value::Ptr(p) => self.fmt_pointer(*p, verb, arg)?,
            Value::Map(m) => {
                if self.flags.sharp_v {
                    self.out.push_str("map[string]string{");
                } else {
                    self.out.push_str("map[");
                }
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(if self.flags.sharp_v { ", " } else { " " });
                    }
                    self.print_arg(&Value::str(k), verb)?;
                    self.out.push(':');
                    self.print_arg(&Value::str(v), verb)?;
                }
                self.out.push(if self.flags.sharp_v { '}' } else { ']' });
            }
            Value::Slice(s) => {
                if self.flags.sharp_v {
                    let _ = write!(self.out, "{}{{", s.type_name());
                } else {
                    self.out.push('[');
                }
                for i in 0..s.len() {
                    if i > 0 {
                        self.out.push_str(if self.flags.sharp_v { ", " } else { " " });
                    }
                    self.print_arg(&s.get(i), verb)?;
                }
                self.out.push(if self.flags.sharp_v { '}' } else { ']' });
            }
            Value::Struct(_) => return Err(unprintable(arg)),
        }
        Ok(())
    }

    /// Go's `%!verb(type=value)` for a verb that does not suit the argument.
    fn bad_verb(&mut self, arg: &Value<'_>, verb: char) -> FormatResult<()> {
        let _ = write!(self.out, "%!{verb}(");
        match arg {
            Value::Missing | Value::Nil => self.out.push_str("<nil>"),
            other => {
                let _ = write!(self.out, "{}=", other.type_name());
                let flags = self.flags;
                self.flags.sharp_v = false;
                self.print_arg(other, 'v')?;
                self.flags = flags;
            }
        }
        self.out.push(')');
        Ok(())
    }

    /// Values with a `String` method: the string for `%v %s %x %X %q`.
    fn fmt_stringer(&mut self, text: &str, verb: char, arg: &Value<'_>) -> FormatResult<()> {
        match verb {
            'v' | 's' | 'x' | 'X' | 'q' => {
                let sharp_v = std::mem::replace(&mut self.flags.sharp_v, false);
                self.fmt_string(text, verb, arg)?;
                self.flags.sharp_v = sharp_v;
                Ok(())
            }
            _ => self.bad_verb(arg, verb),
        }
    }

    fn fmt_pointer(&mut self, p: Pointer<'_>, verb: char, arg: &Value<'_>) -> FormatResult<()> {
        match p.elem() {
            Some(Value::Struct(_)) => Err(unprintable(arg)),
            Some(elem) => self.print_arg(&elem, verb),
            // Go: the Kubernetes structs' String methods print "nil" for a nil receiver; a nil
            // *metav1.Time's String panics, which fmt prints as a bare "<nil>"; other verbs print
            // the pointer itself, as an integer (0) or "<nil>" for %v.
            None => match (p, verb) {
                (Pointer::Struct(..), 'v' | 's' | 'x' | 'X' | 'q') => self.fmt_stringer("nil", verb, arg),
                (Pointer::Time(_), 'v' | 's' | 'x' | 'X' | 'q') => {
                    self.out.push_str("<nil>");
                    Ok(())
                }
                (_, 'v') => {
                    self.pad("<nil>");
                    Ok(())
                }
                (_, 'b' | 'o' | 'd' | 'x' | 'X') => self.fmt_integer(0, true, verb, arg),
                _ => self.bad_verb(arg, verb),
            },
        }
    }

    fn fmt_string(&mut self, s: &str, verb: char, arg: &Value<'_>) -> FormatResult<()> {
        match verb {
            'v' if self.flags.sharp_v => self.pad(&quote(s)),
            'v' | 's' => {
                let truncated: String;
                let s = match self.flags.precision {
                    Some(p) => {
                        truncated = s.chars().take(p).collect();
                        truncated.as_str()
                    }
                    None => s,
                };
                self.pad(s);
            }
            'q' => {
                let s: String = match self.flags.precision {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.to_string(),
                };
                let quoted = if self.flags.sharp && can_backquote(&s) {
                    format!("`{s}`")
                } else {
                    quote_string(&s, self.flags.plus)
                };
                self.pad(&quoted);
            }
            'x' | 'X' => self.fmt_hex_bytes(s.as_bytes(), verb == 'X'),
            _ => self.bad_verb(arg, verb)?,
        }
        Ok(())
    }

    fn fmt_hex_bytes(&mut self, bytes: &[u8], upper: bool) {
        let bytes = match self.flags.precision {
            Some(p) if p < bytes.len() => &bytes[..p],
            _ => bytes,
        };
        let digits: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
        let prefix = if upper { "0X" } else { "0x" };
        let mut s = String::with_capacity(bytes.len() * 3);
        for (i, b) in bytes.iter().enumerate() {
            if self.flags.space && i > 0 {
                s.push(' ');
            }
            if self.flags.sharp && (self.flags.space || i == 0) {
                s.push_str(prefix);
            }
            s.push(char::from(digits[usize::from(b >> 4)]));
            s.push(char::from(digits[usize::from(b & 0xf)]));
        }
        self.pad(&s);
    }

    fn fmt_integer(&mut self, i: i64, unsigned: bool, verb: char, arg: &Value<'_>) -> FormatResult<()> {
        let (base, upper) = match verb {
            'v' | 'd' => (10, false),
            'b' => (2, false),
            'o' | 'O' => (8, false),
            'x' => (16, false),
            'X' => (16, true),
            'c' => {
                let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{fffd}');
                self.pad(&c.to_string());
                return Ok(());
            }
            'q' => {
                let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{fffd}');
                self.pad(&quote_char(c, self.flags.plus));
                return Ok(());
            }
            'U' => {
                let mut s = format!("U+{:04X}", i);
                if let Some(p) = self.flags.precision
                    && p > 4
                {
                    s = format!("U+{:0p$X}", i, p = p);
                }
                if self.flags.sharp
                    && let Some(c) = u32::try_from(i).ok().and_then(char::from_u32)
                    && is_print(c)
                {
                    let _ = write!(s, " '{c}'");
                }
                self.pad_no_zero(&s);
                return Ok(());
            }
            _ => return self.bad_verb(arg, verb),
        };
        let negative = !unsigned && i < 0;
        let magnitude = i.unsigned_abs();
        let mut digits = match (base, upper) {
            (2, _) => format!("{magnitude:b}"),
            (8, _) => format!("{magnitude:o}"),
            (16, false) => format!("{magnitude:x}"),
            (16, true) => format!("{magnitude:X}"),
            _ => magnitude.to_string(),
        };
        let mut precision = self.flags.precision;
        if precision == Some(0) && magnitude == 0 {
            let width = self.flags.width.unwrap_or(0);
            let zero = std::mem::replace(&mut self.flags.zero, false);
            self.padding(width);
            self.flags.zero = zero;
            return Ok(());
        }
        if precision.is_none()
            && self.flags.zero
            && !self.flags.minus
            && let Some(w) = self.flags.width
        {
            let sign = negative || self.flags.plus || self.flags.space;
            precision = Some(w.saturating_sub(usize::from(sign)));
        }
        if let Some(p) = precision
            && digits.len() < p
        {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        }
        let mut s = String::new();
        if negative {
            s.push('-');
        } else if self.flags.plus {
            s.push('+');
        } else if self.flags.space {
            s.push(' ');
        }
        if self.flags.sharp {
            match base {
                2 => s.push_str("0b"),
                8 if !digits.starts_with('0') => s.push('0'),
                16 => s.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            s.push_str("0o");
        }
        s.push_str(&digits);
        self.pad_no_zero(&s);
        Ok(())
    }

    fn fmt_float(&mut self, f: f64, verb: char, arg: &Value<'_>) -> FormatResult<()> {
        let body = match verb {
            'v' => format_g(f, self.flags.precision, false),
            'g' | 'G' => format_g(f, self.flags.precision, verb == 'G'),
            'e' | 'E' => format_e(f, self.flags.precision.unwrap_or(6), verb == 'E'),
            'f' | 'F' => format!("{:.*}", self.flags.precision.unwrap_or(6), f.abs()),
            'x' | 'X' => format_hex_float(f, self.flags.precision, verb == 'X'),
            'b' => format_binary_float(f),
            _ => return self.bad_verb(arg, verb),
        };
        let mut body = body.trim_start_matches('-').to_string();
        if self.flags.sharp && verb != 'b' && f.is_finite() {
            let digits = match verb {
                'v' | 'g' | 'G' | 'x' => self.flags.precision.map_or(6, |p| p as i64),
                _ => 0,
            };
            body = keep_decimal_point(&body, digits, matches!(verb, 'x' | 'X'));
        }
        if f.is_nan() || f.is_infinite() {
            // NaN carries no sign of its own; an infinity keeps its minus.
            let sign = self.sign(!f.is_nan() && f < 0.0);
            let text = if f.is_nan() { "NaN" } else { "Inf" };
            self.pad_no_zero(&format!("{sign}{text}"));
            return Ok(());
        }
        let sign = self.sign(f.is_sign_negative());
        let len = sign.len() + body.chars().count();
        if self.flags.zero
            && !self.flags.minus
            && let Some(w) = self.flags.width
            && w > len
        {
            self.out.push_str(sign);
            self.out.extend(std::iter::repeat_n('0', w - len));
            self.out.push_str(&body);
            return Ok(());
        }
        self.pad(&format!("{sign}{body}"));
        Ok(())
    }

    // Sprintf.

    fn do_printf(&mut self, format: &str, args: &[Value<'_>]) -> FormatResult<()> {
        let bytes = format.as_bytes();
        let end = bytes.len();
        let mut arg_num = 0usize;
        let mut reordered = false;
        let mut i = 0;
        while i < end {
            let mut good_arg_num = true;
            let last = i;
            while i < end && bytes[i] != b'%' {
                i += 1;
            }
            self.out.push_str(&format[last..i]);
            if i >= end {
                break;
            }
            i += 1;
            self.flags = Flags::default();
            while i < end {
                match bytes[i] {
                    b'#' => self.flags.sharp = true,
                    b'0' => self.flags.zero = !self.flags.minus,
                    b'+' => self.flags.plus = true,
                    b'-' => {
                        self.flags.minus = true;
                        self.flags.zero = false;
                    }
                    b' ' => self.flags.space = true,
                    _ => break,
                }
                i += 1;
            }
            let mut after_index;
            (arg_num, i, after_index) = arg_number(arg_num, bytes, i, args.len(), &mut reordered, &mut good_arg_num);
            if i < end && bytes[i] == b'*' {
                i += 1;
                let (n, ok, next) = int_from_arg(args, arg_num);
                arg_num = next;
                if ok {
                    if n < 0 {
                        self.flags.minus = true;
                        self.flags.zero = false;
                    }
                    self.flags.width = Some(n.unsigned_abs() as usize);
                } else {
                    self.out.push_str("%!(BADWIDTH)");
                }
                after_index = false;
            } else {
                let (w, next) = parse_num(bytes, i);
                i = next;
                self.flags.width = w;
                if after_index && w.is_some() {
                    good_arg_num = false;
                }
            }
            if i + 1 < end && bytes[i] == b'.' {
                i += 1;
                if after_index {
                    good_arg_num = false;
                }
                (arg_num, i, after_index) =
                    arg_number(arg_num, bytes, i, args.len(), &mut reordered, &mut good_arg_num);
                if i < end && bytes[i] == b'*' {
                    i += 1;
                    let (n, ok, next) = int_from_arg(args, arg_num);
                    arg_num = next;
                    if ok && n >= 0 {
                        self.flags.precision = Some(n as usize);
                    } else {
                        self.flags.precision = None;
                        if !ok {
                            self.out.push_str("%!(BADPREC)");
                        }
                    }
                    after_index = false;
                } else {
                    let (p, next) = parse_num(bytes, i);
                    i = next;
                    self.flags.precision = Some(p.unwrap_or(0));
                }
            }
            if !after_index {
                (arg_num, i, _) = arg_number(arg_num, bytes, i, args.len(), &mut reordered, &mut good_arg_num);
            }
            if i >= end {
                self.out.push_str("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('%');
            i += verb.len_utf8();
            match verb {
                '%' => self.out.push('%'),
                _ if !good_arg_num => {
                    let _ = write!(self.out, "%!{verb}(BADINDEX)");
                }
                _ if arg_num >= args.len() => {
                    let _ = write!(self.out, "%!{verb}(MISSING)");
                }
                _ => {
                    if verb == 'v' {
                        self.flags.sharp_v = std::mem::take(&mut self.flags.sharp);
                        self.flags.plus = false;
                    }
                    self.print_arg(&args[arg_num], verb)?;
                    arg_num += 1;
                }
            }
        }
        if !reordered && arg_num < args.len() {
            self.flags = Flags::default();
            self.out.push_str("%!(EXTRA ");
            for (i, arg) in args[arg_num..].iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                match arg {
                    Value::Missing | Value::Nil => self.out.push_str("<nil>"),
                    other => {
                        let _ = write!(self.out, "{}=", other.type_name());
                        self.print_arg(other, 'v')?;
                    }
                }
            }
            self.out.push(')');
        }
        Ok(())
    }
}

/// Reads an explicit argument index `[n]` at `i`, as Go's `argNumber` does.
fn arg_number(
    arg_num: usize,
    bytes: &[u8],
    i: usize,
    num_args: usize,
    reordered: &mut bool,
    good_arg_num: &mut bool,
) -> (usize, usize, bool) {
    if i >= bytes.len() || bytes[i] != b'[' {
        return (arg_num, i, false);
    }
    *reordered = true;
    let rest = &bytes[i..];
    let (index, width, ok) = parse_arg_number(rest);
    if ok && index < num_args {
        return (index, i + width, true);
    }
    *good_arg_num = false;
    (arg_num, i + width, ok)
}

fn parse_arg_number(s: &[u8]) -> (usize, usize, bool) {
    if s.len() < 3 {
        return (0, 1, false);
    }
    for close in 1..s.len() {
        if s[close] == b']' {
            let (n, next) = parse_num(s, 1);
            return match n {
                Some(n) if next == close && n >= 1 => (n - 1, close + 1, true),
                _ => (0, close + 1, false),
            };
        }
    }
    (0, 1, false)
}

/// An integer argument for `*` width or precision.
fn int_from_arg(args: &[Value<'_>], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(Value::Int(n, _)) if n.unsigned_abs() <= MAX_NUM as u64 => (*n, true, arg_num + 1),
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}
