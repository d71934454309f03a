//! `clusterSPIFFEIDLabelSelector` and `filterByClassName` (spire-controller-manager v0.7.0): which
//! ClusterSPIFFEIDs the operator watches at all, as a label selector the API server applies, so
//! objects outside it never reach the cache.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Error, invalid};

/// The label `filterByClassName` selects on: `spire.spiffe.io/class-name=<className>`.
pub const CLASS_NAME_LABEL: &str = "spire.spiffe.io/class-name";

/// A Kubernetes label selector, as written in the file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorFile {
    pub match_labels: Option<BTreeMap<String, String>>,
    pub match_expressions: Option<Vec<ExpressionFile>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpressionFile {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

const KEY: &str = "clusterSPIFFEIDLabelSelector";

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of 1 to 63 letters, digits,
/// `-`, `_` or `.`, starting and ending with a letter or digit.
fn valid_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

fn valid_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
                && valid_name(name)
        }
        None => valid_name(key),
    }
}

fn valid_value(value: &str) -> bool {
    value.is_empty() || valid_name(value)
}

/// The selector string of the ClusterSPIFFEID watch (`a=b,c in (d,e),!f`), or None to watch
/// them all. `class_name` is the configured `className`, which `filterByClassName` needs.
pub fn watch_selector(
    selector: Option<&LabelSelectorFile>,
    filter_by_class_name: bool,
    class_name: Option<&str>,
) -> Result<Option<String>, Error> {
    let mut parts = Vec::new();
    if let Some(selector) = selector {
        // filterByClassName sets the class label itself, over the selector's.
        let labels =
            selector.match_labels.iter().flatten().filter(|(k, _)| !(filter_by_class_name && *k == CLASS_NAME_LABEL));
        for (key, value) in labels {
            if !valid_key(key) {
                return Err(invalid(KEY, format!("matchLabels key {key:?} is not a valid label key")));
            }
            if !valid_value(value) {
                return Err(invalid(KEY, format!("matchLabels {key}: {value:?} is not a valid label value")));
            }
            parts.push(format!("{key}={value}"));
        }
        for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
            if !valid_key(&e.key) {
                return Err(invalid(KEY, format!("matchExpressions[{i}].key {:?} is not a valid label key", e.key)));
            }
            if let Some(v) = e.values.iter().find(|v| !valid_value(v)) {
                return Err(invalid(KEY, format!("matchExpressions[{i}].values: {v:?} is not a valid label value")));
            }
            if !matches!(e.operator.as_str(), "In" | "NotIn" | "Exists" | "DoesNotExist") {
                return Err(invalid(
                    KEY,
                    format!("matchExpressions[{i}].operator {:?} is not In, NotIn, Exists or DoesNotExist", e.operator),
                ));
            }
            let needs_values = matches!(e.operator.as_str(), "In" | "NotIn");
            if needs_values == e.values.is_empty() {
                let what = if needs_values { "needs values" } else { "takes no values" };
                return Err(invalid(KEY, format!("matchExpressions[{i}]: operator {} {what}", e.operator)));
            }
            parts.push(match e.operator.as_str() {
                "In" => format!("{} in ({})", e.key, e.values.join(",")),
                "NotIn" => format!("{} notin ({})", e.key, e.values.join(",")),
                "Exists" => e.key.clone(),
                _ => format!("!{}", e.key),
            });
        }
    }
    if filter_by_class_name {
        let class = class_name.ok_or_else(|| invalid("filterByClassName", "needs className"))?;
        if !valid_value(class) {
            return Err(invalid("filterByClassName", format!("className {class:?} is not a valid label value")));
        }
        parts.push(format!("{CLASS_NAME_LABEL}={class}"));
    }
    Ok((!parts.is_empty()).then(|| parts.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(yaml: &str) -> LabelSelectorFile {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn a_selector_becomes_the_watchs_label_selector() {
        let s = selector(
            "matchLabels: {team: payments}\nmatchExpressions:\n- {key: tier, operator: In, values: [a, b]}\n\
             - {key: example.com/legacy, operator: DoesNotExist}\n- {key: env, operator: NotIn, values: [dev]}\n\
             - {key: owned, operator: Exists}\n",
        );
        assert_eq!(
            watch_selector(Some(&s), false, None).unwrap().as_deref(),
            Some("team=payments,tier in (a,b),!example.com/legacy,env notin (dev),owned")
        );
        assert_eq!(
            watch_selector(None, true, Some("blue")).unwrap().as_deref(),
            Some("spire.spiffe.io/class-name=blue")
        );
        assert_eq!(watch_selector(None, false, Some("blue")).unwrap(), None);
    }

    #[test]
    fn a_bad_selector_is_refused_naming_the_part() {
        let err = |s: Option<&str>, filter: bool, class: Option<&str>| {
            watch_selector(s.map(selector).as_ref(), filter, class).unwrap_err().to_string()
        };
        assert_eq!(err(None, true, None), "filterByClassName: needs className");
        assert_eq!(
            err(Some("matchLabels: {'bad key!': x}"), false, None),
            "clusterSPIFFEIDLabelSelector: matchLabels key \"bad key!\" is not a valid label key"
        );
        assert_eq!(
            err(Some("matchExpressions: [{key: a, operator: In}]"), false, None),
            "clusterSPIFFEIDLabelSelector: matchExpressions[0]: operator In needs values"
        );
        assert_eq!(
            err(Some("matchExpressions: [{key: a, operator: Gt, values: ['1']}]"), false, None),
            "clusterSPIFFEIDLabelSelector: matchExpressions[0].operator \"Gt\" is not In, NotIn, Exists or DoesNotExist"
        );
    }
}
