//! Workload and node selectors, `type:value`.

use std::fmt;

use super::Error;

/// A selector such as `k8s:ns:default`: a type without `:` and a non-empty value, which may
/// itself contain `:`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    kind: String,
    value: String,
}

impl Selector {
    /// Parses `type:value`, split at the first colon.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (kind, value) = s.split_once(':').ok_or_else(|| Error::SelectorShape(s.to_owned()))?;
        Self::new(kind, value).map_err(|e| match e {
            Error::SelectorType(_) => Error::SelectorType(s.to_owned()),
            _ => Error::SelectorValue(s.to_owned()),
        })
    }

    /// Builds a selector from its parts, as SPIRE's API carries them.
    pub fn new(kind: &str, value: &str) -> Result<Self, Error> {
        let whole = || format!("{kind}:{value}");
        if kind.is_empty() || kind.contains(':') {
            return Err(Error::SelectorType(whole()));
        }
        if value.is_empty() {
            return Err(Error::SelectorValue(whole()));
        }
        Ok(Self { kind: kind.to_owned(), value: value.to_owned() })
    }

    /// The selector type, such as `k8s` or `unix`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_rules() {
        type Case = (&'static str, Result<(&'static str, &'static str), Error>);
        let cases: &[Case] = &[
            ("k8s:ns:default", Ok(("k8s", "ns:default"))),
            ("unix:uid:0", Ok(("unix", "uid:0"))),
            ("k8s:pod-uid:1234", Ok(("k8s", "pod-uid:1234"))),
            ("x:y", Ok(("x", "y"))),
            ("k8s", Err(Error::SelectorShape("k8s".into()))),
            (":value", Err(Error::SelectorType(":value".into()))),
            ("k8s:", Err(Error::SelectorValue("k8s:".into()))),
            ("", Err(Error::SelectorShape(String::new()))),
        ];
        for (input, want) in cases {
            let got = Selector::parse(input).map(|s| (s.kind().to_owned(), s.value().to_owned()));
            let want = want.clone().map(|(k, v)| (k.to_owned(), v.to_owned()));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn new_rejects_a_type_with_a_colon() {
        assert_eq!(Selector::new("k8s:ns", "x"), Err(Error::SelectorType("k8s:ns:x".into())));
    }

    #[test]
    fn display_round_trips() {
        assert_eq!(Selector::parse("k8s:ns:default").unwrap().to_string(), "k8s:ns:default");
    }
}
