//! The pure core names no IO.
//!
//! Every `.rs` file of the pure modules is read, and each path it writes (with `use` groups such
//! as `crate::{spiffe::Entry, spire::Bundle}` spelled out) is checked against the IO edges:
//! - the crate's IO modules `spire`, `controller`, `admin`, `lease` and `metrics`;
//! - the crates `tokio`, `tonic`, `axum` and `hyper` (and their `tokio_*`-style companions);
//! - the kube client: `kube::Client`, `kube::Api`, `kube::client`.
//!
//! `kube::Resource`, `kube::runtime::reflector::ObjectRef` and the `k8s_openapi` types are data,
//! not IO, and stay allowed. Lines whose trimmed text starts with `//` are comments and are not
//! read.

use std::{
    fmt,
    path::{Path, PathBuf},
};

/// Directories whose every file belongs to the pure core.
const PURE_DIRS: &[&str] = &["src/render", "src/reconcile", "src/status", "src/template", "src/spiffe", "src/policy"];
/// Pure directories that may not exist yet.
const OPTIONAL_PURE_DIRS: &[&str] = &["src/pass"];
/// Single files of the pure core.
const PURE_FILES: &[&str] =
    &["src/selection.rs", "src/pod_view.rs", "src/duration.rs", "src/breaker.rs", "src/drift.rs"];

/// The crate's own modules that do IO.
const IO_MODULES: &[&str] = &["spire", "controller", "admin", "lease", "metrics"];
/// The crates that do IO.
const IO_CRATES: &[&str] = &["tokio", "tonic", "axum", "hyper"];
/// The parts of `kube` that talk to the API server.
const KUBE_CLIENT: &[&str] = &["Client", "Api", "client"];

/// A forbidden path, where it was written.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    line: usize,
    path: String,
    rule: &'static str,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.line, self.path, self.rule)
    }
}

/// A token of source text, as far as paths need.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Splits the source into tokens tagged with their 1-based line, leaving out comment lines.
fn tokenize(source: &str) -> Vec<(usize, Token)> {
    let mut tokens = Vec::new();
    for (index, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_alphanumeric() || c == '_' {
                let mut ident = c.to_string();
                while let Some(&next) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                    ident.push(next);
                    chars.next();
                }
                tokens.push((index + 1, Token::Ident(ident)));
            } else if c == ':' && chars.peek() == Some(&':') {
                chars.next();
                tokens.push((index + 1, Token::PathSep));
            } else if !c.is_whitespace() {
                tokens.push((index + 1, Token::Punct(c)));
            }
        }
    }
    tokens
}

/// A path spelled out to its segments, with the line of its last segment.
#[derive(Debug)]
struct WrittenPath {
    line: usize,
    segments: Vec<String>,
}

/// Reads the path (or `use` tree) starting at `tokens[*at]`, spelling out every group, and moves
/// `at` past it.
fn read_tree(tokens: &[(usize, Token)], at: &mut usize, prefix: &[String], out: &mut Vec<WrittenPath>) {
    let mut segments = prefix.to_vec();
    let mut line = tokens.get(*at).map_or(0, |(l, _)| *l);
    loop {
        match tokens.get(*at) {
            Some((l, Token::Ident(ident))) => {
                segments.push(ident.clone());
                line = *l;
                *at += 1;
            }
            Some((_, Token::Punct('{'))) => {
                *at += 1;
                while let Some((_, token)) = tokens.get(*at) {
                    match token {
                        Token::Punct('}') => {
                            *at += 1;
                            return;
                        }
                        Token::Punct(',') => *at += 1,
                        Token::Ident(_) | Token::Punct('{') => read_tree(tokens, at, &segments, out),
                        _ => *at += 1,
                    }
                }
                return;
            }
            _ => break,
        }
        if tokens.get(*at).map(|(_, t)| t) == Some(&Token::PathSep) {
            *at += 1;
        } else {
            break;
        }
    }
    out.push(WrittenPath { line, segments });
}

