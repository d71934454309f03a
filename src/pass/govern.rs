//! Stage 2 of the pass: which declarations may stand, and with which TTLs.

use k8s_openapi::jiff::Timestamp;

use super::{Declared, Snapshot};
use crate::{
    policy::{Bindings, Request, Subject, Verdict, in_force},
    reconcile::{Declaration, Hold, Scope, SourceKind, SourceMeta},
    spiffe::Entry,
};

/// Stage 2: which declarations may stand.
///
/// - A kind switched off in the configuration is left alone: its entries are neither written
///   nor deleted. SPIRE does not record which kind declared an entry, so a scope such a kind may
///   declare in deletes nothing.
/// - A ClusterStaticEntry whose `expiresAt` has passed ([`in_force`]) declares nothing, so its
///   entry is removed.
/// - Every other declaration is judged by the policies that govern its identity
///   ([`crate::policy::Governance::judge`]): a denied one is dropped (not written, removed if it
///   exists); an allowed one is written with the effective TTLs. When a non-fallback identity's
///   entry is denied, the fallbacks that stepped aside for it keep what they declared. While a
///   policy or exception cannot be read or is invalid, a denied entry is kept, not removed.
pub fn govern(snapshot: &Snapshot<'_>, scope: &Scope, mut declared: Declared) -> Declared {
    let toggles = snapshot.config.reconcile;
    if !toggles.cluster_static_entries {
        declared.declarations.retain(|d| d.source.kind != SourceKind::ClusterStaticEntry);
        if snapshot.statics.declares_in(scope) {
            declared.hold = Hold::Everything;
        }
    }
    if !toggles.cluster_spiffe_ids {
        declared.declarations.retain(|d| !d.source.kind.is_pod_identity());
        if matches!(scope, Scope::Pod(_)) {
            declared.hold = Hold::Everything;
        }
    }

    let now = snapshot.now;
    let mut lapsed = Vec::new();
    declared.declarations.retain(|d| {
        let stands = d.source.kind != SourceKind::ClusterStaticEntry || !has_lapsed(&d.entry, now);
        if !stands {
            lapsed.push(d.source.uid.clone());
        }
        stands
    });
    declared.lapsed = lapsed;

    let pod = match scope {
        Scope::Pod(uid) => snapshot.inputs.pod(uid),
        Scope::Cluster => None,
    };
    let namespace = pod.as_ref().and_then(|p| p.metadata.namespace.clone());
    let namespace_labels = namespace.as_deref().and_then(|ns| snapshot.inputs.namespace_labels(ns));
    let bindings = pod.as_ref().map(|p| Bindings {
        namespace: p.metadata.namespace.as_deref(),
        service_account: p.spec.service_account_name.as_deref(),
        pod_name: p.metadata.name.as_deref(),
        node_name: p.node_name(),
    });
    let no_meta = SourceMeta::default();
    let mut verdicts = Vec::new();
    let mut static_verdicts = Vec::new();
    let mut judged = Vec::new();
    let mut denied_primary = false;
    declared.declarations.retain_mut(|d| {
        let pod_identity = d.source.kind.is_pod_identity();
        let identity = snapshot.identities.iter().find(|i| pod_identity && i.source.uid == d.source.uid);
        let meta = match identity {
            Some(i) => Some(&i.meta),
            None => snapshot.statics.meta(&d.source.uid),
        };
        let meta = meta.unwrap_or(&no_meta);
        let subject = Subject {
            kind: d.source.kind,
            name: &d.source.name,
            namespace: identity.and_then(|i| i.namespace.as_deref()),
            labels: Some(&meta.labels),
            namespace_labels: if pod_identity { namespace_labels.as_ref() } else { None },
            pod_labels: if pod_identity { pod.as_ref().and_then(|p| p.metadata.labels.as_ref()) } else { None },
        };
        let bindings = if pod_identity { bindings.unwrap_or_default() } else { Bindings::default() };
        let verdict = snapshot.governance.judge(&subject, &request(d, bindings, meta.owner_set), now);
        let stands = verdict.as_ref().is_none_or(|v| v.decision.allowed);
        if !stands && snapshot.governance.incomplete {
            declared.hold.add(d.source.uid.clone());
        }
        denied_primary |= !stands && identity.is_some_and(|i| i.identity.as_ref().is_ok_and(|id| !id.fallback));
        if let Some(v) = &verdict
            && stands
        {
            apply(&mut d.entry, v);
        }
        if let Some(v) = &verdict {
            judged.push((d.clone(), v.clone()));
        }
        if pod_identity {
            if let Some(v) = verdict {
                verdicts.push((d.source.uid.clone(), v));
            }
        } else {
            static_verdicts.push((d.source.uid.clone(), verdict));
        }
        stands
    });
    if let Some(record) = declared.record.as_mut() {
        record.verdicts = verdicts.into_iter().collect();
        // The fallbacks stepped aside for an identity whose entry is now denied: whether they
        // apply is decided before policies judge, so what they declared is kept, not deleted.
        if denied_primary {
            for (uid, outcome) in &record.outcomes {
                if *outcome == crate::reconcile::PodOutcome::SkippedByFallback {
                    declared.hold.add(uid.clone());
                }
            }
        }
    }
    declared.static_verdicts = static_verdicts;
    declared.judged = judged;
    declared
}

/// The instant a static entry lapses: its `expiresAt` (SPIRE's `expires_at`, whole seconds; 0
/// never).
pub fn expiry_of(entry: &Entry) -> Option<Timestamp> {
    (entry.expires_at != 0).then(|| Timestamp::from_second(entry.expires_at).ok()).flatten()
}

/// Whether a static entry's `expiresAt` has passed at `now`.
pub fn has_lapsed(entry: &Entry, now: Timestamp) -> bool {
    expiry_of(entry).is_some_and(|at| !in_force(at, now))
}

/// What one declaration asks the policies for.
fn request<'a>(d: &Declaration, bindings: Bindings<'a>, owner_set: bool) -> Request<'a> {
    let e = &d.entry;
    let ttl = |s: i32| u32::try_from(s).ok().filter(|s| *s > 0);
    let mut selector_types: Vec<String> = e.selectors.iter().map(|s| s.kind().to_owned()).collect();
    selector_types.dedup();
    Request {
        spiffe_id: e.spiffe_id.path().to_owned(),
        parent_id: e.parent_id.path().to_owned(),
        kind: d.source.kind,
        bindings,
        x509_ttl: ttl(e.x509_svid_ttl),
        jwt_ttl: ttl(e.jwt_svid_ttl),
        admin: e.admin,
        downstream: e.downstream,
        federates_with: e.federates_with.iter().map(|td| td.as_str().to_owned()).collect(),
        selector_types,
        owner_set,
    }
}

/// Writes the effective TTLs of an allowed verdict into the entry.
pub fn apply(entry: &mut Entry, verdict: &Verdict) {
    let seconds = |s: Option<u32>| s.and_then(|s| i32::try_from(s).ok()).unwrap_or(0);
    entry.x509_svid_ttl = seconds(verdict.decision.x509_ttl.seconds);
    entry.jwt_svid_ttl = seconds(verdict.decision.jwt_ttl.seconds);
}
