//! Where drift shows on a resource: the `Drifted` condition, present only while drift stands
//! unrepaired, and one Event per detection. Drift never changes `Ready`.

use super::{Announcement, Wanted, wanted};
use crate::{
    api::conditions::{reasons, types},
    drift::{DriftClass, Finding, summary},
};

/// The `Drifted` condition for the unrepaired drift of one resource; None when there is none.
/// The message counts the entries per class and names the fields that differ, e.g. "1 entry
/// Modified (x509SVIDTTL, dnsNames), 1 Missing; driftPolicy Report: not repaired".
pub fn drifted(findings: &[&Finding]) -> Option<Wanted> {
    let open: Vec<&Finding> = findings.iter().copied().filter(|f| !f.repaired).collect();
    if open.is_empty() {
        return None;
    }
    let mut message = summary(open.iter().copied());
    if open.iter().any(|f| f.class != DriftClass::Foreign) {
        message += "; driftPolicy Report: not repaired";
    }
    if open.iter().any(|f| f.class == DriftClass::Foreign) {
        message += "; entries the operator does not own are never changed";
    }
    Some(wanted(types::DRIFTED, "True", reasons::DRIFT_REPORTED, message))
}

/// The Event one detection calls for: Normal `DriftRepaired` for a repair, Warning
/// `DriftDetected` for drift left as it is. The note names the entry ID, SPIFFE ID, class and
/// fields.
pub fn drift_announcement(finding: &Finding) -> Announcement {
    let what = finding.describe();
    if finding.repaired {
        let how = match finding.class {
            DriftClass::Modified => "written back as declared",
            DriftClass::Missing => "created again",
            DriftClass::Unexpected => "removed: nothing declares it",
            DriftClass::Foreign => "left as it is",
        };
        return Announcement { warning: false, reason: reasons::DRIFT_REPAIRED, note: format!("{what}: {how}") };
    }
    let why = match finding.class {
        DriftClass::Foreign => "the operator does not own it and never changes it",
        _ => "driftPolicy Report: not repaired",
    };
    Announcement { warning: true, reason: reasons::DRIFT_DETECTED, note: format!("{what}; {why}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        reconcile::EntryKey,
        spiffe::{Entry, EntryField, EntryId, EntryMask, Selector, SpiffeId},
    };

    fn finding(class: DriftClass, fields: &[EntryField], repaired: bool) -> Finding {
        let entry = Entry::new(
            SpiffeId::parse("spiffe://example.org/web").unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            vec![Selector::parse("k8s:ns:a").unwrap()],
        );
        Finding {
            class,
            entry_id: Some(EntryId::parse("ss.1").unwrap()),
            spiffe_id: entry.spiffe_id.clone(),
            parent_id: entry.parent_id.clone(),
            key: EntryKey::of(&entry),
            source: None,
            fields: fields.iter().copied().collect::<EntryMask>(),
            policy: None,
            repaired,
            held: false,
        }
    }

    #[test]
    fn the_condition_counts_classes_and_names_the_fields() {
        let modified = finding(DriftClass::Modified, &[EntryField::DnsNames, EntryField::X509SvidTtl], false);
        let missing = finding(DriftClass::Missing, &[], false);
        let got = drifted(&[&modified, &missing]).unwrap();
        assert_eq!((got.type_, got.status, got.reason), ("Drifted", "True", "DriftReported"));
        assert_eq!(
            got.message,
            "1 entry Modified (x509SVIDTTL, dnsNames), 1 Missing; driftPolicy Report: not repaired"
        );
    }

    #[test]
    fn repaired_drift_shows_no_condition() {
        assert_eq!(drifted(&[&finding(DriftClass::Modified, &[EntryField::Hint], true)]), None);
        assert_eq!(drifted(&[]), None);
    }

    #[test]
    fn foreign_entries_are_said_to_be_left_alone() {
        let got = drifted(&[&finding(DriftClass::Foreign, &[], false)]).unwrap();
        assert_eq!(got.message, "1 entry Foreign; entries the operator does not own are never changed");
    }

    #[test]
    fn events_name_the_entry_class_and_fields() {
        let repaired = drift_announcement(&finding(DriftClass::Modified, &[EntryField::X509SvidTtl], true));
        assert_eq!((repaired.warning, repaired.reason), (false, "DriftRepaired"));
        assert_eq!(
            repaired.note,
            "entry ss.1 (spiffe://example.org/web) Modified (x509SVIDTTL): written back as declared"
        );
        let reported = drift_announcement(&finding(DriftClass::Missing, &[], false));
        assert_eq!((reported.warning, reported.reason), (true, "DriftDetected"));
        assert!(reported.note.ends_with("Missing; driftPolicy Report: not repaired"), "{}", reported.note);
    }
}
