//! SPIFFE IDs and trust domain names.

use std::fmt;

use super::Error;

const SCHEME: &str = "spiffe://";
const MAX_TRUST_DOMAIN_LEN: usize = 255;

/// A trust domain name such as `example.org`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Parses a bare name (`example.org`) or its SPIFFE ID form (`spiffe://example.org`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let name = s.strip_prefix(SCHEME).unwrap_or(s);
        check_trust_domain(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The bare name, without scheme.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trust domain's own SPIFFE ID, `spiffe://<name>`.
    pub fn id_string(&self) -> String {
        format!("{SCHEME}{}", self.0)
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_trust_domain(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::EmptyTrustDomain);
    }
    if name.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(Error::TrustDomainTooLong);
    }
    match name.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_')) {
        Some(c) => Err(Error::TrustDomainChar(c)),
        None => Ok(()),
    }
}

/// A SPIFFE ID: a trust domain and a path that is empty or starts with `/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeId {
    trust_domain: TrustDomain,
    path: String,
}

impl SpiffeId {
    /// Parses `spiffe://<trust domain><path>` with the SPIFFE rules.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let rest = s.strip_prefix(SCHEME).ok_or_else(|| Error::MissingScheme(s.to_owned()))?;
        let (td, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        Self::from_parts(td, path)
    }

    /// Builds a SPIFFE ID from a trust domain name and a path, as SPIRE's API carries them.
    pub fn from_parts(trust_domain: &str, path: &str) -> Result<Self, Error> {
        check_trust_domain(trust_domain)?;
        check_path(path)?;
        Ok(Self { trust_domain: TrustDomain(trust_domain.to_owned()), path: path.to_owned() })
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The path, empty or starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the ID lies in SPIRE's reserved `/spire` namespace (agents, servers).
    pub fn is_reserved(&self) -> bool {
        self.path == "/spire" || self.path.starts_with("/spire/")
    }

    /// Checks what SPIRE requires of an entry's SPIFFE ID: a path outside `/spire`.
    pub fn check_workload_id(&self) -> Result<(), Error> {
        self.check_has_path()?;
        if self.is_reserved() {
            return Err(Error::ReservedPath(self.to_string()));
        }
        Ok(())
    }

    /// Checks what SPIRE requires of an entry's parent ID: a non-empty path.
    pub fn check_has_path(&self) -> Result<(), Error> {
        if self.path.is_empty() {
            return Err(Error::EmptyPath(self.to_string()));
        }
        Ok(())
    }

    /// Checks that the ID belongs to `expected`.
    pub fn check_member_of(&self, expected: &TrustDomain) -> Result<(), Error> {
        if &self.trust_domain != expected {
            return Err(Error::ForeignTrustDomain { id: self.to_string(), expected: expected.to_string() });
        }
        Ok(())
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}{}", self.trust_domain, self.path)
    }
}

