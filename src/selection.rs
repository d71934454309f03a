//! Which namespaces, pods and resources an operator instance acts on. Each rule is one function,
//! used alike by reconciliation, status and reports.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use regex::Regex;

/// A label selector that cannot be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("label selector operator {0:?} is not In, NotIn, Exists or DoesNotExist")]
    Operator(String),
    #[error("label selector operator {operator} on key {key:?} needs at least one value")]
    MissingValues { operator: String, key: String },
    #[error("label selector operator {operator} on key {key:?} takes no values")]
    UnexpectedValues { operator: String, key: String },
}

/// Checks a label selector once, so that evaluating it later cannot fail.
pub fn check_selector(selector: &LabelSelector) -> Result<(), Error> {
    for expr in selector.match_expressions.iter().flatten() {
        let has_values = expr.values.as_ref().is_some_and(|v| !v.is_empty());
        match expr.operator.as_str() {
            "In" | "NotIn" if !has_values => {
                return Err(Error::MissingValues { operator: expr.operator.clone(), key: expr.key.clone() });
            }
            "Exists" | "DoesNotExist" if has_values => {
                return Err(Error::UnexpectedValues { operator: expr.operator.clone(), key: expr.key.clone() });
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(Error::Operator(other.to_owned())),
        }
    }
    Ok(())
}

/// Whether `labels` satisfy `selector`. An absent or empty selector selects everything. The
/// selector must have passed [`check_selector`]; an unknown operator selects nothing.
pub fn selects(selector: Option<&LabelSelector>, labels: Option<&BTreeMap<String, String>>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let label = |key: &str| labels.and_then(|l| l.get(key));
    let labels_match = selector.match_labels.iter().flatten().all(|(k, v)| label(k) == Some(v));
    labels_match
        && selector.match_expressions.iter().flatten().all(|expr| {
            let values = expr.values.as_deref().unwrap_or_default();
            match expr.operator.as_str() {
                "In" => label(&expr.key).is_some_and(|v| values.contains(v)),
                "NotIn" => label(&expr.key).is_none_or(|v| !values.contains(v)),
                "Exists" => label(&expr.key).is_some(),
                "DoesNotExist" => label(&expr.key).is_none(),
                _ => false,
            }
        })
}

/// Whether a namespace is ignored: any pattern matching anywhere in its name, as in
/// spire-controller-manager (`default` also ignores `nondefault`; anchor with `^...$`).
pub fn is_ignored_namespace(namespace: &str, ignore: &[Regex]) -> bool {
    ignore.iter().any(|re| re.is_match(namespace))
}

/// Whether this operator instance handles a resource of class `class`: its own class, or a
/// resource without a class when it watches classless resources.
pub fn handles_class(class: Option<&str>, own_class: Option<&str>, watch_classless: bool) -> bool {
    match class.filter(|c| !c.is_empty()) {
        None => watch_classless || own_class.is_none(),
        Some(c) => own_class == Some(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn selector_semantics() {
        let app_web = labels(&[("app", "web"), ("tier", "front")]);
        let cases: Vec<(&str, LabelSelector, bool)> = vec![
            ("empty selects all", LabelSelector::default(), true),
            (
                "matchLabels hit",
                LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() },
                true,
            ),
            (
                "matchLabels miss",
                LabelSelector { match_labels: Some(labels(&[("app", "db")])), ..Default::default() },
                false,
            ),
            (
                "In",
                LabelSelector {
                    match_expressions: Some(vec![expr("app", "In", &["web", "api"])]),
                    ..Default::default()
                },
                true,
            ),
            (
                "In absent",
                LabelSelector { match_expressions: Some(vec![expr("x", "In", &["a"])]), ..Default::default() },
                false,
            ),
            (
                "NotIn",
                LabelSelector { match_expressions: Some(vec![expr("app", "NotIn", &["web"])]), ..Default::default() },
                false,
            ),
            (
                "NotIn absent",
                LabelSelector { match_expressions: Some(vec![expr("x", "NotIn", &["a"])]), ..Default::default() },
                true,
            ),
            (
                "Exists",
                LabelSelector { match_expressions: Some(vec![expr("tier", "Exists", &[])]), ..Default::default() },
                true,
            ),
            (
                "DoesNotExist",
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                false,
            ),
            (
                "labels and expressions are ANDed",
                LabelSelector {
                    match_labels: Some(labels(&[("app", "web")])),
                    match_expressions: Some(vec![expr("tier", "In", &["back"])]),
                },
                false,
            ),
        ];
        for (name, selector, want) in cases {
            assert_eq!(check_selector(&selector), Ok(()), "{name}");
            assert_eq!(selects(Some(&selector), Some(&app_web)), want, "{name}");
        }
        assert!(selects(None, None));
        assert!(!selects(
            Some(&LabelSelector { match_labels: Some(labels(&[("a", "b")])), ..Default::default() }),
            None
        ));
    }

    #[test]
    fn invalid_selectors_are_reported() {
        let bad = |e| LabelSelector { match_expressions: Some(vec![e]), ..Default::default() };
        assert_eq!(check_selector(&bad(expr("a", "Equals", &["b"]))), Err(Error::Operator("Equals".into())));
        assert!(matches!(check_selector(&bad(expr("a", "In", &[]))), Err(Error::MissingValues { .. })));
        assert!(matches!(check_selector(&bad(expr("a", "Exists", &["b"]))), Err(Error::UnexpectedValues { .. })));
    }

    #[test]
    fn ignored_namespaces_match_anywhere_unless_anchored() {
        let ignore = [Regex::new("kube-system").unwrap(), Regex::new("^spire$").unwrap()];
        assert!(is_ignored_namespace("kube-system", &ignore));
        assert!(is_ignored_namespace("my-kube-system-copy", &ignore));
        assert!(is_ignored_namespace("spire", &ignore));
        assert!(!is_ignored_namespace("spire-system", &ignore));
    }

    #[test]
    fn class_rule() {
        assert!(handles_class(None, None, false), "no class on either side");
        assert!(!handles_class(None, Some("blue"), false));
        assert!(handles_class(None, Some("blue"), true));
        assert!(handles_class(Some("blue"), Some("blue"), false));
        assert!(!handles_class(Some("red"), Some("blue"), true));
        assert!(!handles_class(Some("red"), None, true));
        assert!(handles_class(Some(""), None, false), "an empty class is no class");
    }
}
