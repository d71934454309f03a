//! SPIRE registration entries and their IDs.

use std::fmt;

use super::{Error, Selector, SpiffeId, TrustDomain};

const MAX_ENTRY_ID_LEN: usize = 255;
const MAX_HINT_LEN: usize = 1024;
const MAX_DNS_NAME_LEN: usize = 253;
const MAX_DNS_LABEL_LEN: usize = 63;

/// The ID of a registration entry: 1 to 255 letters, digits, `.`, `-` or `_`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(String);

impl EntryId {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let valid = !s.is_empty()
            && s.len() <= MAX_ENTRY_ID_LEN
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if valid { Ok(Self(s.to_owned())) } else { Err(Error::EntryId(s.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registration entry. Server-owned fields (`revision_number`, `created_at`) are read-only:
/// SPIRE ignores them on writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// None asks SPIRE to assign an ID on creation.
    pub id: Option<EntryId>,
    pub spiffe_id: SpiffeId,
    pub parent_id: SpiffeId,
    pub selectors: Vec<Selector>,
    /// X509-SVID lifetime in seconds; 0 uses the server default.
    pub x509_svid_ttl: i32,
    /// JWT-SVID lifetime in seconds; 0 uses the server default.
    pub jwt_svid_ttl: i32,
    pub federates_with: Vec<TrustDomain>,
    pub admin: bool,
    pub downstream: bool,
    /// Unix seconds after which SPIRE prunes the entry; 0 never.
    pub expires_at: i64,
    pub dns_names: Vec<String>,
    pub store_svid: bool,
    pub hint: String,
    pub revision_number: i64,
    pub created_at: i64,
}

impl Entry {
    /// An entry with the given identity and every optional field at its default.
    pub fn new(spiffe_id: SpiffeId, parent_id: SpiffeId, selectors: Vec<Selector>) -> Self {
        Self {
            id: None,
            spiffe_id,
            parent_id,
            selectors,
            x509_svid_ttl: 0,
            jwt_svid_ttl: 0,
            federates_with: Vec::new(),
            admin: false,
            downstream: false,
            expires_at: 0,
            dns_names: Vec::new(),
            store_svid: false,
            hint: String::new(),
            revision_number: 0,
            created_at: 0,
        }
    }

    /// Checks the entry against the rules the SPIRE server applies when it is written, except
    /// membership of the server's trust domain, which [`Entry::check_trust_domain`] checks.
    pub fn validate(&self) -> Result<(), Error> {
        self.spiffe_id.check_workload_id()?;
        self.parent_id.check_has_path()?;
        if self.selectors.is_empty() {
            return Err(Error::NoSelectors);
        }
        if self.hint.chars().count() > MAX_HINT_LEN {
            return Err(Error::HintTooLong);
        }
        if self.x509_svid_ttl < 0 {
            return Err(Error::NegativeTtl { field: "x509SVIDTTL" });
        }
        if self.jwt_svid_ttl < 0 {
            return Err(Error::NegativeTtl { field: "jwtSVIDTTL" });
        }
        if self.store_svid && self.selectors.iter().any(|s| s.kind() != self.selectors[0].kind()) {
            return Err(Error::StoreSvidSelectorTypes);
        }
        check_dns_names(&self.dns_names)
    }

    /// Checks that the SPIFFE ID and the parent ID belong to the server's trust domain.
    pub fn check_trust_domain(&self, server: &TrustDomain) -> Result<(), Error> {
        self.spiffe_id.check_member_of(server)?;
        self.parent_id.check_member_of(server)
    }
}

/// Checks every name with [`check_dns_name`] and reports all that fail, not only the first:
/// one bad name as [`Error::DnsName`], several as [`Error::DnsNames`].
pub fn check_dns_names(names: &[String]) -> Result<(), Error> {
    let mut bad: Vec<(String, &'static str)> = names
        .iter()
        .filter_map(|name| match check_dns_name(name) {
            Err(Error::DnsName { name, why }) => Some((name, why)),
            _ => None,
        })
        .collect();
    match bad.len() {
        0 => Ok(()),
        1 => {
            let (name, why) = bad.remove(0);
            Err(Error::DnsName { name, why })
        }
        _ => Err(Error::DnsNames(bad)),
    }
}

/// SPIRE's DNS name rules: ASCII letters, digits and hyphens in labels of 1 to 63 characters that
/// neither start nor end with a hyphen, at most 253 characters, no trailing dot, and at most one
/// wildcard, as a whole leading `*.` label.
pub fn check_dns_name(name: &str) -> Result<(), Error> {
    let invalid = |why| Err(Error::DnsName { name: name.to_owned(), why });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if !name.is_ascii() {
        return invalid("it is not ASCII");
    }
    if name.len() > MAX_DNS_NAME_LEN {
        return invalid("it is longer than 253 characters");
    }
    let rest = name.strip_prefix("*.").unwrap_or(name);
    if rest.contains('*') {
        return invalid("a wildcard may only be a whole leading '*.' label");
    }
    for label in rest.split('.') {
        if label.is_empty() {
            return invalid("it has an empty label");
        }
        if label.len() > MAX_DNS_LABEL_LEN {
            return invalid("a label is longer than 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return invalid("labels may hold only letters, digits and '-'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return invalid("a label starts or ends with '-'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry::new(
            SpiffeId::parse("spiffe://example.org/web").unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/k8s_psat/c/n").unwrap(),
            vec![Selector::parse("k8s:ns:default").unwrap()],
        )
    }

    #[test]
    fn entry_id_rules() {
        assert!(EntryId::parse("spire-steward.2f1c-aa_B").is_ok());
        assert!(EntryId::parse(&"a".repeat(255)).is_ok());
        for bad in ["", "a/b", "a b", "caf\u{e9}", &"a".repeat(256)] {
            assert_eq!(EntryId::parse(bad), Err(Error::EntryId(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn a_plain_entry_is_valid() {
        assert_eq!(entry().validate(), Ok(()));
    }

    #[test]
    fn entry_rules() {
        type Mutation = fn(&mut Entry);
        let cases: Vec<(&str, Mutation, Error)> = vec![
            (
                "reserved id",
                |e| e.spiffe_id = SpiffeId::parse("spiffe://example.org/spire/x").unwrap(),
                Error::ReservedPath("spiffe://example.org/spire/x".into()),
            ),
            (
                "id without path",
                |e| e.spiffe_id = SpiffeId::parse("spiffe://example.org").unwrap(),
                Error::EmptyPath("spiffe://example.org".into()),
            ),
            (
                "parent without path",
                |e| e.parent_id = SpiffeId::parse("spiffe://example.org").unwrap(),
                Error::EmptyPath("spiffe://example.org".into()),
            ),
            ("no selectors", |e| e.selectors.clear(), Error::NoSelectors),
            ("long hint", |e| e.hint = "h".repeat(1025), Error::HintTooLong),
            ("negative x509 ttl", |e| e.x509_svid_ttl = -1, Error::NegativeTtl { field: "x509SVIDTTL" }),
            ("negative jwt ttl", |e| e.jwt_svid_ttl = -1, Error::NegativeTtl { field: "jwtSVIDTTL" }),
            (
                "store svid, mixed types",
                |e| {
                    e.store_svid = true;
                    e.selectors.push(Selector::parse("unix:uid:0").unwrap());
                },
                Error::StoreSvidSelectorTypes,
            ),
        ];
        for (name, mutate, want) in cases {
            let mut e = entry();
            mutate(&mut e);
            assert_eq!(e.validate(), Err(want), "{name}");
        }
    }

    #[test]
    fn reserved_parent_and_full_hint_are_allowed() {
        let mut e = entry();
        e.parent_id = SpiffeId::parse("spiffe://example.org/spire/server").unwrap();
        e.hint = "h".repeat(1024);
        e.store_svid = true;
        assert_eq!(e.validate(), Ok(()));
    }

    #[test]
    fn trust_domain_membership_covers_both_ids() {
        let td = TrustDomain::parse("example.org").unwrap();
        assert_eq!(entry().check_trust_domain(&td), Ok(()));
        let mut e = entry();
        e.parent_id = SpiffeId::parse("spiffe://other.org/agent").unwrap();
        assert!(matches!(e.check_trust_domain(&td), Err(Error::ForeignTrustDomain { .. })));
    }

    #[test]
    fn dns_name_rules() {
        for good in ["web", "web.default.svc", "*.example.org", "a-b.c1", &format!("{}.org", "a".repeat(63))] {
            assert_eq!(check_dns_name(good), Ok(()), "{good:?}");
        }
        let bad = [
            ("", "it is empty"),
            ("caf\u{e9}.org", "it is not ASCII"),
            ("a..b", "it has an empty label"),
            ("example.org.", "it has an empty label"),
            ("*.*.example.org", "a wildcard may only be a whole leading '*.' label"),
            ("w*.example.org", "a wildcard may only be a whole leading '*.' label"),
            ("a_b.org", "labels may hold only letters, digits and '-'"),
            ("-a.org", "a label starts or ends with '-'"),
            ("a-.org", "a label starts or ends with '-'"),
        ];
        for (name, why) in bad {
            assert_eq!(check_dns_name(name), Err(Error::DnsName { name: name.into(), why }), "{name:?}");
        }
        let long_label = format!("{}.org", "a".repeat(64));
        assert!(check_dns_name(&long_label).is_err());
        let long_name = vec!["a".repeat(60); 5].join(".");
        assert!(check_dns_name(&long_name).is_err());
    }

    #[test]
    fn every_bad_dns_name_is_named() {
        let mut e = entry();
        e.dns_names = vec!["ok.example.org".into(), "a_b.org".into()];
        assert_eq!(
            e.validate().unwrap_err().to_string(),
            r#"DNS name "a_b.org" is invalid: labels may hold only letters, digits and '-'"#,
            "one bad name reads as before"
        );
        e.dns_names = vec!["a_b.org".into(), "ok.example.org".into(), "-x.org".into(), String::new()];
        let err = e.validate().unwrap_err();
        assert_eq!(
            err,
            Error::DnsNames(vec![
                ("a_b.org".into(), "labels may hold only letters, digits and '-'"),
                ("-x.org".into(), "a label starts or ends with '-'"),
                (String::new(), "it is empty"),
            ])
        );
        assert_eq!(
            err.to_string(),
            r#"3 DNS names are invalid: "a_b.org": labels may hold only letters, digits and '-'; "-x.org": a label starts or ends with '-'; "": it is empty"#
        );
    }
}
