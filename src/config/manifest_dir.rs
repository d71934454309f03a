//! `staticManifestPath` and `expandEnvStaticManifests`: static manifest mode, in which the
//! operator reads its resources from files instead of the Kubernetes API server.

use std::path::PathBuf;

use super::{Error, File, invalid};

/// Static manifest mode: ClusterStaticEntry and ClusterFederatedTrustDomain manifests (and
/// spire-steward's IdentityPolicy and IdentityException) read from `path` at every periodic
/// check. There are no pods, no status, no leader election and no Kubernetes client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticManifests {
    /// The directory whose `*.yaml` files are read (not its subdirectories).
    pub path: PathBuf,
    /// `$VAR` and `${VAR}` in the files are replaced by the environment's values (unset:
    /// empty) before they are parsed.
    pub expand_env: bool,
}

/// Static manifest mode, when `staticManifestPath` is set; refuses what cannot go with it.
pub fn static_manifests(file: &File) -> Result<Option<StaticManifests>, Error> {
    let Some(path) = file.static_manifest_path.clone().filter(|p| !p.as_os_str().is_empty()) else {
        if file.expand_env_static_manifests == Some(true) {
            return Err(invalid("expandEnvStaticManifests", "needs staticManifestPath"));
        }
        return Ok(None);
    };
    if file.leader_election.as_ref().and_then(|l| l.leader_elect) == Some(true) {
        return Err(invalid(
            "leaderElection.leaderElect",
            "true: static manifest mode runs without the Kubernetes API, so without leader election",
        ));
    }
    if file.reconcile.as_ref().and_then(|r| r.cluster_spiffe_ids) == Some(true) {
        return Err(invalid(
            "reconcile.clusterSPIFFEIDs",
            "true: static manifest mode knows no pods; only ClusterStaticEntry and ClusterFederatedTrustDomain are read",
        ));
    }
    if file.drift_policy.as_deref() == Some("Report") {
        return Err(invalid(
            "driftPolicy",
            "Report: static manifest mode writes every pass what the files declare, so drift is always repaired",
        ));
    }
    if file.open_reports.as_ref().and_then(|r| r.enabled) == Some(true) {
        return Err(invalid("openReports.enabled", "true: static manifest mode writes nothing to the Kubernetes API"));
    }
    Ok(Some(StaticManifests { path, expand_env: file.expand_env_static_manifests.unwrap_or(false) }))
}

/// Replaces `$NAME` and `${NAME}` by the value `lookup` gives (none: empty), as
/// spire-controller-manager's `expandEnvStaticManifests` does; any other `$` stays.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(braced) = after.strip_prefix('{')
            && let Some(end) = braced.find('}')
            && !braced[..end].is_empty()
            && braced[..end].chars().all(name_char)
        {
            out.push_str(&lookup(&braced[..end]).unwrap_or_default());
            rest = &braced[end + 1..];
            continue;
        }
        let len = after.find(|c: char| !name_char(c)).unwrap_or(after.len());
        if len > 0 && !after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(&lookup(&after[..len]).unwrap_or_default());
            rest = &after[len..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TD" => Some("example.org".into()),
            "NODE_1" => Some("n1".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_are_replaced_and_other_dollars_kept() {
        assert_eq!(expand_env("spiffe://$TD/x", env), "spiffe://example.org/x");
        assert_eq!(expand_env("${NODE_1}-a ${TD}", env), "n1-a example.org");
        assert_eq!(expand_env("$UNSET.", env), ".");
        assert_eq!(expand_env("cost $5 and $ alone, ${} and ${a b}", env), "cost $5 and $ alone, ${} and ${a b}");
        assert_eq!(expand_env("end$", env), "end$");
    }

    fn file(yaml: &str) -> File {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn what_needs_the_kubernetes_api_is_refused_in_static_mode() {
        let ok = static_manifests(&file("staticManifestPath: /m\nexpandEnvStaticManifests: true\n")).unwrap();
        assert_eq!(ok, Some(StaticManifests { path: "/m".into(), expand_env: true }));
        assert_eq!(static_manifests(&file("trustDomain: x\n")).unwrap(), None);
        for (yaml, key) in [
            ("expandEnvStaticManifests: true\n", "expandEnvStaticManifests"),
            ("staticManifestPath: /m\nleaderElection: {leaderElect: true}\n", "leaderElection.leaderElect"),
            ("staticManifestPath: /m\nreconcile: {clusterSPIFFEIDs: true}\n", "reconcile.clusterSPIFFEIDs"),
            ("staticManifestPath: /m\nopenReports: {enabled: true}\n", "openReports.enabled"),
            ("staticManifestPath: /m\ndriftPolicy: Report\n", "driftPolicy"),
        ] {
            let e = static_manifests(&file(yaml)).unwrap_err().to_string();
            assert!(e.contains(key), "{yaml}: {e}");
        }
    }
}
