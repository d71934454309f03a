//! SPIFFE ID path patterns, as policies and exceptions write them.
//!
//! A pattern is an absolute path whose segments are each one of:
//! - a literal, compared byte for byte (no percent-decoding: `%2F` is three characters, not a
//!   slash);
//! - a placeholder `{namespace}`, `{serviceAccount}`, `{podName}` or `{nodeName}`, matching exactly
//!   the identity's value of that attribute;
//! - `*`, matching exactly one non-empty segment;
//! - `**`, matching any number of segments, zero included, anywhere in the pattern.
//!
//! A placeholder or glob fills its segment alone: `/ns-{namespace}` and `/app-*` are refused, so
//! that a segment is either compared literally or matched whole. Patterns are refused when they do
//! not start with `/`, have an empty segment (`//` or a trailing `/`), have a `.` or `..` segment,
//! or name an unknown placeholder.

use std::fmt;

/// The identity attributes a pattern can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    Namespace,
    ServiceAccount,
    PodName,
    NodeName,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Placeholder> {
        match name {
            "namespace" => Some(Placeholder::Namespace),
            "serviceAccount" => Some(Placeholder::ServiceAccount),
            "podName" => Some(Placeholder::PodName),
            "nodeName" => Some(Placeholder::NodeName),
            _ => None,
        }
    }
}

/// One segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(Placeholder),
    Star,
    DoubleStar,
}

/// A pattern that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern {0:?} does not start with '/'")]
    NotAbsolute(String),
    #[error("pattern {0:?} has an empty segment")]
    EmptySegment(String),
    #[error("pattern {0:?} has a '.' or '..' segment")]
    DotSegment(String),
    #[error("pattern {pattern:?} names unknown placeholder {{{name}}}")]
    UnknownPlaceholder { pattern: String, name: String },
    #[error("pattern {pattern:?} mixes a placeholder or glob with other text in segment {segment:?}")]
    MixedSegment { pattern: String, segment: String },
}

/// The values placeholders stand for, for one identity. An absent value (a static entry has no
/// namespace, service account, pod or node) makes its placeholder match nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bindings<'a> {
    pub namespace: Option<&'a str>,
    pub service_account: Option<&'a str>,
    pub pod_name: Option<&'a str>,
    pub node_name: Option<&'a str>,
}

impl<'a> Bindings<'a> {
    fn get(&self, placeholder: Placeholder) -> Option<&'a str> {
        match placeholder {
            Placeholder::Namespace => self.namespace,
            Placeholder::ServiceAccount => self.service_account,
            Placeholder::PodName => self.pod_name,
            Placeholder::NodeName => self.node_name,
        }
    }
}

/// A SPIFFE ID path pattern, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Pattern {
    /// Parses a pattern, refusing what the module documentation lists.
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let Some(rest) = source.strip_prefix('/') else {
            return Err(PatternError::NotAbsolute(source.to_owned()));
        };
        let mut segments = Vec::new();
        for text in rest.split('/') {
            segments.push(match text {
                "" => return Err(PatternError::EmptySegment(source.to_owned())),
                "." | ".." => return Err(PatternError::DotSegment(source.to_owned())),
                "*" => Segment::Star,
                "**" => Segment::DoubleStar,
                _ => {
                    if let Some(name) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                        if name.contains(['{', '}']) {
                            return Err(mixed(source, text));
                        }
                        let placeholder = Placeholder::parse(name).ok_or_else(|| PatternError::UnknownPlaceholder {
                            pattern: source.to_owned(),
                            name: name.to_owned(),
                        })?;
                        Segment::Placeholder(placeholder)
                    } else if text.contains(['{', '}', '*']) {
                        return Err(mixed(source, text));
                    } else {
                        Segment::Literal(text.to_owned())
                    }
                }
            });
        }
        Ok(Pattern { source: source.to_owned(), segments })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether a SPIFFE ID path (`/ns/a/sa/b`, the empty string for the trust domain's own ID)
    /// matches. The path is split on `/` and compared segment by segment, so no placeholder value
    /// can span a `/`, and a value containing `/` matches nothing. A path that does not start
    /// with `/` (other than the empty path) matches nothing.
    pub fn matches(&self, path: &str, bindings: &Bindings<'_>) -> bool {
        let segments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else if let Some(rest) = path.strip_prefix('/') {
            rest.split('/').collect()
        } else {
            return false;
        };
        match_segments(&self.segments, &segments, bindings)
    }
}

fn mixed(pattern: &str, segment: &str) -> PatternError {
    PatternError::MixedSegment { pattern: pattern.to_owned(), segment: segment.to_owned() }
}

fn match_segments(pattern: &[Segment], path: &[&str], bindings: &Bindings<'_>) -> bool {
    let Some((first, rest)) = pattern.split_first() else {
        return path.is_empty();
    };
    match first {
        Segment::DoubleStar => (0..=path.len()).any(|skip| match_segments(rest, &path[skip..], bindings)),
        _ => {
            let Some((segment, path_rest)) = path.split_first() else {
                return false;
            };
            let here = match first {
                Segment::Literal(literal) => literal == segment,
                Segment::Placeholder(placeholder) => bindings
                    .get(*placeholder)
                    .is_some_and(|value| !value.is_empty() && !value.contains('/') && value == *segment),
                Segment::Star => !segment.is_empty(),
                Segment::DoubleStar => unreachable!("handled above"),
            };
            here && match_segments(rest, path_rest, bindings)
        }
    }
}

/// Whether a path is in the normal form SPIFFE IDs have: empty, or `/`-separated segments none of
/// which is empty, `.` or `..`. Policies deny any other path outright.
pub fn is_normal_path(path: &str) -> bool {
    if path.is_empty() {
        return true;
    }
    path.strip_prefix('/').is_some_and(|rest| rest.split('/').all(|s| !matches!(s, "" | "." | "..")))
}
