//! The drift ledger as the instance's state ConfigMap keeps it, so that a restart or a failover
//! remembers what was found changed behind the operator's back and, under `driftPolicy: Report`,
//! neither repairs nor forgets it.
//!
//! The record is JSON, readable by a person: per class, the entries as the ledger holds them
//! (for Modified and Missing, the declaration at detection; for Unexpected, the entry found).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Ledger;
use crate::{
    reconcile::EntryKey,
    spiffe::{Entry, EntryId, Selector, SpiffeId, TrustDomain},
};

/// The version of the record's layout.
pub const VERSION: u32 = 1;

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a drift record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("drift record version {0} is not known (this version reads {VERSION})")]
    Version(u32),
    #[error("{class}[{index}].{field}: {value:?} is not valid")]
    Field { class: &'static str, index: usize, field: &'static str, value: String },
}

/// Unknown top-level fields are ignored, so that a later version may add some; the version
/// tells a layout this one cannot read.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    version: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    modified: Vec<EntryRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    missing: Vec<EntryRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unexpected: Vec<EntryRecord>,
}

/// An entry's stored fields, spelled as the CRDs spell them.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryRecord {
    #[serde(rename = "entryID")]
    entry_id: String,
    #[serde(rename = "spiffeID")]
    spiffe_id: String,
    #[serde(rename = "parentID")]
    parent_id: String,
    selectors: Vec<String>,
    #[serde(rename = "x509SVIDTTL", default, skip_serializing_if = "is_zero")]
    x509_svid_ttl: i32,
    #[serde(rename = "jwtSVIDTTL", default, skip_serializing_if = "is_zero")]
    jwt_svid_ttl: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    federates_with: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    admin: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    downstream: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dns_names: Vec<String>,
    #[serde(rename = "storeSVID", default, skip_serializing_if = "std::ops::Not::not")]
    store_svid: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    hint: String,
}

fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl EntryRecord {
    fn of(entry: &Entry) -> Self {
        EntryRecord {
            entry_id: entry.id.as_ref().map(|id| id.to_string()).unwrap_or_default(),
            spiffe_id: entry.spiffe_id.to_string(),
            parent_id: entry.parent_id.to_string(),
            selectors: entry.selectors.iter().map(ToString::to_string).collect(),
            x509_svid_ttl: entry.x509_svid_ttl,
            jwt_svid_ttl: entry.jwt_svid_ttl,
            federates_with: entry.federates_with.iter().map(ToString::to_string).collect(),
            admin: entry.admin,
            downstream: entry.downstream,
            expires_at: entry.expires_at,
            dns_names: entry.dns_names.clone(),
            store_svid: entry.store_svid,
            hint: entry.hint.clone(),
        }
    }

    fn entry(self, class: &'static str, index: usize) -> Result<Entry, RecordError> {
        let bad =
            |field: &'static str, value: &str| RecordError::Field { class, index, field, value: value.to_owned() };
        let id = EntryId::parse(&self.entry_id).map_err(|_| bad("entryID", &self.entry_id))?;
        let spiffe_id = SpiffeId::parse(&self.spiffe_id).map_err(|_| bad("spiffeID", &self.spiffe_id))?;
        let parent_id = SpiffeId::parse(&self.parent_id).map_err(|_| bad("parentID", &self.parent_id))?;
        let selectors = self
            .selectors
            .iter()
            .map(|s| Selector::parse(s).map_err(|_| bad("selectors", s)))
            .collect::<Result<Vec<_>, _>>()?;
        let federates_with = self
            .federates_with
            .iter()
            .map(|t| TrustDomain::parse(t).map_err(|_| bad("federatesWith", t)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut entry = Entry::new(spiffe_id, parent_id, selectors);
        entry.id = Some(id);
        entry.x509_svid_ttl = self.x509_svid_ttl;
        entry.jwt_svid_ttl = self.jwt_svid_ttl;
        entry.federates_with = federates_with;
        entry.admin = self.admin;
        entry.downstream = self.downstream;
        entry.expires_at = self.expires_at;
        entry.dns_names = self.dns_names;
        entry.store_svid = self.store_svid;
        entry.hint = self.hint;
        Ok(entry)
    }
}

impl Ledger {
    /// The ledger as compact JSON (about 300 bytes an entry), in a stable order: the same ledger always gives the same text, so an
    /// unchanged ledger is never written again.
    pub fn record(&self) -> String {
        let record = Record {
            version: VERSION,
            modified: self.modified.values().map(EntryRecord::of).collect(),
            missing: self.missing.values().map(EntryRecord::of).collect(),
            unexpected: self.unexpected.values().map(EntryRecord::of).collect(),
        };
        serde_json::to_string(&record).expect("a drift record always serializes")
    }

    /// Reads a ledger back from [`Ledger::record`]'s text.
    pub fn restore(text: &str) -> Result<Ledger, RecordError> {
        let record: Record = serde_json::from_str(text)?;
        if record.version != VERSION {
            return Err(RecordError::Version(record.version));
        }
        let entries = |class: &'static str, list: Vec<EntryRecord>| {
            list.into_iter().enumerate().map(|(i, r)| r.entry(class, i)).collect::<Result<Vec<_>, _>>()
        };
        let by_id = |entries: Vec<Entry>| -> BTreeMap<EntryId, Entry> {
            entries.into_iter().map(|e| (e.id.clone().expect("restored entries have IDs"), e)).collect()
        };
        Ok(Ledger {
            modified: by_id(entries("modified", record.modified)?),
            missing: entries("missing", record.missing)?.into_iter().map(|e| (EntryKey::of(&e), e)).collect(),
            unexpected: by_id(entries("unexpected", record.unexpected)?),
        })
    }

    /// The scopes of the entries the ledger holds: planned at start, so that a record whose
    /// scope nothing else plans (a pod deleted while the operator was stopped) is settled.
    pub fn scopes(&self) -> impl Iterator<Item = crate::reconcile::Scope> + '_ {
        self.modified
            .values()
            .chain(self.missing.values())
            .chain(self.unexpected.values())
            .map(crate::reconcile::Scope::of)
    }

    /// How many entries the ledger holds, all classes together.
    pub fn len(&self) -> usize {
        self.modified.len() + self.missing.len() + self.unexpected.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, path: &str) -> Entry {
        let mut e = Entry::new(
            SpiffeId::parse(&format!("spiffe://example.org{path}")).unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/k8s_psat/c/n1").unwrap(),
            vec![Selector::parse("k8s:pod-uid:u-1").unwrap(), Selector::parse("k8s:ns:shop").unwrap()],
        );
        e.id = Some(EntryId::parse(id).unwrap());
        e
    }

    #[test]
    fn a_ledger_survives_its_record() {
        let mut written = entry("steward.a", "/a");
        written.x509_svid_ttl = 3600;
        written.dns_names = vec!["a.shop".into(), "b.shop".into()];
        written.federates_with = vec![TrustDomain::parse("other.org").unwrap()];
        written.hint = "frontend".into();
        written.store_svid = true;
        let mut ledger = Ledger::default();
        ledger.modified(written.clone());
        ledger.missing(entry("steward.b", "/b"));
        ledger.unexpected(entry("steward.c", "/c"));
        let text = ledger.record();
        let restored = Ledger::restore(&text).unwrap();
        assert_eq!(restored, ledger);
        assert_eq!(restored.len(), 3);
        assert_eq!(restored.record(), text, "the same ledger gives the same text");
        assert!(text.contains("\"x509SVIDTTL\":3600") && text.contains("\"entryID\":\"steward.b\""), "{text}");
    }

    #[test]
    fn an_empty_ledger_is_a_version_alone() {
        let text = Ledger::default().record();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), serde_json::json!({"version": 1}));
        assert!(Ledger::restore(&text).unwrap().is_empty());
    }

    #[test]
    fn a_bad_record_names_what_is_wrong() {
        let err = |text: &str| Ledger::restore(text).unwrap_err().to_string();
        assert_eq!(err(r#"{"version": 2}"#), "drift record version 2 is not known (this version reads 1)");
        let bad_id = r#"{"version": 1, "missing": [{"entryID": "a b", "spiffeID": "spiffe://example.org/a",
            "parentID": "spiffe://example.org/p", "selectors": []}]}"#;
        assert_eq!(err(bad_id), "missing[0].entryID: \"a b\" is not valid");
        let bad_selector = r#"{"version": 1, "unexpected": [{"entryID": "a", "spiffeID": "spiffe://example.org/a",
            "parentID": "spiffe://example.org/p", "selectors": ["nocolon"]}]}"#;
        assert_eq!(err(bad_selector), "unexpected[0].selectors: \"nocolon\" is not valid");
        assert!(err("[]").starts_with("not a drift record"));
        assert!(Ledger::restore(r#"{"version": 1, "other": []}"#).unwrap().is_empty(), "unknown fields are ignored");
    }
}
