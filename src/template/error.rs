//! Template errors, worded so that a user reading a status condition can fix the template.

use std::fmt;

/// Where in the template text an execution error happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Byte offset of the failing expression within its line, from 0, as Go counts it.
    pub column: usize,
    /// The failing expression, e.g. `.PodSpec.SecurityContext.RunAsUser`.
    pub context: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} at <{}>", self.line, self.column, self.context)
    }
}

/// Why a template could not be parsed or rendered.
///
/// The variants keep the distinction Go's text/template makes: a [`Parse`] error means the
/// template text itself is wrong and no data can render it; the others happen while
/// rendering one set of data and may not happen for other data.
///
/// [`Parse`]: TemplateError::Parse
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The text is not a valid template: bad syntax, an unknown function, an undefined
    /// variable.
    #[error("template: parse error at line {line}: {message}")]
    Parse {
        /// Line number, from 1.
        line: usize,
        /// What is wrong, in Go's words.
        message: String,
    },

    /// A field was read through a nil pointer, e.g. `.PodSpec.SecurityContext.RunAsUser`
    /// on a pod without a security context, or `.PodMeta` in a parent ID template.
    #[error("template: {location}: nil pointer evaluating {type_name}.{field}")]
    NilPointer {
        /// Where it happened.
        location: Location,
        /// The Go type of the nil pointer, e.g. `*v1.PodSecurityContext`.
        type_name: String,
        /// The field that was read through it.
        field: String,
    },

    /// A built-in function (`index`, `len`, `eq`, ...) rejected its arguments.
    #[error("template: {location}: error calling {function}: {message}")]
    Function {
        /// Where it happened.
        location: Location,
        /// The function's name.
        function: String,
        /// What it rejected.
        message: String,
    },

    /// Any other rendering failure: an unknown field, a wrong argument count or type, a
    /// value that cannot be printed.
    #[error("template: {location}: {message}")]
    Execution {
        /// Where it happened.
        location: Location,
        /// What went wrong.
        message: String,
    },
}

impl TemplateError {
    /// True when the template text is invalid, as opposed to failing for some data.
    pub fn is_parse(&self) -> bool {
        matches!(self, TemplateError::Parse { .. })
    }
}
