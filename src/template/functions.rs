//! The built-in functions of Go's text/template. spire-controller-manager registers no
//! others, so these are the only functions a template may call; any other name is a parse
//! error.
//!
//! `and` and `or` are evaluated lazily by the executor; everything else receives its
//! evaluated arguments here. Errors are plain messages; the executor reports them as
//! "error calling NAME: message", as Go does.

use std::cmp::Ordering;

use super::format;
use super::value::{IntType, Pointer, Text, Value};

/// How a parameter receives its argument, mirroring the Go parameter types of the
/// built-ins: `reflect.Value` keeps a missing value as is, `any` turns it into nil, and
/// `string` requires a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    Value,
    Any,
    Str,
}

/// A built-in's parameters: fixed ones, then optionally any number of a variadic one.
pub(crate) struct Signature {
    pub(crate) fixed: &'static [Param],
    pub(crate) variadic: Option<Param>,
}

impl Signature {
    /// The parameter at argument position `i`.
    pub(crate) fn param(&self, i: usize) -> Param {
        self.fixed.get(i).copied().or(self.variadic).unwrap_or(Param::Value)
    }
}

const NAMES: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq",
    "ge", "gt", "le", "lt", "ne",
];

/// Whether `name` is a built-in function.
pub(crate) fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The signature of a built-in, which must exist.
pub(crate) fn signature(name: &str) -> Signature {
    use Param::{Any, Str, Value as V};
    let (fixed, variadic): (&'static [Param], Option<Param>) = match name {
        "and" | "or" | "call" | "index" | "slice" | "eq" => (&[V], Some(V)),
        "html" | "js" | "urlquery" | "print" | "println" => (&[], Some(Any)),
        "printf" => (&[Str], Some(Any)),
        "len" | "not" => (&[V], None),
        _ => (&[V, V], None),
    };
    Signature { fixed, variadic }
}

type FuncResult<'a> = Result<Value<'a>, String>;

/// What `call` fails with: template data holds no functions. `callee` names the first
/// argument as Go does: its expression, or the text of a piped-in string.
pub(crate) fn call_error(callee: &str, function: &Value<'_>) -> String {
    match function {
        Value::Missing | Value::Nil => "call of nil".to_string(),
        other => format!("non-function {callee} of type {}", other.type_name()),
    }
}

/// Calls a built-in other than `and` and `or` with evaluated arguments.
pub(crate) fn call<'a>(name: &str, args: Vec<Value<'a>>) -> FuncResult<'a> {
    match name {
        "call" => Err(call_error("", &args[0])),
        "html" => Ok(Value::string(html_escape(&format::escaper_input(&args)?))),
        "js" => Ok(Value::string(js_escape(&format::escaper_input(&args)?))),
        "urlquery" => Ok(Value::string(query_escape(&format::escaper_input(&args)?))),
        "print" => Ok(Value::string(format::sprint(&args)?)),
        "println" => Ok(Value::string(format::sprintln(&args)?)),
        "printf" => {
            let Value::Str(f, _) = &args[0] else {
                return Err("format is not a string".into());
            };
            Ok(Value::string(format::sprintf(f, &args[1..])?))
        }
        "index" => index(&args[0], &args[1..]),
        "slice" => slice(&args[0], &args[1..]),
        "len" => length(&args[0]),
        "not" => Ok(Value::Bool(!args[0].is_true())),
        "eq" => eq(&args[0], &args[1..]).map(Value::Bool),
        "ne" => eq(&args[0], &args[1..]).map(|b| Value::Bool(!b)),
        "lt" => lt(&args[0], &args[1]).map(Value::Bool),
        "le" => le(&args[0], &args[1]).map(Value::Bool),
        "gt" => le(&args[0], &args[1]).map(|b| Value::Bool(!b)),
        "ge" => lt(&args[0], &args[1]).map(|b| Value::Bool(!b)),
        other => Err(format!("{other} is not a function")),
    }
}

/// An integer index argument, checked against `len` as Go's `indexArg` does.
fn index_arg(index: &Value<'_>, len: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i, _) => *i,
        Value::Missing | Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!("cannot index slice/array with type {}", other.type_name()));
        }
    };
    match usize::try_from(x) {
        Ok(i) if i <= len => Ok(i),
        _ => Err(format!("index out of range: {x}")),
    }
}

