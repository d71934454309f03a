//! The parsed form of a template, shaped like Go's `text/template/parse` nodes.
//!
//! Nodes print back as Go prints them (`Display`), which is how execution errors name the
//! expression that failed.

use std::fmt;

/// A byte offset into the template text.
pub(crate) type Pos = usize;

/// A sequence of nodes: a template body, or the body of an `if`, `range` or `with`.
#[derive(Debug, Default)]
pub(crate) struct List {
    pub(crate) nodes: Vec<Node>,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template(TemplateCall),
    Break,
    Continue,
}

/// An `if`, `range` or `with`: its pipeline, body and optional `else` body.
#[derive(Debug)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipe,
    pub(crate) list: List,
    pub(crate) else_list: Option<List>,
}

/// A `{{template "name" pipeline}}` call, also what a `{{block}}` leaves in place.
#[derive(Debug)]
pub(crate) struct TemplateCall {
    pub(crate) pos: Pos,
    pub(crate) name: String,
    pub(crate) pipe: Option<Pipe>,
}

/// A pipeline: optional variable declarations, then commands separated by `|`.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) pos: Pos,
    pub(crate) is_assign: bool,
    pub(crate) decl: Vec<String>,
    pub(crate) cmds: Vec<Command>,
}

/// One command of a pipeline: a function name or value, then its arguments.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) pos: Pos,
    pub(crate) args: Vec<Operand>,
}

/// An argument or the first word of a command.
#[derive(Debug)]
pub(crate) enum Operand {
    /// `.A.B`: field names without their dots.
    Field {
        pos: Pos,
        ident: Vec<String>,
    },
    /// `$x.A.B`: the variable name (with `$`) followed by field names.
    Variable {
        pos: Pos,
        ident: Vec<String>,
    },
    /// `(pipeline).A.B` or a similar term followed by fields.
    Chain {
        pos: Pos,
        node: Box<Operand>,
        fields: Vec<String>,
    },
    Identifier {
        pos: Pos,
        name: String,
    },
    Dot(Pos),
    Nil(Pos),
    Bool(Pos, bool),
    Number {
        pos: Pos,
        text: String,
        value: Number,
    },
    String {
        pos: Pos,
        quoted: String,
        text: String,
    },
    Pipe(Box<Pipe>),
}

/// A number constant, typed as Go types untyped constants in templates.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
    /// Fits an unsigned 64-bit integer but not an `int`: an error when evaluated.
    Overflow,
}

impl Operand {
    pub(crate) fn pos(&self) -> Pos {
        match self {
            Operand::Field { pos, .. }
            | Operand::Variable { pos, .. }
            | Operand::Chain { pos, .. }
            | Operand::Identifier { pos, .. }
            | Operand::Dot(pos)
            | Operand::Nil(pos)
            | Operand::Bool(pos, _)
            | Operand::Number { pos, .. }
            | Operand::String { pos, .. } => *pos,
            Operand::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Field { ident, .. } => {
                for name in ident {
                    write!(f, ".{name}")?;
                }
                Ok(())
            }
            Operand::Variable { ident, .. } => f.write_str(&ident.join(".")),
            Operand::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Operand::Pipe(p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                for name in fields {
                    write!(f, ".{name}")?;
                }
                Ok(())
            }
            Operand::Identifier { name, .. } => f.write_str(name),
            Operand::Dot(_) => f.write_str("."),
            Operand::Nil(_) => f.write_str("nil"),
            Operand::Bool(_, b) => write!(f, "{b}"),
            Operand::Number { text, .. } => f.write_str(text),
            Operand::String { quoted, .. } => f.write_str(quoted),
            Operand::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match arg {
                Operand::Pipe(p) => write!(f, "({p})")?,
                other => write!(f, "{other}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TemplateCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = super::format::quote(&self.name);
        match &self.pipe {
            Some(p) => write!(f, "{{{{template {name} {p}}}}}"),
            None => write!(f, "{{{{template {name}}}}}"),
        }
    }
}