fn check_path(path: &str) -> Result<(), Error> {
    if path.is_empty() {
        return Ok(());
    }
    let Some(segments) = path.strip_prefix('/') else {
        return Err(Error::PathChar(path.chars().next().unwrap_or('?')));
    };
    if segments.is_empty() {
        return Err(Error::TrailingSlash);
    }
    let last = segments.split('/').count() - 1;
    for (i, segment) in segments.split('/').enumerate() {
        if segment.is_empty() {
            return Err(if i == last { Error::TrailingSlash } else { Error::EmptySegment });
        }
        if segment == "." || segment == ".." {
            return Err(Error::DotSegment);
        }
        if let Some(c) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
            return Err(Error::PathChar(c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_domain_rules() {
        let cases: &[(&str, Result<&str, Error>)] = &[
            ("example.org", Ok("example.org")),
            ("spiffe://example.org", Ok("example.org")),
            ("a-b_c.9", Ok("a-b_c.9")),
            ("", Err(Error::EmptyTrustDomain)),
            ("spiffe://", Err(Error::EmptyTrustDomain)),
            ("Example.org", Err(Error::TrustDomainChar('E'))),
            ("exa mple", Err(Error::TrustDomainChar(' '))),
            ("example.org:443", Err(Error::TrustDomainChar(':'))),
        ];
        for (input, want) in cases {
            let got = TrustDomain::parse(input);
            assert_eq!(got.as_ref().map(TrustDomain::as_str).map_err(Clone::clone), want.clone(), "{input:?}");
        }
        assert_eq!(TrustDomain::parse(&"a".repeat(256)), Err(Error::TrustDomainTooLong));
        assert!(TrustDomain::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn spiffe_id_rules() {
        type Case = (&'static str, Result<(&'static str, &'static str), Error>);
        let cases: &[Case] = &[
            ("spiffe://example.org", Ok(("example.org", ""))),
            ("spiffe://example.org/ns/default/sa/web", Ok(("example.org", "/ns/default/sa/web"))),
            ("spiffe://example.org/A.b-c_9", Ok(("example.org", "/A.b-c_9"))),
            ("https://example.org/x", Err(Error::MissingScheme("https://example.org/x".into()))),
            ("SPIFFE://example.org/x", Err(Error::MissingScheme("SPIFFE://example.org/x".into()))),
            ("spiffe:///x", Err(Error::EmptyTrustDomain)),
            ("spiffe://Example.org/x", Err(Error::TrustDomainChar('E'))),
            ("spiffe://example.org/", Err(Error::TrailingSlash)),
            ("spiffe://example.org/a/", Err(Error::TrailingSlash)),
            ("spiffe://example.org//a", Err(Error::EmptySegment)),
            ("spiffe://example.org/a/./b", Err(Error::DotSegment)),
            ("spiffe://example.org/a/..", Err(Error::DotSegment)),
            ("spiffe://example.org/a b", Err(Error::PathChar(' '))),
            ("spiffe://example.org/a?b", Err(Error::PathChar('?'))),
            ("spiffe://example.org/a#b", Err(Error::PathChar('#'))),
            ("spiffe://example.org/caf\u{e9}", Err(Error::PathChar('\u{e9}'))),
            ("spiffe://user@example.org/a", Err(Error::TrustDomainChar('@'))),
        ];
        for (input, want) in cases {
            let got = SpiffeId::parse(input).map(|id| (id.trust_domain().as_str().to_owned(), id.path().to_owned()));
            let want = want.clone().map(|(t, p)| (t.to_owned(), p.to_owned()));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["spiffe://example.org", "spiffe://example.org/a/b"] {
            assert_eq!(SpiffeId::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn from_parts_rejects_a_relative_path() {
        assert_eq!(SpiffeId::from_parts("example.org", "a/b"), Err(Error::PathChar('a')));
    }

    #[test]
    fn reserved_path_is_spire_and_below_only() {
        let reserved = |s: &str| SpiffeId::parse(s).unwrap().is_reserved();
        assert!(reserved("spiffe://example.org/spire"));
        assert!(reserved("spiffe://example.org/spire/agent/k8s_psat/c/n"));
        assert!(!reserved("spiffe://example.org/spirex"));
        assert!(!reserved("spiffe://example.org/ns/spire"));
    }

    #[test]
    fn workload_id_needs_a_path_outside_spire() {
        let check = |s: &str| SpiffeId::parse(s).unwrap().check_workload_id();
        assert_eq!(check("spiffe://example.org"), Err(Error::EmptyPath("spiffe://example.org".into())));
        assert_eq!(
            check("spiffe://example.org/spire/server"),
            Err(Error::ReservedPath("spiffe://example.org/spire/server".into()))
        );
        assert_eq!(check("spiffe://example.org/web"), Ok(()));
    }

    #[test]
    fn parent_id_may_be_reserved_but_needs_a_path() {
        let check = |s: &str| SpiffeId::parse(s).unwrap().check_has_path();
        assert_eq!(check("spiffe://example.org/spire/server"), Ok(()));
        assert_eq!(check("spiffe://example.org"), Err(Error::EmptyPath("spiffe://example.org".into())));
    }

    #[test]
    fn membership_compares_trust_domains() {
        let td = TrustDomain::parse("example.org").unwrap();
        assert_eq!(SpiffeId::parse("spiffe://example.org/a").unwrap().check_member_of(&td), Ok(()));
        assert_eq!(
            SpiffeId::parse("spiffe://other.org/a").unwrap().check_member_of(&td),
            Err(Error::ForeignTrustDomain { id: "spiffe://other.org/a".into(), expected: "example.org".into() })
        );
    }
}
