//! The declarations of one pod's scope: which ClusterSPIFFEIDs select the pod and what each
//! renders for it.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::api::{core::v1::Node, discovery::v1::EndpointSlice};

use super::{Declaration, Hold, Source};
use crate::{
    pod_view::PodView,
    render::{PodContext, PodIdentity},
};

/// Why a resource's declarations cannot be computed at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The spec is invalid: a template does not parse, a value is out of bounds.
    #[error("{0}")]
    Invalid(#[from] crate::render::Error),
    /// The object does not deserialize (a field another client wrote in a form the operator's
    /// types refuse); the message is the deserializer's.
    #[error("the object could not be read: {0}")]
    Unreadable(String),
}

/// An input a pod's entries need that is not known yet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error("node {0} is not known")]
    Node(String),
}

/// What policies read of an identity resource besides its spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMeta {
    /// The resource's labels.
    pub labels: BTreeMap<String, String>,
    /// Whether the resource names an owner team and contact.
    pub owner_set: bool,
    /// The resource's `spec.driftPolicy`; None follows the operator's configuration.
    pub drift_policy: Option<crate::drift::DriftPolicy>,
}

/// A ClusterSPIFFEID as the pod scope sees it.
#[derive(Clone, Debug)]
pub struct IdentitySource {
    pub source: Source,
    pub meta: SourceMeta,
    /// A tenant's SPIFFEID selects pods of its own namespace only.
    pub namespace: Option<String>,
    /// The parsed spec, or why it does not parse.
    pub identity: Result<Arc<PodIdentity>, SpecError>,
    pub suspended: bool,
}

/// What one ClusterSPIFFEID did for one pod; status counters are sums of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodOutcome {
    /// The pod is selected and its entry rendered.
    Rendered,
    /// The pod is selected but its entry did not render.
    /// Boxed: records keep one outcome per pod and identity, and a render error is large.
    RenderFailed(Box<crate::render::Error>),
    /// The pod is selected but an input its entry needs (its node) is not known yet.
    Waiting(Missing),
    /// A fallback identity skipped the pod because a non-fallback identity covers it.
    SkippedByFallback,
    /// The identity is suspended or its spec is invalid; the pod's entries are kept as they are.
    Held,
}

/// The declarations of one pod, and whether they are whole.
#[derive(Clone, Debug, Default)]
pub struct PodDeclarations {
    pub declarations: Vec<Declaration>,
    /// What missing inputs keep from deletion: the output of each identity that could not be
    /// evaluated for the pod.
    pub hold: Hold,
    /// Why something is held, for status messages.
    pub incomplete_because: Option<String>,
    /// Per selecting ClusterSPIFFEID (by UID), what happened.
    pub outcomes: BTreeMap<String, PodOutcome>,
}

/// The state of the pod's node as the caches know it.
pub enum NodeState<'a> {
    Found(&'a Node),
    /// The pod is not scheduled yet.
    Unscheduled,
    /// The pod names a node the cache does not hold.
    Missing(String),
}

