//! Builds the parse tree, rejecting what Go's text/template rejects at parse time:
//! syntax errors, unknown functions, undefined variables, `{{break}}` outside `{{range}}`,
//! a stray `{{end}}` or `{{else}}`, an unclosed block.

use std::collections::HashMap;

use super::TemplateError;
use super::format::quote;
use super::functions::is_builtin;
use super::lexer::{Kind, Token, tokenize};
use super::tree::{Branch, Command, List, Node, Number, Operand, Pipe, Pos, TemplateCall};

/// How deeply parentheses and blocks may nest. Go's limit is far higher, but nothing a
/// SPIFFE ID template needs comes close, and the limit keeps rendering off deep stacks.
const MAX_DEPTH: usize = 100;

/// A parsed template: its body and the templates it defines with `define` or `block`.
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) root: List,
    pub(crate) defines: HashMap<String, List>,
}

/// Parses template text.
pub(crate) fn parse(text: &str) -> Result<Tree> {
    let mut parser = Parser {
        text,
        tokens: tokenize(text),
        index: 0,
        high_water: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        defines: HashMap::new(),
    };
    let root = parser.parse_top()?;
    Ok(Tree { root, defines: parser.defines })
}

type Result<T> = std::result::Result<T, TemplateError>;

/// What an item inside a list turned out to be: a node, or the `{{end}}`/`{{else}}`
/// that closes the list.
enum Item {
    Node(Node),
    End,
    Else,
}

impl Item {
    fn describe(&self) -> &'static str {
        match self {
            Item::End => "{{end}}",
            Item::Else => "{{else}}",
            Item::Node(_) => "node",
        }
    }
}

struct Parser<'s> {
    text: &'s str,
    tokens: Vec<Token>,
    index: usize,
    /// The furthest token read; parse errors are reported on its line, as Go does.
    high_water: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    defines: HashMap<String, List>,
}

