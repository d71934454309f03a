//! The values a template sees while it renders.
//!
//! Go's text/template works on arbitrary Go values through reflection. Templates in
//! spire-steward only ever see one fixed data shape (see [`super::data`]), so the value
//! model is a closed enum that keeps the Go *type* of each value alongside it. The type is
//! what makes the rendering behave like Go: a struct rejects unknown fields, a map answers
//! `<no value>` for a missing key, a nil pointer fails when a field is read through it, and
//! error messages name types the way Go prints them (`*v1.PodSpec`, `types.UID`, ...).
//!
//! Values borrow from the Kubernetes objects they were built from, so building and reading
//! them never copies pod or node data.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::data::{Struct, StructType};

/// A value during rendering, tagged with the Go type it stands for.
#[derive(Clone, Debug)]
pub(crate) enum Value<'a> {
    /// Go's invalid `reflect.Value`: what a missing map key yields. Prints `<no value>`.
    Missing,
    /// The untyped nil of an empty interface, e.g. a missing map key passed to `print`.
    Nil,
    Bool(bool),
    Int(i64, IntType),
    Float(f64),
    Str(Text<'a>, StrType),
    /// A `map[string]string`; a nil map is the empty map, which behaves the same in Go.
    Map(&'a BTreeMap<String, String>),
    Slice(Slice<'a>),
    /// A struct value, e.g. an element of `.PodSpec.Containers`.
    Struct(Struct<'a>),
    /// A pointer, possibly nil.
    Ptr(Pointer<'a>),
    /// A `metav1.Time`; `None` is Go's zero time.
    Time(Option<&'a Time>),
}

/// The Go integer types that occur in template data and expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntType {
    /// `int`: number literals, `len`, range indexes.
    Int,
    Int32,
    Int64,
    /// `uint8`: a byte taken out of a string with `index`.
    Uint8,
}

impl IntType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            IntType::Int => "int",
            IntType::Int32 => "int32",
            IntType::Int64 => "int64",
            IntType::Uint8 => "uint8",
        }
    }
}

/// The Go name of a string type: `string` or a named string type such as `types.UID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StrType(pub(crate) &'static str);

impl StrType {
    pub(crate) const STRING: StrType = StrType("string");
    pub(crate) const UID: StrType = StrType("types.UID");

    pub(crate) fn is_plain(self) -> bool {
        self == StrType::STRING
    }
}

/// String contents: borrowed from the data, or produced while rendering.
#[derive(Clone, Debug)]
pub(crate) enum Text<'a> {
    Borrowed(&'a str),
    Shared(Rc<str>),
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text::Shared(Rc::from(s))
    }
}

/// A slice value. Nil slices are empty slices; Go treats them alike in templates.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slice<'a> {
    Strings(&'a [String]),
    Containers(&'a [crate::pod_view::ContainerView]),
    OwnerReferences(&'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]),
}

impl<'a> Slice<'a> {
    pub(crate) fn len(self) -> usize {
        match self {
            Slice::Strings(s) => s.len(),
            Slice::Containers(s) => s.len(),
            Slice::OwnerReferences(s) => s.len(),
        }
    }

    /// The element at `i`, which must be in range.
    pub(crate) fn get(self, i: usize) -> Value<'a> {
        match self {
            Slice::Strings(s) => Value::Str(Text::Borrowed(&s[i]), StrType::STRING),
            Slice::Containers(s) => Value::Struct(Struct::Container(&s[i])),
            Slice::OwnerReferences(s) => Value::Struct(Struct::OwnerReference(&s[i])),
        }
    }

    /// The sub-slice `[from, to)`; both bounds must be in range.
    pub(crate) fn sub(self, from: usize, to: usize) -> Slice<'a> {
        match self {
            Slice::Strings(s) => Slice::Strings(&s[from..to]),
            Slice::Containers(s) => Slice::Containers(&s[from..to]),
            Slice::OwnerReferences(s) => Slice::OwnerReferences(&s[from..to]),
        }
    }

    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Slice::Strings(_) => "[]string",
            Slice::Containers(_) => "[]v1.Container",
            Slice::OwnerReferences(_) => "[]v1.OwnerReference",
        }
    }
}