/// Computes the declarations of one pod. `identities` are every ClusterSPIFFEID this operator
/// handles; `namespace_labels` those of the pod's namespace (None when the namespace is not in the
/// cache, which makes the scope incomplete); `ignored` whether the namespace is ignored.
pub fn declare_pod<'a>(
    pod: &PodView,
    node: NodeState<'_>,
    namespace_labels: Option<&BTreeMap<String, String>>,
    ignored: bool,
    identities: &[IdentitySource],
    slices: impl IntoIterator<Item = &'a EndpointSlice> + Clone,
    context: &PodContext<'_>,
) -> PodDeclarations {
    let mut out = PodDeclarations::default();
    if ignored {
        return out;
    }
    let Some(namespace_labels) = namespace_labels else {
        out.hold = Hold::Everything;
        out.incomplete_because = Some("the pod's namespace is not known yet".into());
        return out;
    };
    let pod_labels = pod.metadata.labels.as_ref();
    let pod_namespace = pod.metadata.namespace.as_deref();
    let own_namespace = |i: &&IdentitySource| i.namespace.as_deref().is_none_or(|ns| Some(ns) == pod_namespace);
    let selecting = identities.iter().filter(own_namespace).filter(|i| match &i.identity {
        Ok(identity) => {
            crate::selection::selects(identity.namespace_selector.as_ref(), Some(namespace_labels))
                && crate::selection::selects(identity.pod_selector.as_ref(), pod_labels)
        }
        // An identity whose spec does not parse cannot say which pods it selects: every pod's
        // entries are held.
        Err(_) => true,
    });
    // Non-fallback identities first, then fallbacks.
    let (primary, fallback): (Vec<&IdentitySource>, Vec<&IdentitySource>) =
        selecting.partition(|i| !i.identity.as_ref().is_ok_and(|id| id.fallback));
    let mut covered = false;
    // Whether a non-fallback identity could not be evaluated: whether the fallback applies then
    // depends on what it would have rendered, so the fallback's own entries are held too.
    let mut coverage_unknown = false;
    for source in primary.into_iter().chain(fallback) {
        let uid = source.source.uid.clone();
        let identity = match (&source.identity, source.suspended) {
            (Err(why), _) => {
                // Which pods it selects is not known either: it does not keep the fallback out.
                hold(
                    &mut out,
                    uid,
                    PodOutcome::Held,
                    format!("ClusterSPIFFEID {} is invalid: {why}", source.source.name),
                );
                continue;
            }
            (Ok(_), true) => {
                hold(&mut out, uid, PodOutcome::Held, format!("ClusterSPIFFEID {} is suspended", source.source.name));
                covered = true;
                continue;
            }
            (Ok(identity), false) => identity,
        };
        if identity.fallback && (covered || coverage_unknown) {
            if coverage_unknown && !covered {
                out.hold.add(uid.clone());
            }
            out.outcomes.insert(uid, PodOutcome::SkippedByFallback);
            continue;
        }
        let node = match &node {
            NodeState::Found(node) => *node,
            NodeState::Unscheduled => {
                hold(&mut out, uid, PodOutcome::Held, "the pod is not scheduled to a node yet".into());
                covered |= !identity.fallback;
                continue;
            }
            NodeState::Missing(name) => {
                let missing = Missing::Node(name.clone());
                let why = missing.to_string();
                hold(&mut out, uid, PodOutcome::Waiting(missing), why);
                covered |= !identity.fallback;
                continue;
            }
        };
        match identity.render(context, pod, node, slices.clone()) {
            Ok(entry) => {
                out.declarations.push(Declaration { entry, source: source.source.clone() });
                out.outcomes.insert(uid, PodOutcome::Rendered);
                covered |= !identity.fallback;
            }
            Err(e) => {
                let why = e.to_string();
                hold(&mut out, uid, PodOutcome::RenderFailed(Box::new(e)), why);
                coverage_unknown |= !identity.fallback;
            }
        }
    }
    out
}