fn index<'a>(item: &Value<'a>, indexes: &[Value<'a>]) -> FuncResult<'a> {
    if matches!(item, Value::Missing | Value::Nil) {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for i in indexes {
        let (current, is_nil) = item.indirect();
        if is_nil {
            return Err("index of nil pointer".into());
        }
        item = match current {
            Value::Slice(s) => {
                let x = index_arg(i, s.len())?;
                if x == s.len() {
                    // Go's indexArg lets len itself through; reflect then panics.
                    return Err("reflect: slice index out of range".into());
                }
                s.get(x)
            }
            Value::Str(s, _) => {
                let x = index_arg(i, s.len())?;
                if x == s.len() {
                    return Err("reflect: string index out of range".into());
                }
                Value::Int(i64::from(s.as_bytes()[x]), IntType::Uint8)
            }
            Value::Map(m) => {
                let key = match i {
                    Value::Str(k, t) if t.is_plain() => k,
                    Value::Missing | Value::Nil => {
                        return Err("value is nil; should be of type string".into());
                    }
                    other => {
                        return Err(format!("value has type {}; should be string", other.type_name()));
                    }
                };
                Value::str(m.get(&**key).map_or("", String::as_str))
            }
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice<'a>(item: &Value<'a>, indexes: &[Value<'a>]) -> FuncResult<'a> {
    if matches!(item, Value::Missing | Value::Nil) {
        return Err("slice of untyped nil".into());
    }
    let (item, is_nil) = item.indirect();
    if is_nil {
        return Err("slice of nil pointer".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match &item {
        Value::Str(s, _) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Slice(s) => s.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (n, i) in indexes.iter().enumerate() {
        idx[n] = index_arg(i, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::Str(s, t) => match s.get(idx[0]..idx[1]) {
            Some(sub) => Value::Str(Text::from(sub.to_string()), t),
            None => return Err("slice of string splits a UTF-8 character".into()),
        },
        Value::Slice(s) => Value::Slice(s.sub(idx[0], idx[1])),
        _ => unreachable!("checked above"),
    })
}

fn length<'a>(item: &Value<'a>) -> FuncResult<'a> {
    let (item, is_nil) = item.indirect();
    if is_nil {
        return Err("len of nil pointer".into());
    }
    let n = match item {
        Value::Str(s, _) => s.len(),
        Value::Map(m) => m.len(),
        Value::Slice(s) => s.len(),
        // Go asks the invalid reflect.Value for its type, which panics.
        Value::Missing | Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::int(n as i64))
}

/// The comparison classes of Go's `eq` and `lt`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: &Value<'_>) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_, IntType::Uint8) => Kind::Uint,
        Value::Int(..) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(..) => Kind::String,
        _ => Kind::Invalid,
    }
}

fn int_of(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i, _) => *i,
        _ => 0,
    }
}

fn incompatible(a: &Value<'_>, b: &Value<'_>) -> String {
    format!("incompatible types for comparison: {} and {}", a.type_name(), b.type_name())
}

fn is_valid(v: &Value<'_>) -> bool {
    !matches!(v, Value::Missing | Value::Nil)
}

fn eq(a: &Value<'_>, others: &[Value<'_>]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int | Kind::Uint, Kind::Int | Kind::Uint) => int_of(a) == int_of(b),
                _ if is_valid(a) && is_valid(b) => return Err(incompatible(a, b)),
                _ => false,
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x, _), Value::Int(y, _)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x, _), Value::Str(y, _)) => **x == **y,
                _ => eq_other(a, b)?,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `eq` for values that are not basic: missing values, pointers, times and the types Go
/// cannot compare.
fn eq_other(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let brief = |v: &Value<'_>| super::value::Brief(v).to_string();
    match (a, b) {
        (x, y) if !is_valid(x) || !is_valid(y) => Ok(!is_valid(x) && !is_valid(y)),
        (Value::Ptr(x), Value::Ptr(y)) => Ok(match (x.elem(), y.elem()) {
            (None, None) => true,
            (Some(_), None) | (None, Some(_)) => false,
            (Some(_), Some(_)) => match (x, y) {
                (Pointer::Struct(_, Some(p)), Pointer::Struct(_, Some(q))) => std::ptr::eq(p.address(), q.address()),
                _ => false,
            },
        }),
        (Value::Time(x), Value::Time(y)) => Ok(super::time::go_string(*x) == super::time::go_string(*y)),
        (Value::Map(_), Value::Map(_)) | (Value::Slice(_), Value::Slice(_)) | (Value::Struct(_), Value::Struct(_)) => {
            Err(match format::sprint(std::slice::from_ref(b)) {
                Ok(text) => format!("non-comparable type {text}: {}", b.type_name()),
                Err(_) => format!("non-comparable type {}", b.type_name()),
            })
        }
        _ => Err(format!("non-comparable types {}: {}, {}: {}", brief(a), a.type_name(), b.type_name(), brief(b))),
    }
}

fn lt(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    const BAD_TYPE: &str = "invalid type for comparison";
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(BAD_TYPE.into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int | Kind::Uint, Kind::Int | Kind::Uint) => Ok(int_of(a) < int_of(b)),
            _ => Err(incompatible(a, b)),
        };
    }
    let ordering = match (a, b) {
        (Value::Int(x, _), Value::Int(y, _)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Str(x, _), Value::Str(y, _)) => x.as_bytes().cmp(y.as_bytes()),
        _ => return Err(BAD_TYPE.into()),
    };
    Ok(ordering == Ordering::Less)
}

fn le(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c if c.is_ascii() || !(c.is_control() || c.is_whitespace()) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", u32::from(c))),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
