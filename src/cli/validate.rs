//! `spire-steward validate -f FILE|DIR`: every manifest checked offline, as the API server's
//! schema and the operator would judge it, without a cluster or SPIRE.
//!
//! Each file is read as `plan -f` reads it (a directory recursively, `*.yaml` and `*.yml`), and
//! spire-controller-manager's kinds under `spire.spiffe.io/v1alpha1` are checked as spire-steward's
//! (the same fields), so a directory can be checked before and after it is ported; a
//! document that does not parse, lacks `apiVersion`, `kind` or `metadata.name`, or has a field of
//! the wrong type is reported with its file, document and field. Each parsed resource is then
//! checked by the operator's own rules: templates and selectors of ClusterSPIFFEID and SPIFFEID,
//! the entry a ClusterStaticEntry renders, the relationship of a ClusterFederatedTrustDomain,
//! the rules of an IdentityPolicy and the term of an IdentityException. Every problem of every
//! file is reported, not only the first.

use std::path::{Path, PathBuf};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use super::manifests::{self, Manifests, Object};

/// One problem of one manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// `Kind name` of the resource, when it parsed that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.resource {
            // A parse error names the file and document itself.
            None => f.write_str(&self.message),
            Some(resource) => write!(f, "{}: {resource}: {}", self.file.display(), self.message),
        }
    }
}

/// What validation found: the resources checked and the problems.
#[derive(Debug, Default, Serialize)]
pub struct Validation {
    pub checked: usize,
    pub problems: Vec<Problem>,
    /// Documents left out (other API groups).
    pub warnings: Vec<String>,
}

/// Validates every file under `paths`; `now` judges an exception's term.
pub fn validate(paths: &[PathBuf], now: Timestamp) -> Validation {
    let mut out = Validation::default();
    for path in paths {
        let files = match manifests::files(path) {
            Ok(files) => files,
            Err(e) => {
                out.problems.push(Problem { file: path.clone(), resource: None, message: e.to_string() });
                continue;
            }
        };
        for file in files {
            validate_file(&file, now, &mut out);
        }
    }
    out
}

fn validate_file(file: &Path, now: Timestamp, out: &mut Validation) {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            let message = format!("{}: {e}", file.display());
            return out.problems.push(Problem { file: file.to_owned(), resource: None, message });
        }
    };
    let mut read = Manifests::default();
    if let Err(e) = manifests::read_documents(file, &text, &mut read, true) {
        let message = manifests::chain(&e);
        out.problems.push(Problem { file: file.to_owned(), resource: None, message });
    }
    out.warnings.append(&mut read.warnings);
    for object in &read.objects {
        out.checked += 1;
        let (resource, result) = judge(object, now);
        let mut messages: Vec<String> = schema_rules(object);
        if let Err(message) = result {
            messages.push(message);
        }
        for message in messages {
            out.problems.push(Problem { file: file.to_owned(), resource: Some(resource.clone()), message });
        }
    }
}

/// The resource's `Kind name`, and what the operator's rules say of it.
fn judge(object: &Object, now: Timestamp) -> (String, Result<(), String>) {
    use crate::{policy, render};
    let text = |e: &dyn std::fmt::Display| e.to_string();
    match object {
        Object::ClusterSPIFFEID(o) => (
            format!("ClusterSPIFFEID {}", o.name_any()),
            render::PodIdentity::parse(&o.spec).map(drop).map_err(|e| text(&e)),
        ),
        Object::SPIFFEID(o) => (
            format!("SPIFFEID {}/{}", o.namespace().unwrap_or_default(), o.name_any()),
            render::PodIdentity::parse(&o.spec.as_cluster_spec()).map(drop).map_err(|e| text(&e)),
        ),
        Object::ClusterStaticEntry(o) => (
            format!("ClusterStaticEntry {}", o.name_any()),
            render::render_static_entry(&o.spec).map(drop).map_err(|e| text(&e)),
        ),
        Object::ClusterFederatedTrustDomain(o) => (
            format!("ClusterFederatedTrustDomain {}", o.name_any()),
            render::render_federation(&o.spec).map(drop).map_err(|e| text(&e)),
        ),
        Object::IdentityPolicy(o) => (
            format!("IdentityPolicy {}", o.name_any()),
            policy::policy_of(&o.name_any(), &o.spec).map(drop).map_err(|e| text(&e)),
        ),
        Object::IdentityException(o) => (
            format!("IdentityException {}", o.name_any()),
            policy::exception_of(&o.name_any(), now, &o.spec).map(drop).map_err(|e| text(&e)),
        ),
    }
}

