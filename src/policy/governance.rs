//! Every valid policy and exception, and the verdict on one entry of one identity.

use std::collections::BTreeMap;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::LabelSelector, jiff::Timestamp};

use super::{Decision, Exception, Policy, PolicyMatch, Request, decide, governs, in_force};
use crate::{reconcile::SourceKind, selection};

/// A valid policy and which identities it governs.
#[derive(Clone, Debug, PartialEq)]
pub struct GoverningPolicy {
    pub policy_match: PolicyMatch,
    pub policy: Policy,
}

/// A valid exception and what it targets.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetedException {
    pub exception: Exception,
    pub kind: SourceKind,
    /// Limits the exception to the target's pods with these labels.
    pub pod_selector: Option<LabelSelector>,
}

/// The policies and exceptions in force, as the pass reads them. Policies and exceptions that do
/// not parse or are invalid are not here: they deny nothing and relax nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Governance {
    pub policies: Vec<GoverningPolicy>,
    pub exceptions: Vec<TargetedException>,
    /// Some policy or exception cannot be read or is invalid: what it would allow is unknown, so
    /// an entry that is denied now is kept (though not created) rather than removed.
    pub incomplete: bool,
}

/// The identity resource an entry comes from, as policies see it.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub kind: SourceKind,
    pub name: &'a str,
    /// The namespace of a namespaced identity (a tenant's SPIFFEID).
    pub namespace: Option<&'a str>,
    /// The identity resource's labels.
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// The labels of the pod's namespace, for pod identities; None for static entries.
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    /// The pod's labels, for pod identities.
    pub pod_labels: Option<&'a BTreeMap<String, String>>,
}

/// The name the built-in tenant confinement goes by in denials.
pub const TENANT_CONFINEMENT: &str = "built-in tenant confinement";

/// The confinement of a tenant's SPIFFEID when no policy replaces it: its SPIFFE IDs lie under
/// `/ns/<its namespace>/`, and `admin`, `downstream` and `federatesWith` are refused.
pub fn tenant_confinement() -> &'static Policy {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| Policy {
        name: TENANT_CONFINEMENT.to_owned(),
        allow: vec![super::Pattern::parse("/ns/{namespace}/*/**").expect("the confinement pattern parses")],
        ..Default::default()
    })
}

/// What the policies decided for one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The names of the policies that govern the entry, in the order they are listed.
    pub policies: Vec<String>,
    pub decision: Decision,
}

impl Governance {
    /// The policies that govern `subject`. A tenant's SPIFFEID is also governed by the built-in
    /// confinement ([`tenant_confinement`]) unless a governing Enforce policy names the SPIFFEID
    /// kind in `match.kinds` and gives an allow list: such a policy replaces it, to widen or
    /// narrow it.
    pub fn governing<'g>(&'g self, subject: &Subject<'_>) -> Vec<&'g Policy> {
        let governing: Vec<&GoverningPolicy> = self
            .policies
            .iter()
            .filter(|g| governs(&g.policy_match, subject.kind, subject.labels, subject.namespace_labels))
            .collect();
        // Only an enforced policy may take the confinement's place: an Audit one denies nothing.
        let replaced = governing.iter().any(|g| {
            g.policy.enforcement == super::Enforcement::Enforce
                && g.policy_match.kinds.contains(&SourceKind::SPIFFEID)
                && !g.policy.allow.is_empty()
        });
        let mut policies: Vec<&Policy> = governing.into_iter().map(|g| &g.policy).collect();
        if subject.kind == SourceKind::SPIFFEID && !replaced {
            policies.insert(0, tenant_confinement());
        }
        policies
    }

    /// The exceptions that target `subject` (and, when they select pods, its pod), active or not.
    pub fn exceptions_for<'g>(&'g self, subject: &Subject<'_>) -> Vec<&'g Exception> {
        self.exceptions
            .iter()
            .filter(|t| {
                t.kind == subject.kind
                    && t.exception.target.name == subject.name
                    && t.exception.target.namespace.as_deref() == subject.namespace
            })
            .filter(|t| match (&t.pod_selector, subject.pod_labels) {
                (None, _) => true,
                (Some(selector), Some(labels)) => selection::selects(Some(selector), Some(labels)),
                (Some(_), None) => false,
            })
            .map(|t| &t.exception)
            .collect()
    }

