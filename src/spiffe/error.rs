//! Validation errors of SPIFFE and SPIRE domain values.

/// Why a value is not a valid SPIFFE or SPIRE value. Each variant names one rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("trust domain is empty")]
    EmptyTrustDomain,
    #[error("trust domain is longer than 255 characters")]
    TrustDomainTooLong,
    #[error("trust domain contains {0:?}; only lowercase letters, digits, '.', '-' and '_' are allowed")]
    TrustDomainChar(char),
    #[error("SPIFFE ID {0:?} does not start with spiffe://")]
    MissingScheme(String),
    #[error("SPIFFE ID path has an empty segment")]
    EmptySegment,
    #[error("SPIFFE ID path has a '.' or '..' segment")]
    DotSegment,
    #[error("SPIFFE ID path ends with '/'")]
    TrailingSlash,
    #[error("SPIFFE ID path contains {0:?}; only letters, digits, '.', '-' and '_' are allowed")]
    PathChar(char),
    #[error("SPIFFE ID {0} has no path")]
    EmptyPath(String),
    #[error("SPIFFE ID {0} is under the reserved /spire path")]
    ReservedPath(String),
    #[error("SPIFFE ID {id} is not in trust domain {expected}")]
    ForeignTrustDomain { id: String, expected: String },
    #[error("selector {0:?} is not of the form type:value")]
    SelectorShape(String),
    #[error("selector {0:?} has an empty type")]
    SelectorType(String),
    #[error("selector {0:?} has an empty value")]
    SelectorValue(String),
    #[error("entry has no selectors")]
    NoSelectors,
    #[error(
        "entry ID {0:?} is empty, longer than 255 characters, or has characters other than letters, digits, '.', '-' and '_'"
    )]
    EntryId(String),
    #[error("hint is longer than 1024 characters")]
    HintTooLong,
    #[error("{field} is negative")]
    NegativeTtl { field: &'static str },
    #[error("storeSVID needs all selectors to share one type")]
    StoreSvidSelectorTypes,
    #[error("DNS name {name:?} is invalid: {why}")]
    DnsName { name: String, why: &'static str },
    /// More than one DNS name of an entry is invalid: each name with the rule it breaks.
    #[error("{} DNS names are invalid: {}", .0.len(), list_dns_names(.0))]
    DnsNames(Vec<(String, &'static str)>),
}

impl Error {
    /// The rule a malformed SPIFFE ID breaks, worded to follow the ID itself, as in
    /// `rendered SPIFFE ID "spiffe://td/<nil>" is invalid: path contains '<'; ...`.
    pub fn id_problem(&self) -> String {
        match self {
            Error::MissingScheme(_) => "it does not start with spiffe://".to_owned(),
            Error::EmptySegment => "path has an empty segment".to_owned(),
            Error::DotSegment => "path has a '.' or '..' segment".to_owned(),
            Error::TrailingSlash => "path ends with '/'".to_owned(),
            Error::PathChar(c) => format!("path contains {c:?}; only letters, digits, '.', '-' and '_' are allowed"),
            other => other.to_string(),
        }
    }
}

fn list_dns_names(names: &[(String, &'static str)]) -> String {
    names.iter().map(|(name, why)| format!("{name:?}: {why}")).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_problems_word_the_same_rule_without_the_subject() {
        for e in [Error::EmptySegment, Error::DotSegment, Error::TrailingSlash, Error::PathChar('<')] {
            assert_eq!(e.to_string(), format!("SPIFFE ID {}", e.id_problem()));
        }
        assert_eq!(Error::MissingScheme("x".into()).id_problem(), "it does not start with spiffe://");
        assert_eq!(Error::TrustDomainChar('E').id_problem(), Error::TrustDomainChar('E').to_string());
    }
}
