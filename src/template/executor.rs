//! Renders a parse tree against template data, following the evaluation rules of Go's
//! text/template executor: pipelines feed their value to the next command as its last
//! argument, fields are looked up through pointers, variables are scoped to the block that
//! declares them, and every error names the expression that failed.
//!
//! Two limits that Go does not have protect the operator from runaway templates: the
//! rendered text may not exceed [`MAX_OUTPUT`] bytes, and all `range` loops of one
//! rendering together may not run more than [`MAX_ITERATIONS`] times.

use std::fmt::Display;

use super::TemplateError;
use super::data::Field;
use super::error::Location;
use super::format;
use super::functions::{self, Param};
use super::parser::{Tree, line_of};
use super::tree::{Branch, List, Node, Number, Operand, Pipe, Pos, TemplateCall};
use super::value::{Brief, Pointer, StrType, Text, Value};

/// The most bytes one rendering may produce.
pub(crate) const MAX_OUTPUT: usize = 1 << 20;
/// The most `range` iterations one rendering may run.
pub(crate) const MAX_ITERATIONS: usize = 100_000;
/// How deeply `{{template}}` calls may nest.
const MAX_TEMPLATE_DEPTH: usize = 100;

/// Why rendering stopped, before it is placed in the template text.
struct Failure {
    pos: Pos,
    context: String,
    kind: FailureKind,
}

enum FailureKind {
    NilPointer { type_name: String, field: String },
    Function { function: String, message: String },
    Other(String),
}

type ExecResult<T> = Result<T, Failure>;

fn other(pos: Pos, context: impl Display, message: impl Into<String>) -> Failure {
    Failure { pos, context: context.to_string(), kind: FailureKind::Other(message.into()) }
}

/// How a list of nodes finished.
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Renders `tree` (parsed from `text`) with `root` as the initial dot and `$`.
pub(crate) fn execute<'a>(text: &str, tree: &'a Tree, root: Value<'a>) -> Result<String, TemplateError> {
    let mut executor = Executor { tree, vars: vec![("$", root.clone())], out: String::new(), iterations: 0, depth: 0 };
    match executor.walk(&root, &tree.root) {
        Ok(_) => Ok(executor.out),
        Err(failure) => Err(locate(text, failure)),
    }
}

fn locate(text: &str, failure: Failure) -> TemplateError {
    let pos = failure.pos.min(text.len());
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let location = Location { line: line_of(text, pos), column: pos - line_start, context: failure.context };
    match failure.kind {
        FailureKind::NilPointer { type_name, field } => TemplateError::NilPointer { location, type_name, field },
        FailureKind::Function { function, message } => TemplateError::Function { location, function, message },
        FailureKind::Other(message) => TemplateError::Execution { location, message },
    }
}

struct Executor<'a> {
    tree: &'a Tree,
    vars: Vec<(&'a str, Value<'a>)>,
    out: String,
    iterations: usize,
    depth: usize,
}