    /// The verdict on one entry of `subject` at `now`; None when no policy governs it (the entry
    /// stands as declared).
    pub fn judge(&self, subject: &Subject<'_>, request: &Request<'_>, now: Timestamp) -> Option<Verdict> {
        let policies = self.governing(subject);
        if policies.is_empty() {
            return None;
        }
        let exceptions = self.exceptions_for(subject);
        Some(Verdict {
            policies: policies.iter().map(|p| p.name.clone()).collect(),
            decision: decide(request, &policies, &exceptions, now),
        })
    }

    /// The policy that governs the SPIFFE ID space `path` lies in: the first policy, Enforce or
    /// Audit, one of whose `spiffeIDs` allow or deny patterns matches the path. Placeholders
    /// match nothing here, as no pod binds them. The built-in tenant confinement claims no
    /// space.
    pub fn governing_space(&self, path: &str) -> Option<&Policy> {
        let unbound = super::Bindings::default();
        self.policies
            .iter()
            .map(|g| &g.policy)
            .find(|p| p.allow.iter().chain(&p.deny).any(|pattern| pattern.matches(path, &unbound)))
    }

    /// The exceptions that lapse after `after` and at or before `now`: whose targets must be
    /// judged again.
    pub fn lapsing(&self, after: Timestamp, now: Timestamp) -> impl Iterator<Item = &TargetedException> {
        self.exceptions.iter().filter(move |t| t.exception.expires_at > after && !in_force(t.exception.expires_at, now))
    }

    /// The first instant after `now` at which an exception lapses: when the worker must evaluate
    /// again.
    pub fn next_lapse(&self, now: Timestamp) -> Option<Timestamp> {
        self.exceptions.iter().map(|t| t.exception.expires_at).filter(|at| *at > now).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Bindings, Enforcement, Pattern, Relaxations, Target};