/// The CRDs' validation rules the operator's own parsers do not already apply, so that what the
/// API server refuses is refused here too (`tests/crds.rs` checks the two agree, case by case).
fn schema_rules(object: &Object) -> Vec<String> {
    let trust_domain = regex::Regex::new(r"^(spiffe://)?[a-z0-9._-]{1,255}$").expect("a valid pattern");
    let federates = |field: &str, items: &[String]| -> Vec<String> {
        items
            .iter()
            .filter(|td| !trust_domain.is_match(td))
            .map(|td| {
                format!("{field}: item {td:?} is not a trust domain name (lowercase letters, digits, '.', '-' and '_')")
            })
            .collect()
    };
    let identity = |template: &str, selectors: &[String]| {
        let mut out = Vec::new();
        if !template.starts_with("spiffe://") {
            out.push(format!("spiffeIDTemplate: {template:?} must start with spiffe://"));
        }
        if selectors.iter().any(|s| !s.contains(':')) {
            out.push("workloadSelectorTemplates: each must render a selector of the form type:value".to_owned());
        }
        out
    };
    match object {
        Object::ClusterSPIFFEID(o) => identity(&o.spec.spiffe_id_template, &o.spec.workload_selector_templates),
        Object::SPIFFEID(o) => identity(&o.spec.spiffe_id_template, &o.spec.workload_selector_templates),
        Object::ClusterStaticEntry(o) => match &o.spec.expires_at {
            Some(at) if regex::Regex::new(r"[.][0-9]+").expect("a valid pattern").is_match(at) => {
                vec![format!("expiresAt: {at:?} has a fraction of a second: SPIRE stores whole seconds")]
            }
            _ => vec![],
        },
        Object::IdentityException(o) => {
            let r = &o.spec.relaxations;
            let grants = r.x509_ttl_max.is_some()
                || r.jwt_ttl_max.is_some()
                || r.extra_allow.as_ref().is_some_and(|a| !a.is_empty())
                || r.admin == Some(true)
                || r.downstream == Some(true)
                || r.federates_with.as_ref().is_some_and(|f| !f.is_empty())
                || r.owner_not_required == Some(true);
            let mut out = federates("relaxations.federatesWith", r.federates_with.as_deref().unwrap_or_default());
            if !grants {
                out.push("relaxations: must grant at least one relaxation: x509TtlMax, jwtTtlMax, a non-empty extraAllow or federatesWith, admin, downstream or ownerNotRequired".to_owned());
            }
            out
        }
        Object::IdentityPolicy(o) => o
            .spec
            .privileges
            .as_ref()
            .map(|p| federates("privileges.federatesWith", &p.federates_with))
            .unwrap_or_default(),
        Object::ClusterFederatedTrustDomain(_) => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Validation {
        let mut out = Validation::default();
        let dir = std::env::temp_dir().join(format!("validate-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.yaml");
        std::fs::write(&file, text).unwrap();
        validate_file(&file, Timestamp::UNIX_EPOCH, &mut out);
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn a_good_identity_passes_and_a_bad_template_is_named() {
        let good = "apiVersion: spire-steward.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: web}\n\
            spec: {spiffeIDTemplate: 'spiffe://example.org/ns/{{ .PodMeta.Namespace }}'}\n";
        let out = check(good);
        assert_eq!((out.checked, out.problems.len()), (1, 0), "{:?}", out.problems);
        let bad = good.replace("{{ .PodMeta.Namespace }}", "{{ .PodMeta.Namespace ");
        let out = check(&bad);
        assert_eq!(out.problems.len(), 1);
        let line = out.problems[0].to_string();
        assert!(line.contains("m.yaml: ClusterSPIFFEID web: "), "{line}");
    }

    #[test]
    fn spire_controller_manager_manifests_are_checked_as_they_are() {
        let text = "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {name: db}\n\
            spec: {spiffeID: 'https://example.org/db', parentID: 'spiffe://example.org/n', selectors: ['unix:uid:0']}\n";
        let out = check(text);
        assert_eq!((out.checked, out.problems.len()), (1, 1), "{:?}", out.problems);
        assert!(out.problems[0].to_string().contains("ClusterStaticEntry db: "), "{}", out.problems[0]);
    }

    #[test]
    fn a_field_of_the_wrong_type_names_file_document_and_field() {
        let text = "apiVersion: spire-steward.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {name: db}\n\
            spec: {spiffeID: 'spiffe://example.org/db', parentID: 'spiffe://example.org/n', selectors: 'unix:uid:0'}\n";
        let out = check(text);
        let line = out.problems[0].to_string();
        assert!(line.contains("m.yaml: document 1: ClusterStaticEntry db: field spec.selectors"), "{line}");
    }
}