/// Records that one identity could not be evaluated for the pod: what it declared is held.
fn hold(out: &mut PodDeclarations, uid: String, outcome: PodOutcome, why: String) {
    out.hold.add(uid.clone());
    out.outcomes.insert(uid, outcome);
    out.incomplete_because.get_or_insert(why);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{api::v1alpha1::ClusterSPIFFEIDSpec, reconcile::SourceKind, spiffe::TrustDomain, template::Template};
    use k8s_openapi::{
        api::core::v1::{Pod, PodSpec},
        apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
    };

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn pod(app: &str) -> PodView {
        PodView::from(Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("shop".into()),
                uid: Some("uid-1".into()),
                labels: Some(labels(&[("app", app)])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                service_account_name: Some("sa".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn node() -> Node {
        Node {
            metadata: ObjectMeta { name: Some("n1".into()), uid: Some("node-1".into()), ..Default::default() },
            ..Default::default()
        }
    }

    fn identity(uid: &str, template: &str, app: Option<&str>, fallback: bool) -> IdentitySource {
        let spec = ClusterSPIFFEIDSpec {
            spiffe_id_template: template.into(),
            pod_selector: app
                .map(|a| LabelSelector { match_labels: Some(labels(&[("app", a)])), ..Default::default() }),
            fallback: Some(fallback),
            ..Default::default()
        };
        IdentitySource {
            meta: SourceMeta::default(),
            namespace: None,
            source: Source {
                kind: SourceKind::ClusterSPIFFEID,
                name: uid.into(),
                uid: uid.into(),
                created_at: 1,
                deleting_at: None,
            },
            identity: PodIdentity::parse(&spec).map(Arc::new).map_err(SpecError::from),
            suspended: false,
        }
    }

    fn declare(pod: &PodView, node: NodeState<'_>, identities: &[IdentitySource]) -> PodDeclarations {
        let td = TrustDomain::parse("example.org").unwrap();
        let parent = Template::parse("spiffe://example.org/spire/agent/k8s_psat/c/{{ .NodeMeta.UID }}").unwrap();
        let context = PodContext { trust_domain: &td, cluster_name: "c", cluster_domain: "", parent_id: &parent };
        let ns = labels(&[("team", "shop")]);
        declare_pod(pod, node, Some(&ns), false, identities, &[], &context)
    }

    fn paths(d: &PodDeclarations) -> Vec<&str> {
        d.declarations.iter().map(|d| d.entry.spiffe_id.path()).collect()
    }

    #[test]
    fn an_outcome_is_small() {
        // Records keep one outcome per selected pod and identity: 10,000 pods make it count.
        assert!(std::mem::size_of::<PodOutcome>() <= 32, "{}", std::mem::size_of::<PodOutcome>());
    }

    #[test]
    fn selected_identities_render_and_others_do_not() {
        let n = node();
        let ids = [
            identity("a", "spiffe://example.org/a", Some("web"), false),
            identity("b", "spiffe://example.org/b", Some("db"), false),
        ];
        let d = declare(&pod("web"), NodeState::Found(&n), &ids);
        assert_eq!(paths(&d), ["/a"]);
        assert!(d.hold.is_nothing());
        assert_eq!(d.outcomes.get("a"), Some(&PodOutcome::Rendered));
        assert!(!d.outcomes.contains_key("b"));
    }

    #[test]
    fn fallback_applies_only_to_uncovered_pods() {
        let n = node();
        let ids = [
            identity("fb", "spiffe://example.org/fallback", None, true),
            identity("a", "spiffe://example.org/a", Some("web"), false),
        ];
        let covered = declare(&pod("web"), NodeState::Found(&n), &ids);
        assert_eq!(paths(&covered), ["/a"]);
        assert_eq!(covered.outcomes.get("fb"), Some(&PodOutcome::SkippedByFallback));
        let uncovered = declare(&pod("other"), NodeState::Found(&n), &ids);
        assert_eq!(paths(&uncovered), ["/fallback"]);
    }

    #[test]
    fn a_render_failure_holds_its_own_output_and_keeps_the_fallback_out() {
        let n = node();
        let ids = [
            identity("broken", "spiffe://example.org/{{ .PodSpec.SecurityContext.RunAsUser }}", None, false),
            identity("ok", "spiffe://example.org/ok", None, false),
            identity("fb", "spiffe://example.org/fallback", None, true),
        ];
        let d = declare(&pod("web"), NodeState::Found(&n), &ids);
        assert_eq!(paths(&d), ["/ok"], "the identity that renders still declares its entry");
        assert_eq!(d.hold, Hold::Sources(["broken".to_string()].into()), "only the failing identity is held");
        assert!(matches!(d.outcomes.get("broken"), Some(PodOutcome::RenderFailed(_))));
        assert_eq!(d.outcomes.get("fb"), Some(&PodOutcome::SkippedByFallback));

        // With no other identity covering the pod, the fallback is withheld and its entry held:
        // whether it applies depends on what the failing identity would render.
        let d = declare(&pod("web"), NodeState::Found(&n), &[ids[0].clone(), ids[2].clone()]);
        assert!(d.declarations.is_empty());
        assert_eq!(d.hold, Hold::Sources(["broken".to_string(), "fb".to_string()].into()));
        assert_eq!(d.outcomes.get("fb"), Some(&PodOutcome::SkippedByFallback));
    }

    #[test]
    fn node_problems_hold_the_scope() {
        let ids = [identity("a", "spiffe://example.org/a", None, false)];
        let pending = declare(&pod("web"), NodeState::Unscheduled, &ids);
        assert!(pending.hold == Hold::source("a") && pending.declarations.is_empty());
        assert_eq!(pending.outcomes.get("a"), Some(&PodOutcome::Held));
        let missing = declare(&pod("web"), NodeState::Missing("n9".into()), &ids);
        assert_eq!(missing.hold, Hold::source("a"));
        assert_eq!(missing.outcomes.get("a"), Some(&PodOutcome::Waiting(Missing::Node("n9".into()))));
    }

    #[test]
    fn invalid_or_suspended_identities_hold_every_pod() {
        let n = node();
        let mut suspended = identity("s", "spiffe://example.org/s", None, false);
        suspended.suspended = true;
        let mut invalid = identity("i", "spiffe://example.org/i", None, false);
        invalid.identity = Err(SpecError::Unreadable("bad".into()));
        for ids in [vec![suspended], vec![invalid]] {
            let d = declare(&pod("web"), NodeState::Found(&n), &ids);
            assert!(!d.hold.is_nothing(), "{:?}", d.incomplete_because);
            assert!(d.declarations.is_empty());
        }
    }

    #[test]
    fn ignored_namespaces_declare_nothing_and_are_complete() {
        let td = TrustDomain::parse("example.org").unwrap();
        let parent = Template::parse("spiffe://example.org/spire/agent/x").unwrap();
        let context = PodContext { trust_domain: &td, cluster_name: "c", cluster_domain: "", parent_id: &parent };
        let n = node();
        let ids = [identity("a", "spiffe://example.org/a", None, false)];
        let d = declare_pod(&pod("web"), NodeState::Found(&n), Some(&BTreeMap::new()), true, &ids, &[], &context);
        assert!(d.hold.is_nothing() && d.declarations.is_empty());
        let unknown_ns = declare_pod(&pod("web"), NodeState::Found(&n), None, false, &ids, &[], &context);
        assert_eq!(unknown_ns.hold, Hold::Everything);
    }
}