    fn spaced(name: &str, enforcement: Enforcement, allow: &[&str], deny: &[&str]) -> GoverningPolicy {
        let patterns = |ps: &[&str]| ps.iter().map(|p| Pattern::parse(p).unwrap()).collect();
        GoverningPolicy {
            policy_match: PolicyMatch::default(),
            policy: Policy {
                name: name.into(),
                enforcement,
                allow: patterns(allow),
                deny: patterns(deny),
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_space_of_a_spiffe_id_is_governed_by_the_first_policy_whose_patterns_match() {
        let governance = Governance {
            policies: vec![
                spaced("billing", Enforcement::Enforce, &["/billing/**"], &[]),
                spaced("audit", Enforcement::Audit, &["/shop/*"], &["/legacy/**"]),
                spaced("tenants", Enforcement::Enforce, &["/ns/{namespace}/sa/*"], &[]),
                spaced("wide", Enforcement::Enforce, &["/billing/api"], &[]),
            ],
            ..Default::default()
        };
        let cases = [
            ("/billing/api", Some("billing")),
            ("/billing", Some("billing")),
            ("/shop/web", Some("audit")),
            ("/shop/web/extra", None),
            ("/legacy/worker/1", Some("audit")),
            ("/ns/a/sa/b", None),
            ("/other", None),
        ];
        for (path, want) in cases {
            assert_eq!(governance.governing_space(path).map(|p| p.name.as_str()), want, "{path}");
        }
        assert!(Governance::default().governing_space("/billing/api").is_none(), "no policy, no space");
    }

    fn policy(name: &str, kinds: Vec<SourceKind>) -> GoverningPolicy {
        GoverningPolicy {
            policy_match: PolicyMatch { kinds, ..Default::default() },
            policy: Policy { name: name.into(), allow: vec![Pattern::parse("/ok/**").unwrap()], ..Default::default() },
        }
    }

    fn exception(target: &str, selector: Option<(&str, &str)>, expires: &str) -> TargetedException {
        TargetedException {
            exception: Exception {
                name: format!("e-{target}-{expires}"),
                target: Target { kind: "ClusterSPIFFEID".into(), name: target.into(), namespace: None },
                expires_at: expires.parse().unwrap(),
                created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
                relaxations: Relaxations {
                    extra_allow: vec![Pattern::parse("/legacy").unwrap()],
                    ..Default::default()
                },
            },
            kind: SourceKind::ClusterSPIFFEID,
            pod_selector: selector.map(|(k, v)| LabelSelector {
                match_labels: Some([(k.to_owned(), v.to_owned())].into()),
                ..Default::default()
            }),
        }
    }

    fn request(path: &str) -> Request<'static> {
        Request {
            spiffe_id: path.into(),
            parent_id: "/spire/agent/x".into(),
            kind: SourceKind::ClusterSPIFFEID,
            bindings: Bindings::default(),
            x509_ttl: None,
            jwt_ttl: None,
            admin: false,
            downstream: false,
            federates_with: vec![],
            selector_types: vec![],
            owner_set: false,
        }
    }

    #[test]
    fn only_governing_policies_and_targeting_exceptions_count() {
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let governance = Governance {
            policies: vec![
                policy("pods", vec![SourceKind::ClusterSPIFFEID]),
                policy("statics", vec![SourceKind::ClusterStaticEntry]),
            ],
            exceptions: vec![exception("legacy", Some(("app", "old")), "2026-12-02T00:00:00Z")],
            incomplete: false,
        };
        let old: BTreeMap<String, String> = [("app".to_owned(), "old".to_owned())].into();
        let new: BTreeMap<String, String> = [("app".to_owned(), "new".to_owned())].into();
        let subject = |name, pod_labels| Subject {
            kind: SourceKind::ClusterSPIFFEID,
            name,
            namespace: None,
            labels: None,
            namespace_labels: Some(&new),
            pod_labels,
        };

        let verdict = governance.judge(&subject("legacy", Some(&old)), &request("/legacy"), now).unwrap();
        assert_eq!(verdict.policies, ["pods"]);
        assert!(verdict.decision.allowed, "the selected legacy pod is excepted");
        let verdict = governance.judge(&subject("legacy", Some(&new)), &request("/legacy"), now).unwrap();
        assert!(!verdict.decision.allowed, "a pod the exception does not select is not");
        let verdict = governance.judge(&subject("other", Some(&old)), &request("/legacy"), now).unwrap();
        assert!(!verdict.decision.allowed, "another identity is not");

        let static_subject = Subject {
            kind: SourceKind::ClusterStaticEntry,
            name: "legacy",
            namespace: None,
            labels: None,
            namespace_labels: None,
            pod_labels: None,
        };
        assert_eq!(governance.judge(&static_subject, &request("/ok/a"), now).unwrap().policies, ["statics"]);
        assert!(Governance::default().judge(&static_subject, &request("/x"), now).is_none());
    }

    #[test]
    fn the_next_lapse_is_the_first_future_expiry() {
        let governance = Governance {
            policies: vec![],
            exceptions: vec![
                exception("a", None, "2026-12-01T10:00:00Z"),
                exception("b", None, "2026-12-01T12:00:00Z"),
                exception("c", None, "2026-12-01T11:00:00Z"),
            ],
            incomplete: false,
        };
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(governance.next_lapse(at("2026-12-01T09:00:00Z")), Some(at("2026-12-01T10:00:00Z")));
        // At the instant itself the exception has lapsed: the next one is the later one.
        assert_eq!(governance.next_lapse(at("2026-12-01T10:00:00Z")), Some(at("2026-12-01T11:00:00Z")));
        assert_eq!(governance.next_lapse(at("2026-12-01T12:00:00Z")), None);
        // Lapsing between two instants: after the first, at or before the second.
        let names = |after: &str, now: &str| -> Vec<String> {
            governance.lapsing(at(after), at(now)).map(|t| t.exception.target.name.clone()).collect()
        };
        assert_eq!(names("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"), ["a"], "at the instant itself");
        assert!(names("2026-12-01T10:00:00Z", "2026-12-01T10:59:59Z").is_empty(), "a lapse is planned once");
        assert_eq!(names("2026-12-01T10:00:00Z", "2026-12-01T12:00:00Z"), ["b", "c"]);
    }
}