/// A pointer and the type it points to, so that a nil pointer still knows its type.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pointer<'a> {
    Struct(StructType, Option<Struct<'a>>),
    Int(IntType, Option<i64>),
    Bool(Option<bool>),
    Str(StrType, Option<&'a str>),
    Time(Option<&'a Time>),
}

impl<'a> Pointer<'a> {
    pub(crate) fn is_nil(self) -> bool {
        match self {
            Pointer::Struct(_, p) => p.is_none(),
            Pointer::Int(_, p) => p.is_none(),
            Pointer::Bool(p) => p.is_none(),
            Pointer::Str(_, p) => p.is_none(),
            Pointer::Time(p) => p.is_none(),
        }
    }

    /// The value pointed to, or `None` for a nil pointer.
    pub(crate) fn elem(self) -> Option<Value<'a>> {
        match self {
            Pointer::Struct(_, p) => p.map(Value::Struct),
            Pointer::Int(t, p) => p.map(|i| Value::Int(i, t)),
            Pointer::Bool(p) => p.map(Value::Bool),
            Pointer::Str(t, p) => p.map(|s| Value::Str(Text::Borrowed(s), t)),
            Pointer::Time(p) => p.map(|t| Value::Time(Some(t))),
        }
    }

    /// The Go name of the pointed-to type, without the `*`.
    pub(crate) fn elem_type_name(self) -> &'static str {
        match self {
            Pointer::Struct(t, _) => t.name(),
            Pointer::Int(t, _) => t.name(),
            Pointer::Bool(_) => "bool",
            Pointer::Str(t, _) => t.0,
            Pointer::Time(_) => "v1.Time",
        }
    }

    /// How Go prints a nil pointer of this type: Kubernetes API structs print `nil` through
    /// their generated `String` method; every other pointer prints `<nil>`.
    pub(crate) fn nil_text(self) -> &'static str {
        match self {
            Pointer::Struct(..) => "nil",
            _ => "<nil>",
        }
    }
}

impl<'a> Value<'a> {
    pub(crate) fn str(s: &'a str) -> Self {
        Value::Str(Text::Borrowed(s), StrType::STRING)
    }

    pub(crate) fn string(s: String) -> Self {
        Value::Str(Text::from(s), StrType::STRING)
    }

    pub(crate) fn int(i: i64) -> Self {
        Value::Int(i, IntType::Int)
    }

    /// The Go type name, as Go's `%T` and error messages print it.
    pub(crate) fn type_name(&self) -> Cow<'static, str> {
        match self {
            Value::Missing => Cow::Borrowed("<invalid reflect.Value>"),
            Value::Nil => Cow::Borrowed("<nil>"),
            Value::Bool(_) => Cow::Borrowed("bool"),
            Value::Int(_, t) => Cow::Borrowed(t.name()),
            Value::Float(_) => Cow::Borrowed("float64"),
            Value::Str(_, t) => Cow::Borrowed(t.0),
            Value::Map(_) => Cow::Borrowed("map[string]string"),
            Value::Slice(s) => Cow::Borrowed(s.type_name()),
            Value::Struct(s) => Cow::Borrowed(s.struct_type().name()),
            Value::Ptr(p) => Cow::Owned(format!("*{}", p.elem_type_name())),
            Value::Time(_) => Cow::Borrowed("v1.Time"),
        }
    }

    /// Go's notion of truth used by `if`, `with`, `and`, `or` and `not`.
    pub(crate) fn is_true(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i, _) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s, _) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Slice(s) => s.len() > 0,
            Value::Struct(_) | Value::Time(_) => true,
            Value::Ptr(p) => !p.is_nil(),
        }
    }

    /// Follows pointers, as Go's `indirect` does: the pointed-to value, or the nil pointer
    /// itself when the chain ends in nil.
    pub(crate) fn indirect(&self) -> (Value<'a>, bool) {
        match self {
            Value::Ptr(p) => match p.elem() {
                Some(v) => (v, false),
                None => (self.clone(), true),
            },
            other => (other.clone(), false),
        }
    }
}

/// Renders a value the way Go's error messages do with `%v`, for use in messages only.
pub(crate) struct Brief<'v, 'a>(pub(crate) &'v Value<'a>);

impl fmt::Display for Brief<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match super::format::sprint(std::slice::from_ref(self.0)) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "value of type {}", self.0.type_name()),
        }
    }
}
