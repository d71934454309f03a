//! What a rendering came to, on either side, in one comparable form.

use std::fmt;

use serde::Deserialize;
use spire_steward::template::TemplateError;

/// One result line of the Go program.
#[derive(Deserialize)]
pub struct GoResult {
    pub name: String,
    output: Option<String>,
    error: Option<GoError>,
}

#[derive(Deserialize)]
struct GoError {
    class: String,
    message: String,
    line: usize,
    column: i64,
    context: String,
    detail: String,
}

/// Go's two kinds of template error: `Parse` rejects the text, `Execute` fails for the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Parse,
    Exec,
}

/// A failed rendering, split the way Go words it.
pub struct Failure {
    pub class: Class,
    /// 1-based line; 0 when the message has none.
    pub line: usize,
    /// Byte offset of the failing expression (execution errors only).
    pub column: Option<usize>,
    /// The failing expression (execution errors only).
    pub context: String,
    /// The message without Go's `template: name:line:col: executing ... at <...>:` prefix.
    pub detail: String,
    /// The whole message as the side printed it.
    pub message: String,
}

impl Failure {
    /// Same wording and same position.
    pub fn same_message(&self, other: &Failure) -> bool {
        self.detail == other.detail
            && self.line == other.line
            && self.column == other.column
            && self.context == other.context
    }
}

pub enum Outcome {
    Text(String),
    Error(Failure),
}

impl GoResult {
    pub fn into_outcome(self) -> Outcome {
        match (self.output, self.error) {
            (Some(text), None) => Outcome::Text(text),
            (None, Some(e)) => Outcome::Error(Failure {
                class: match e.class.as_str() {
                    "parse" => Class::Parse,
                    "exec" => Class::Exec,
                    other => panic!("unknown error class {other:?} from template-parity"),
                },
                line: e.line,
                column: usize::try_from(e.column).ok(),
                context: e.context,
                detail: e.detail,
                message: e.message,
            }),
            _ => panic!("template-parity result {:?} has neither or both of output and error", self.name),
        }
    }
}

impl Outcome {
    pub fn from_rust(result: Result<String, TemplateError>) -> Outcome {
        let err = match result {
            Ok(text) => return Outcome::Text(text),
            Err(e) => e,
        };
        let message = err.to_string();
        let (class, line, location, detail) = match err {
            TemplateError::Parse { line, message } => (Class::Parse, line, None, message),
            TemplateError::NilPointer { location, type_name, field } => {
                (Class::Exec, location.line, Some(location), format!("nil pointer evaluating {type_name}.{field}"))
            }
            TemplateError::Function { location, function, message } => {
                (Class::Exec, location.line, Some(location), format!("error calling {function}: {message}"))
            }
            TemplateError::Execution { location, message } => (Class::Exec, location.line, Some(location), message),
        };
        let (column, context) = location.map_or((None, String::new()), |l| (Some(l.column), l.context));
        Outcome::Error(Failure { class, line, column, context, detail, message })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Text(text) => write!(f, "output {text:?}"),
            Outcome::Error(e) => {
                let class = match e.class {
                    Class::Parse => "parse error",
                    Class::Exec => "exec error",
                };
                write!(f, "{class} {:?}", e.message)
            }
        }
    }
}