impl Parser<'_> {
    // Token navigation. The token list always ends with an `Eof` or `Error` token, which
    // is returned again when read past.

    fn next(&mut self) -> Token {
        let i = self.index.min(self.tokens.len() - 1);
        self.index = i + 1;
        self.high_water = self.high_water.max(i);
        self.tokens[i].clone()
    }

    fn backup(&mut self) {
        self.index -= 1;
    }

    fn peek(&mut self) -> Token {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T> {
        let pos = self.tokens[self.high_water.min(self.tokens.len() - 1)].pos;
        Err(TemplateError::Parse { line: line_of(self.text, pos), message: message.into() })
    }

    fn unexpected<T>(&self, token: &Token, context: &str) -> Result<T> {
        if token.kind == Kind::Error {
            return self.error(token.val.clone());
        }
        self.error(format!("unexpected {token} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> Result<Token> {
        let token = self.next_non_space();
        if token.kind != kind {
            return self.unexpected(&token, context);
        }
        Ok(token)
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error("max expression depth exceeded");
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // Structure.

    fn parse_top(&mut self) -> Result<List> {
        let mut root = List::default();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let save = self.index;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.index = save;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.nodes.push(n),
                item => return self.error(format!("unexpected {}", item.describe())),
            }
        }
        Ok(root)
    }

    /// Parses the rest of `{{define "name"}}...{{end}}`. A definition starts with no
    /// variables but `$`, outside any range.
    fn parse_definition(&mut self) -> Result<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space();
        if !matches!(token.kind, Kind::String | Kind::RawString) {
            return self.unexpected(&token, CONTEXT);
        }
        let name = self.unquote(&token)?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let (list, end) = self.isolated(|p| p.item_list())?;
        if !matches!(end, Item::End) {
            return self.error(format!("unexpected {} in {CONTEXT}", end.describe()));
        }
        self.add_definition(name, list)
    }

    /// Runs `f` with the variable scope and range nesting of a fresh template.
    fn isolated<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let result = f(self);
        self.vars = vars;
        self.range_depth = range_depth;
        result
    }

    fn add_definition(&mut self, name: String, list: List) -> Result<()> {
        match self.defines.get(&name) {
            Some(existing) if !is_empty(existing) => {
                if !is_empty(&list) {
                    return self.error(format!("template: multiple definition of template {}", quote(&name)));
                }
            }
            _ => {
                self.defines.insert(name, list);
            }
        }
        Ok(())
    }

    fn item_list(&mut self) -> Result<(List, Item)> {
        let mut list = List::default();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.nodes.push(n),
                end => return Ok((list, end)),
            }
        }
        self.error("unexpected EOF")
    }

    fn text_or_action(&mut self) -> Result<Item> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Text => Ok(Item::Node(Node::Text(token.val))),
            Kind::LeftDelim => self.action(),
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> Result<Item> {
        let token = self.next_non_space();
        let node = match token.kind {
            Kind::Block => self.block_control()?,
            Kind::Break => self.loop_control("{{break}}", Node::Break)?,
            Kind::Continue => self.loop_control("{{continue}}", Node::Continue)?,
            Kind::Else => return self.else_control(),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Kind::If => Node::If(self.control("if")?),
            Kind::Range => Node::Range(self.control("range")?),
            Kind::Template => self.template_control()?,
            Kind::With => Node::With(self.control("with")?),
            _ => {
                self.backup();
                Node::Action(self.pipeline("command", Kind::RightDelim)?)
            }
        };
        Ok(Item::Node(node))
    }

    fn loop_control(&mut self, name: &str, node: Node) -> Result<Node> {
        let token = self.next_non_space();
        if token.kind != Kind::RightDelim {
            return self.unexpected(&token, name);
        }
        if self.range_depth == 0 {
            return self.error(format!("{name} outside {{{{range}}}}"));
        }
        Ok(node)
    }

    fn else_control(&mut self) -> Result<Item> {
        let peek = self.peek_non_space();
        if !matches!(peek.kind, Kind::If | Kind::With) {
            self.expect(Kind::RightDelim, "else")?;
        }
        Ok(Item::Else)
    }

    /// Parses the pipeline and bodies of `if`, `range` or `with`. Variables declared in
    /// the pipeline are visible in both bodies and nowhere after.
    fn control(&mut self, context: &str) -> Result<Branch> {
        self.enter()?;
        let vars = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(vars);
        self.leave();
        result
    }

    fn control_inner(&mut self, context: &str) -> Result<Branch> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = listed?;
        let mut else_list = None;
        if let Item::Else = next {
            let chained = self.peek().kind;
            if context == "if" && chained == Kind::If {
                self.next();
                else_list = Some(List { nodes: vec![Node::If(self.control("if")?)] });
            } else if context == "with" && chained == Kind::With {
                self.next();
                else_list = Some(List { nodes: vec![Node::With(self.control("with")?)] });
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Item::End) {
                    return self.error(format!("expected end; found {}", next.describe()));
                }
                else_list = Some(list);
            }
        }
        Ok(Branch { pipe, list, else_list })
    }

    fn block_control(&mut self) -> Result<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let (list, end) = self.isolated(|p| p.item_list())?;
        if !matches!(end, Item::End) {
            return self.error(format!("unexpected {} in {CONTEXT}", end.describe()));
        }
        self.add_definition(name.clone(), list)?;
        Ok(Node::Template(TemplateCall { pos: token.pos, name, pipe: Some(pipe) }))
    }

    fn template_control(&mut self) -> Result<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template(TemplateCall { pos: token.pos, name, pipe }))
    }

    fn template_name(&mut self, token: &Token, context: &str) -> Result<String> {
        match token.kind {
            Kind::String | Kind::RawString => self.unquote(token),
            _ => self.unexpected(token, context),
        }
    }

    // Pipelines and operands.

    fn pipeline(&mut self, context: &str, end: Kind) -> Result<Pipe> {
        let mut pipe = Pipe { pos: self.peek_non_space().pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        self.declarations(&mut pipe, context)?;
        loop {
            let token = self.next_non_space();
            match token.kind {
                k if k == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    /// Reads `$x :=`, `$x =` or, in a range, `$i, $v :=` at the start of a pipeline.
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<()> {
        loop {
            if self.peek_non_space().kind != Kind::Variable {
                return Ok(());
            }
            let save = self.index;
            let var = self.next();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(var.val.clone());
                    self.vars.push(var.val);
                    return Ok(());
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(var.val.clone());
                    self.vars.push(var.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.error("range can only initialize variables"),
                        }
                    }
                    return self.error(format!("too many declarations in {context}"));
                }
                _ => {
                    self.index = save;
                    return Ok(());
                }
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> Result<()> {
        if pipe.cmds.is_empty() {
            return self.error(format!("missing value for {context}"));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args[0],
                Operand::Bool(..) | Operand::Dot(_) | Operand::Nil(_) | Operand::Number { .. } | Operand::String { .. }
            ) {
                return self.error(format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Command> {
        let mut cmd = Command { pos: self.peek_non_space().pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let token = self.next();
            match token.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.error("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Operand>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            fields.push(self.next().val[1..].to_string());
        }
        Ok(Some(match node {
            Operand::Field { mut ident, .. } => {
                ident.extend(fields);
                Operand::Field { pos, ident }
            }
            Operand::Variable { mut ident, .. } => {
                ident.extend(fields);
                Operand::Variable { pos, ident }
            }
            Operand::Bool(..) | Operand::String { .. } | Operand::Number { .. } | Operand::Nil(_) | Operand::Dot(_) => {
                return self.error(format!("unexpected . after term {}", quote(&node.to_string())));
            }
            other => Operand::Chain { pos, node: Box::new(other), fields },
        }))
    }

    fn term(&mut self) -> Result<Option<Operand>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.kind {
            Kind::Identifier => {
                if !is_builtin(&token.val) {
                    return self.error(format!("function {} not defined", quote(&token.val)));
                }
                Operand::Identifier { pos, name: token.val }
            }
            Kind::Dot => Operand::Dot(pos),
            Kind::Nil => Operand::Nil(pos),
            Kind::Variable => {
                if !self.vars.contains(&token.val) {
                    return self.error(format!("undefined variable {}", quote(&token.val)));
                }
                Operand::Variable { pos, ident: vec![token.val] }
            }
            Kind::Field => Operand::Field { pos, ident: vec![token.val[1..].to_string()] },
            Kind::Bool => Operand::Bool(pos, token.val == "true"),
            Kind::CharConstant | Kind::Complex | Kind::Number => {
                let value = match number(&token) {
                    Ok(v) => v,
                    Err(e) => return self.error(e),
                };
                Operand::Number { pos, text: token.val, value }
            }
            Kind::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen);
                self.leave();
                Operand::Pipe(Box::new(pipe?))
            }
            Kind::String | Kind::RawString => {
                let text = self.unquote(&token)?;
                Operand::String { pos, quoted: token.val, text }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn unquote(&self, token: &Token) -> Result<String> {
        match unquote(&token.val) {
            Ok(s) => Ok(s),
            Err(e) => self.error(e),
        }
    }
}

/// Whether a definition has no content, so that a later one may replace it.
fn is_empty(list: &List) -> bool {
    list.nodes.iter().all(|n| match n {
        Node::Text(t) => t.trim().is_empty(),
        _ => false,
    })
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, pos: Pos) -> usize {
    1 + text.as_bytes()[..pos.min(text.len())].iter().filter(|&&b| b == b'\n').count()
}

/// Evaluates a number token as Go types an untyped template constant.
fn number(token: &Token) -> std::result::Result<Number, String> {
    let text = token.val.as_str();
    if token.kind == Kind::CharConstant {
        let inner = &text[1..];
        let (c, tail) = unquote_char(inner, '\'')?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        return Ok(Number::Int(i64::from(u32::from(c))));
    }
    if token.kind == Kind::Complex || text.ends_with('i') {
        return Err(format!("complex number {} is not supported", quote(text)));
    }
    let (negative, unsigned) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let hex = lower.starts_with("0x");
    let float_syntax = if hex { lower.contains('p') } else { lower.contains(['.', 'e']) };
    if !float_syntax {
        return match parse_unsigned(&lower) {
            Some(u) => {
                let value = if negative { 0i128 - i128::from(u) } else { i128::from(u) };
                match i64::try_from(value) {
                    Ok(i) => Ok(Number::Int(i)),
                    Err(_) if !negative => Ok(Number::Overflow),
                    Err(_) => Err(format!("integer overflow: {}", quote(text))),
                }
            }
            None if is_integer_syntax(&lower) => Err(format!("integer overflow: {}", quote(text))),
            None => Err(format!("illegal number syntax: {}", quote(text))),
        };
    }
    let magnitude = if hex { parse_hex_float(&lower[2..]) } else { parse_decimal_float(&lower) };
    match magnitude {
        Some(f) => Ok(Number::Float(if negative { -f } else { f })),
        None => Err(format!("illegal number syntax: {}", quote(text))),
    }
}

/// Splits a lower-cased integer literal into its radix and digits, checking underscores
/// the way Go does: only between digits or right after a base prefix.
fn radix_digits(s: &str) -> Option<(u32, &str)> {
    let (radix, digits, prefixed) = if let Some(d) = s.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = s.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = s.strip_prefix("0b") {
        (2, d, true)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..], true)
    } else {
        (10, s, false)
    };
    let body = if prefixed { digits.strip_prefix('_').unwrap_or(digits) } else { digits };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    Some((radix, digits))
}

fn is_integer_syntax(s: &str) -> bool {
    radix_digits(s).is_some_and(|(radix, digits)| digits.chars().all(|c| c == '_' || c.is_digit(radix)))
}

fn parse_unsigned(s: &str) -> Option<u64> {
    let (radix, digits) = radix_digits(s)?;
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    u64::from_str_radix(&digits, radix).ok()
}

fn parse_decimal_float(s: &str) -> Option<f64> {
    if s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let f: f64 = cleaned.parse().ok()?;
    f.is_finite().then_some(f)
}

/// Parses the part after `0x` of a hexadecimal float such as `1.8p3`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exponent) = s.split_once('p')?;
    let exponent: i32 = exponent.replace('_', "").parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut value = 0f64;
    let mut digits = 0;
    for c in int_part.chars().filter(|&c| c != '_') {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
        digits += 1;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars().filter(|&c| c != '_') {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
        digits += 1;
    }
    if digits == 0 {
        return None;
    }
    let f = value * 2f64.powi(exponent);
    f.is_finite().then_some(f)
}

/// Decodes the first character of a Go quoted literal body, returning it and the rest.
fn unquote_char(s: &str, quote_char: char) -> std::result::Result<(char, &str), String> {
    const SYNTAX: &str = "invalid syntax";
    let mut chars = s.chars();
    let c = chars.next().ok_or(SYNTAX)?;
    if c == quote_char && quote_char == '\'' {
        return Err(SYNTAX.into());
    }
    if c != '\\' {
        return Ok((c, chars.as_str()));
    }
    let e = chars.next().ok_or(SYNTAX)?;
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' if e == quote_char => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, chars.as_str()));
    }
    let (len, radix) = match e {
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        '0'..='7' => (3, 8),
        _ => return Err(SYNTAX.into()),
    };
    let rest = if radix == 8 { &s[1..] } else { chars.as_str() };
    let digits = rest.get(..len).ok_or(SYNTAX)?;
    let code = u32::from_str_radix(digits, radix).map_err(|_| SYNTAX)?;
    if matches!(e, 'x' | '0'..='7') && code >= 0x80 {
        return Err("escapes of bytes above 0x7f are not supported".into());
    }
    let c = char::from_u32(code).ok_or(SYNTAX)?;
    Ok((c, &rest[len..]))
}

/// Unquotes a Go string literal: `"..."` with escapes, or a raw `` `...` `` string.
fn unquote(quoted: &str) -> std::result::Result<String, String> {
    if let Some(raw) = quoted.strip_prefix('`') {
        let body = raw.strip_suffix('`').ok_or("invalid syntax")?;
        return Ok(body.replace('\r', ""));
    }
    let mut body = quoted.strip_prefix('"').and_then(|s| s.strip_suffix('"')).ok_or("invalid syntax")?;
    let mut out = String::with_capacity(body.len());
    while !body.is_empty() {
        let (c, rest) = unquote_char(body, '"')?;
        out.push(c);
        body = rest;
    }
    Ok(out)
}