/// Every path of the source: the ones `use` imports, and the ones written inline with `::`.
fn paths(source: &str) -> Vec<WrittenPath> {
    let tokens = tokenize(source);
    let mut out = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        let after_use = at > 0 && tokens[at - 1].1 == Token::Ident("use".into());
        let starts_path = at == 0 || tokens[at - 1].1 != Token::PathSep;
        match &tokens[at].1 {
            Token::Ident(_) if starts_path => {
                let mut found = Vec::new();
                read_tree(&tokens, &mut at, &[], &mut found);
                out.extend(found.into_iter().filter(|p| after_use || p.segments.len() > 1));
            }
            Token::Punct('{') if after_use => read_tree(&tokens, &mut at, &[], &mut out),
            _ => at += 1,
        }
    }
    out
}

/// The rule a path breaks, if any.
fn broken_rule(segments: &[String]) -> Option<&'static str> {
    let first = segments.first()?.as_str();
    if IO_CRATES.iter().any(|c| first == *c || first.strip_prefix(c).is_some_and(|rest| rest.starts_with('_'))) {
        return Some("an IO crate");
    }
    if first == "kube" && segments.iter().any(|s| KUBE_CLIENT.contains(&s.as_str())) {
        return Some("the kube client");
    }
    let local =
        segments.iter().map(String::as_str).find(|s| !matches!(*s, "crate" | "self" | "super" | "spire_steward"));
    match local {
        Some(module) if IO_MODULES.contains(&module) => Some("an IO module of the crate"),
        _ => None,
    }
}

/// Every forbidden path of one file's source.
fn violations(source: &str) -> Vec<Violation> {
    paths(source)
        .into_iter()
        .filter_map(|p| {
            broken_rule(&p.segments).map(|rule| Violation { line: p.line, path: p.segments.join("::"), rule })
        })
        .collect()
}

/// Every `.rs` file under `dir`, depth first.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The files of the pure core. A required directory or file that is missing fails, so a moved
/// module cannot silently drop out of the check.
fn pure_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in PURE_DIRS {
        let dir = root.join(dir);
        assert!(dir.is_dir(), "{} is missing; update the pure core's list", dir.display());
        rust_files(&dir, &mut files);
    }
    for dir in OPTIONAL_PURE_DIRS.iter().map(|d| root.join(d)).filter(|d| d.is_dir()) {
        rust_files(&dir, &mut files);
    }
    for file in PURE_FILES {
        let file = root.join(file);
        assert!(file.is_file(), "{} is missing; update the pure core's list", file.display());
        files.push(file);
    }
    files
}

#[test]
fn the_pure_core_names_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for file in pure_files(root) {
        let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let name = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        found.extend(violations(&source).into_iter().map(|v| format!("{name}:{v}")));
    }
    assert!(found.is_empty(), "the pure core reaches into IO:\n{}", found.join("\n"));
}

#[test]
fn grouped_and_nested_imports_are_spelled_out() {
    let source = "use crate::{\n    spiffe::Entry,\n    spire::{Bundle, proto},\n};\n";
    let found = violations(source);
    let named: Vec<_> = found.iter().map(|v| (v.line, v.path.as_str())).collect();
    assert_eq!(named, [(3, "crate::spire::Bundle"), (3, "crate::spire::proto")]);
}

#[test]
fn each_io_edge_is_refused() {
    for source in [
        "use crate::spire;",
        "use crate::{controller, spiffe};",
        "fn f(_: crate::admin::Server) {}",
        "use crate::lease::Lease;",
        "let m = crate::metrics::Metrics::default();",
        "use super::super::spire::SpireClient;",
        "#[tokio::test]",
        "use tokio_stream::StreamExt;",
        "use tonic::Status;",
        "use axum::Router;",
        "use hyper;",
        "use kube::{Api, Resource};",
        "fn f(_: kube::Client) {}",
    ] {
        assert_eq!(violations(source).len(), 1, "{source}");
    }
}

#[test]
fn data_types_comments_and_ids_pass() {
    let source = r#"
use kube::Resource;
use k8s_openapi::api::core::v1::Pod;
use crate::spiffe::{Bundle, SpiffeId};
// use crate::spire::Bundle;
    /// Like [`crate::spire::SpireClient`], but pure.
let id = "spiffe://example.org/spire/agent/k8s_psat/c/n";
let r = kube::runtime::reflector::ObjectRef::from_obj(&view);
entry.admin = spec.admin.unwrap_or(false);
let f = EntryField::Admin;
"#;
    assert_eq!(violations(source), []);
}
