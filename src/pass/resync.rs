//! Finding what a watch did not say: after a re-list, and at each periodic check, what was
//! planned is compared with what the caches hold.

use std::collections::{BTreeSet, HashMap};

use super::PodRecord;
use crate::reconcile::Scope;

/// The pod scopes whose planning is out of date with the cache: pods planned at another
/// resource version or never planned, pods planned and gone, and gone pods the operator still
/// holds entries for. `cached` is every cached pod as (UID, resource version).
pub fn stale_pods<'a>(
    cached: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    records: &HashMap<String, PodRecord>,
    held: impl IntoIterator<Item = &'a Scope>,
) -> BTreeSet<Scope> {
    let mut present = BTreeSet::new();
    let mut stale = BTreeSet::new();
    for (uid, version) in cached {
        present.insert(uid);
        if records.get(uid).is_none_or(|r| Some(r.resource_version.as_str()) != version) {
            stale.insert(Scope::Pod(uid.to_owned()));
        }
    }
    stale.extend(records.keys().filter(|uid| !present.contains(uid.as_str())).cloned().map(Scope::Pod));
    stale.extend(held.into_iter().filter(|s| matches!(s, Scope::Pod(uid) if !present.contains(uid.as_str()))).cloned());
    stale
}

/// Which pods each EndpointSlice (`namespace/name`) targeted when last seen.
#[derive(Debug, Default)]
pub struct SliceMembers {
    by_slice: HashMap<String, BTreeSet<String>>,
}

impl SliceMembers {
    /// Records what one slice targets now; returns the pods that joined or left it.
    pub fn set(&mut self, slice: String, targets: BTreeSet<String>) -> Vec<Scope> {
        let before = if targets.is_empty() {
            self.by_slice.remove(&slice).unwrap_or_default()
        } else {
            self.by_slice.insert(slice, targets.clone()).unwrap_or_default()
        };
        targets.symmetric_difference(&before).cloned().map(Scope::Pod).collect()
    }

    /// Replaces every slice with a full listing; returns the pods that joined or left any.
    pub fn replace(&mut self, now: impl IntoIterator<Item = (String, BTreeSet<String>)>) -> BTreeSet<Scope> {
        let mut changed = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for (slice, targets) in now {
            seen.insert(slice.clone());
            changed.extend(self.set(slice, targets));
        }
        let gone: Vec<String> = self.by_slice.keys().filter(|s| !seen.contains(*s)).cloned().collect();
        for slice in gone {
            changed.extend(self.set(slice, BTreeSet::new()));
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str) -> PodRecord {
        PodRecord { resource_version: version.into(), ..Default::default() }
    }

    fn pods(uids: &[&str]) -> BTreeSet<Scope> {
        uids.iter().map(|u| Scope::Pod(u.to_string())).collect()
    }

    fn set(uids: &[&str]) -> BTreeSet<String> {
        uids.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn a_re_list_finds_every_change_no_event_brought() {
        let records = HashMap::from([
            ("same".to_string(), record("1")),
            ("edited".to_string(), record("1")),
            ("deleted".to_string(), record("1")),
        ]);
        let cached = [("same", Some("1")), ("edited", Some("2")), ("created", Some("1"))];
        let held = [Scope::Pod("gone-with-entries".into()), Scope::Pod("same".into()), Scope::Cluster];
        let stale = stale_pods(cached, &records, &held);
        assert_eq!(stale, pods(&["created", "deleted", "edited", "gone-with-entries"]));
        assert!(stale_pods([("same", Some("1"))], &HashMap::from([("same".into(), record("1"))]), &[]).is_empty());
    }

    #[test]
    fn slice_members_report_the_pods_that_joined_or_left() {
        let mut members = SliceMembers::default();
        assert_eq!(members.set("ns/a".into(), set(&["p1", "p2"])), [Scope::Pod("p1".into()), Scope::Pod("p2".into())]);
        assert_eq!(members.set("ns/a".into(), set(&["p2", "p3"])), [Scope::Pod("p1".into()), Scope::Pod("p3".into())]);
        // A full listing: slice a lost p2, slice b is new, and a slice that vanished loses all.
        members.set("ns/c".into(), set(&["p9"]));
        let changed = members.replace([("ns/a".into(), set(&["p3"])), ("ns/b".into(), set(&["p4"]))]);
        assert_eq!(changed, pods(&["p2", "p4", "p9"]));
        assert!(members.replace([("ns/a".into(), set(&["p3"])), ("ns/b".into(), set(&["p4"]))]).is_empty());
    }
}
