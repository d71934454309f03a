//! ClusterSPIFFEID templates, rendered exactly as spire-controller-manager renders them.
//!
//! spire-controller-manager uses Go's standard text/template with its default options and
//! no extra functions. This module implements that language for the one data shape
//! templates see ([`TemplateData`]), so that every template behaves as it does there:
//!
//! - the syntax of actions, pipelines, variables, `if`/`else`/`with`/`range`/`break`/
//!   `continue`, `define`/`template`/`block`, comments and `{{- -}}` trimming;
//! - only the built-in functions `and`, `or`, `not`, `len`, `index`, `slice`, `print`,
//!   `printf`, `println`, `html`, `js`, `urlquery`, `call`, `eq`, `ne`, `lt`, `le`, `gt`,
//!   `ge`; any other function name is a parse error;
//! - field names are Go field names (`.PodMeta.Namespace`, `.PodSpec.ServiceAccountName`);
//!   a field a struct does not have is an error, while a missing key of a map such as
//!   `.PodMeta.Labels.foo` renders `<no value>` (`index .PodMeta.Labels "foo"` renders "");
//! - reading a field through a nil pointer is an error: `.PodSpec.SecurityContext.RunAsUser`
//!   without a security context, or `.PodMeta` in a parent ID template;
//! - values print as Go prints them: `metav1.Time` as `2026-01-02 03:04:05 +0000 UTC`,
//!   maps as `map[k:v]`, mismatched `printf` verbs as `%!d(string=x)`.
//!
//! Where Go's output would be meaningless in an identifier, rendering fails instead:
//! printing a whole Kubernetes struct (Go would print a debug dump) is an error. A template
//! is parsed once with [`Template::parse`] and rendered for many pods with
//! [`Template::render`]; rendering borrows from the pod and node and copies nothing.

mod data;
mod error;
mod executor;
mod float;
mod format;
mod functions;
mod lexer;
mod parser;
mod time;
mod tree;
mod value;

#[cfg(test)]
mod tests;

pub use data::{ClusterInfo, TemplateData};
pub use error::{Location, TemplateError};

/// A parsed template, ready to render any number of times, from any thread.
#[derive(Debug)]
pub struct Template {
    text: String,
    tree: parser::Tree,
}

impl Template {
    /// Parses template text. Fails with [`TemplateError::Parse`] on anything Go's
    /// text/template rejects when parsing.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let tree = parser::parse(text)?;
        Ok(Template { text: text.to_string(), tree })
    }

    /// Renders the template with `data`.
    pub fn render(&self, data: &TemplateData<'_>) -> Result<String, TemplateError> {
        executor::execute(&self.text, &self.tree, data.root())
    }

    /// The text the template was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Parses template text; see [`Template::parse`].
pub fn parse(text: &str) -> Result<Template, TemplateError> {
    Template::parse(text)
}