impl<'a> Executor<'a> {
    fn check_output(&self, pos: Pos, context: impl Display) -> ExecResult<()> {
        if self.out.len() > MAX_OUTPUT {
            return Err(other(pos, context, format!("rendered text exceeds {MAX_OUTPUT} bytes")));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value<'a>, list: &'a List) -> ExecResult<Flow> {
        for node in &list.nodes {
            let flow = match node {
                Node::Text(text) => {
                    self.out.push_str(text);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let value = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        format::print_action(&value, &mut self.out).map_err(|m| other(pipe.pos, pipe, m))?;
                        self.check_output(pipe.pos, pipe)?;
                    }
                    Flow::Normal
                }
                Node::If(branch) => self.walk_if_or_with(dot, branch, false)?,
                Node::With(branch) => self.walk_if_or_with(dot, branch, true)?,
                Node::Range(branch) => self.walk_range(dot, branch)?,
                Node::Template(call) => self.walk_template(dot, call)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, dot: &Value<'a>, branch: &'a Branch, with: bool) -> ExecResult<Flow> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let flow = if value.is_true() {
            if with { self.walk(&value, &branch.list) } else { self.walk(dot, &branch.list) }
        } else if let Some(else_list) = &branch.else_list {
            self.walk(dot, else_list)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        flow
    }

    fn walk_range(&mut self, dot: &Value<'a>, branch: &'a Branch) -> ExecResult<Flow> {
        let mark = self.vars.len();
        let result = self.walk_range_inner(dot, branch);
        self.vars.truncate(mark);
        result
    }

    fn walk_range_inner(&mut self, dot: &Value<'a>, branch: &'a Branch) -> ExecResult<Flow> {
        let pipe = &branch.pipe;
        let (value, _) = self.eval_pipeline(dot, pipe)?.indirect();
        let items: Vec<(Value<'a>, Value<'a>)> = match &value {
            Value::Int(n, t) => {
                if pipe.decl.len() > 1 {
                    return Err(other(
                        pipe.pos,
                        pipe,
                        format!("can't use {} to iterate over more than one variable", Brief(&value)),
                    ));
                }
                if *n > MAX_ITERATIONS as i64 {
                    return Err(self.too_many_iterations(pipe));
                }
                (0..(*n).max(0)).map(|i| (Value::Missing, Value::Int(i, *t))).collect()
            }
            Value::Slice(s) => (0..s.len()).map(|i| (Value::int(i as i64), s.get(i))).collect(),
            Value::Map(m) => m.iter().map(|(k, v)| (Value::str(k), Value::str(v))).collect(),
            Value::Missing => Vec::new(),
            other_value => {
                return Err(other(pipe.pos, pipe, format!("range can't iterate over {}", Brief(other_value))));
            }
        };
        if items.is_empty() {
            if let Some(else_list) = &branch.else_list {
                return self.walk(dot, else_list);
            }
            return Ok(Flow::Normal);
        }
        let mark = self.vars.len();
        for (index, elem) in items {
            self.iterations += 1;
            if self.iterations > MAX_ITERATIONS {
                return Err(self.too_many_iterations(pipe));
            }
            if !pipe.decl.is_empty() {
                if pipe.is_assign {
                    let first = if pipe.decl.len() > 1 { index.clone() } else { elem.clone() };
                    self.set_var(&pipe.decl[0], first, pipe)?;
                    if pipe.decl.len() > 1 {
                        self.set_var(&pipe.decl[1], elem.clone(), pipe)?;
                    }
                } else {
                    self.vars[mark - 1].1 = elem.clone();
                    if pipe.decl.len() > 1 {
                        self.vars[mark - 2].1 = index;
                    }
                }
            }
            let flow = self.walk(&elem, &branch.list);
            self.vars.truncate(mark);
            if flow? == Flow::Break {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn too_many_iterations(&self, pipe: &Pipe) -> Failure {
        other(pipe.pos, pipe, format!("range runs more than {MAX_ITERATIONS} iterations"))
    }

    fn walk_template(&mut self, dot: &Value<'a>, call: &'a TemplateCall) -> ExecResult<Flow> {
        let Some(list) = self.tree.defines.get(&call.name) else {
            return Err(other(call.pos, call, format!("template {} not defined", format::quote(&call.name))));
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(other(call.pos, call, format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")));
        }
        let new_dot = match &call.pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Value::Missing,
        };
        let vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        self.depth += 1;
        let result = self.walk(&new_dot, list);
        self.depth -= 1;
        self.vars = vars;
        result.map(|_| Flow::Normal)
    }

    // Variables.

    fn var_value(&self, name: &str, pos: Pos, context: impl Display) -> ExecResult<Value<'a>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| other(pos, context, format!("undefined variable: {name}")))
    }

    fn set_var(&mut self, name: &str, value: Value<'a>, pipe: &Pipe) -> ExecResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(other(pipe.pos, pipe, format!("undefined variable: {name}"))),
        }
    }

    // Pipelines and commands.

    fn eval_pipeline(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> ExecResult<Value<'a>> {
        let mut value = None;
        for cmd in &pipe.cmds {
            let previous = value.take();
            value = Some(self.eval_command(dot, cmd, previous)?);
        }
        let value = value.unwrap_or(Value::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe)?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    fn eval_command(
        &mut self,
        dot: &Value<'a>,
        cmd: &'a super::tree::Command,
        last: Option<Value<'a>>,
    ) -> ExecResult<Value<'a>> {
        let first = &cmd.args[0];
        match first {
            Operand::Field { ident, .. } => self.eval_field_chain(dot.clone(), first, ident, &cmd.args, last),
            Operand::Chain { node, fields, .. } => {
                let receiver = self.eval_chain_receiver(dot, first, node)?;
                self.eval_field_chain(receiver, first, fields, &cmd.args, last)
            }
            Operand::Identifier { name, .. } => self.eval_function(dot, name, first, cmd, &cmd.args[1..], last),
            Operand::Pipe(pipe) => {
                self.not_a_function(&cmd.args, &last)?;
                self.eval_pipeline(dot, pipe)
            }
            Operand::Variable { ident, .. } => self.eval_variable(first, ident, &cmd.args, last),
            Operand::Bool(_, b) => {
                self.not_a_function(&cmd.args, &last)?;
                Ok(Value::Bool(*b))
            }
            Operand::Dot(_) => {
                self.not_a_function(&cmd.args, &last)?;
                Ok(dot.clone())
            }
            Operand::Nil(pos) => {
                self.not_a_function(&cmd.args, &last)?;
                Err(other(*pos, first, "nil is not a command"))
            }
            Operand::Number { pos, text, value } => {
                self.not_a_function(&cmd.args, &last)?;
                constant(*pos, text, *value)
            }
            Operand::String { text, .. } => {
                self.not_a_function(&cmd.args, &last)?;
                Ok(Value::Str(Text::Borrowed(text), StrType::STRING))
            }
        }
    }

    fn not_a_function(&self, args: &[Operand], last: &Option<Value<'a>>) -> ExecResult<()> {
        if args.len() > 1 || last.is_some() {
            return Err(other(args[0].pos(), &args[0], format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_chain_receiver(&mut self, dot: &Value<'a>, chain: &'a Operand, node: &'a Operand) -> ExecResult<Value<'a>> {
        match node {
            Operand::Nil(_) => Err(other(chain.pos(), chain, format!("indirection through explicit nil in {chain}"))),
            Operand::Pipe(pipe) => self.eval_pipeline(dot, pipe),
            other_node => self.eval_arg(dot, Param::Value, other_node),
        }
    }

    fn eval_variable(
        &mut self,
        node: &'a Operand,
        ident: &'a [String],
        args: &'a [Operand],
        last: Option<Value<'a>>,
    ) -> ExecResult<Value<'a>> {
        let value = self.var_value(&ident[0], node.pos(), node)?;
        if ident.len() == 1 {
            if !args.is_empty() {
                self.not_a_function(args, &last)?;
            }
            return Ok(value);
        }
        self.eval_field_chain(value, node, &ident[1..], args, last)
    }

    /// Reads `fields` one after another starting at `receiver`. Only the last field may
    /// receive arguments, and then only to be rejected.
    fn eval_field_chain(
        &mut self,
        mut receiver: Value<'a>,
        node: &Operand,
        fields: &[String],
        args: &[Operand],
        last: Option<Value<'a>>,
    ) -> ExecResult<Value<'a>> {
        let count = fields.len();
        for (i, name) in fields.iter().enumerate() {
            let extra = if i + 1 == count { args.len().saturating_sub(1) + usize::from(last.is_some()) } else { 0 };
            receiver = self.eval_field(node, name, extra, receiver)?;
        }
        Ok(receiver)
    }

    /// Reads one field of `receiver`, as Go's `evalField` does. `extra_args` counts the
    /// arguments the field was given, which only a method could accept.
    fn eval_field(&self, node: &Operand, name: &str, extra_args: usize, receiver: Value<'a>) -> ExecResult<Value<'a>> {
        let fail = |message: String| Err(other(node.pos(), node, message));
        // The receiver's type is named only in errors, so it is computed only then.
        let original = receiver.clone();
        let type_name = || original.type_name();
        let target = match receiver {
            Value::Missing | Value::Nil => return Ok(Value::Missing),
            Value::Ptr(p) => match p.elem() {
                Some(elem) => elem,
                None => {
                    if let Pointer::Struct(st, _) = p
                        && !st.has_member(name)
                    {
                        return fail(format!("can't evaluate field {name} in type {}", type_name()));
                    }
                    return Err(Failure {
                        pos: node.pos(),
                        context: node.to_string(),
                        kind: FailureKind::NilPointer { type_name: type_name().into_owned(), field: name.to_string() },
                    });
                }
            },
            other_value => other_value,
        };
        let method = |value: Value<'a>| {
            if extra_args > 0 {
                return fail(format!("wrong number of args for {name}: want 0 got {extra_args}"));
            }
            Ok(value)
        };
        match target {
            Value::Struct(s) => match s.field(name) {
                Field::Value(v) => {
                    if extra_args > 0 {
                        return fail(format!("{name} has arguments but cannot be invoked as function"));
                    }
                    Ok(v)
                }
                Field::Method(v) => method(v),
                Field::Unavailable => {
                    fail(format!("field {name} of type {} is not available to templates", type_name()))
                }
                Field::Unknown => fail(format!("can't evaluate field {name} in type {}", type_name())),
            },
            Value::Map(m) => {
                if extra_args > 0 {
                    return fail(format!("{name} is not a method but has arguments"));
                }
                Ok(m.get(name).map_or(Value::Missing, |v| Value::str(v)))
            }
            Value::Time(t) => match super::time::method(t, name) {
                Some(v) => method(v),
                None => fail(format!("can't evaluate field {name} in type {}", type_name())),
            },
            _ => fail(format!("can't evaluate field {name} in type {}", type_name())),
        }
    }

    // Functions and arguments.

    fn eval_function(
        &mut self,
        dot: &Value<'a>,
        name: &str,
        ident: &Operand,
        node: &dyn NodeRef,
        args: &'a [Operand],
        last: Option<Value<'a>>,
    ) -> ExecResult<Value<'a>> {
        let signature = functions::signature(name);
        let num_in = args.len() + usize::from(last.is_some());
        let fixed = signature.fixed.len();
        if signature.variadic.is_some() {
            if num_in < fixed {
                return Err(other(
                    ident.pos(),
                    ident,
                    format!("wrong number of args for {name}: want at least {fixed} got {}", args.len()),
                ));
            }
        } else if num_in != fixed {
            return Err(other(
                ident.pos(),
                ident,
                format!("wrong number of args for {name}: want {fixed} got {num_in}"),
            ));
        }

        if name == "and" || name == "or" {
            let stop_on = name == "or";
            let mut value = Value::Missing;
            for arg in args {
                value = self.eval_arg(dot, Param::Value, arg)?;
                if value.is_true() == stop_on {
                    return Ok(value);
                }
            }
            if let Some(last) = last {
                value = last;
            }
            return Ok(value);
        }

        let mut argv = Vec::with_capacity(num_in);
        for (i, arg) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, signature.param(i), arg)?);
        }
        if let Some(last) = last {
            let param = signature.param(num_in - 1);
            argv.push(validate(last, param).map_err(|m| other(node.pos(), node.text(), m))?);
        }
        if name == "call" {
            let callee = match (args.first(), argv.first()) {
                (Some(arg), _) => arg.to_string(),
                (None, Some(Value::Str(s, _))) => s.to_string(),
                (None, Some(v)) => format!("<{} Value>", v.type_name()),
                (None, None) => String::new(),
            };
            let message = functions::call_error(&callee, &argv[0]);
            return Err(Failure {
                pos: node.pos(),
                context: node.text(),
                kind: FailureKind::Function { function: name.to_string(), message },
            });
        }
        functions::call(name, argv).map_err(|message| Failure {
            pos: node.pos(),
            context: node.text(),
            kind: FailureKind::Function { function: name.to_string(), message },
        })
    }

    fn eval_arg(&mut self, dot: &Value<'a>, param: Param, node: &'a Operand) -> ExecResult<Value<'a>> {
        let value = match node {
            Operand::Dot(_) => dot.clone(),
            Operand::Nil(pos) => {
                return match param {
                    Param::Any => Ok(Value::Nil),
                    // Go passes an untyped nil to a reflect.Value parameter as the invalid
                    // value, the same as a missing map key.
                    Param::Value => Ok(Value::Missing),
                    Param::Str => Err(other(*pos, node, "cannot assign nil to string")),
                };
            }
            Operand::Field { ident, .. } => {
                self.eval_field_chain(dot.clone(), node, ident, std::slice::from_ref(node), None)?
            }
            Operand::Variable { ident, .. } => self.eval_variable(node, ident, &[], None)?,
            Operand::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Operand::Identifier { name, .. } => self.eval_function(dot, name, node, node, &[], None)?,
            Operand::Chain { node: inner, fields, .. } => {
                let receiver = self.eval_chain_receiver(dot, node, inner)?;
                self.eval_field_chain(receiver, node, fields, &[], None)?
            }
            Operand::String { text, .. } => Value::Str(Text::Borrowed(text), StrType::STRING),
            Operand::Bool(pos, b) => {
                if param == Param::Str {
                    return Err(other(*pos, node, format!("expected string; found {node}")));
                }
                Value::Bool(*b)
            }
            Operand::Number { pos, text, value } => {
                if param == Param::Str {
                    return Err(other(*pos, node, format!("expected string; found {node}")));
                }
                constant(*pos, text, *value)?
            }
        };
        validate(value, param).map_err(|m| other(node.pos(), node, m))
    }
}

/// Converts an argument to what its parameter accepts, as Go's `validateType` does.
fn validate<'a>(value: Value<'a>, param: Param) -> Result<Value<'a>, String> {
    match (param, value) {
        (Param::Value, v) => Ok(v),
        (Param::Any, Value::Missing) => Ok(Value::Nil),
        (Param::Any, v) => Ok(v),
        (Param::Str, Value::Missing | Value::Nil) => Err("invalid value; expected string".into()),
        (Param::Str, v @ Value::Str(_, StrType::STRING)) => Ok(v),
        (Param::Str, Value::Ptr(Pointer::Str(StrType::STRING, target))) => match target {
            Some(s) => Ok(Value::str(s)),
            None => Err("dereference of nil pointer of type string".into()),
        },
        (Param::Str, v) => Err(format!("wrong type for value; expected string; got {}", v.type_name())),
    }
}

/// The value of a number constant: an `int`, or a `float64` when written as one.
fn constant<'a>(pos: Pos, text: &str, value: Number) -> ExecResult<Value<'a>> {
    match value {
        Number::Int(i) => Ok(Value::int(i)),
        Number::Float(f) => Ok(Value::Float(f)),
        Number::Overflow => Err(other(pos, text, format!("{text} overflows int"))),
    }
}

/// A node an error can be reported at: a command or a single operand.
trait NodeRef {
    fn pos(&self) -> Pos;
    fn text(&self) -> String;
}

impl NodeRef for super::tree::Command {
    fn pos(&self) -> Pos {
        self.pos
    }
    fn text(&self) -> String {
        self.to_string()
    }
}

impl NodeRef for Operand {
    fn pos(&self) -> Pos {
        Operand::pos(self)
    }
    fn text(&self) -> String {
        self.to_string()
    }
}
