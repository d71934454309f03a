//! Drift: how SPIRE's entries came to differ from what the operator declared and wrote, class by
//! class, and the one rule that tells a repair of drift from an ordinary write.
//!
//! - [`DriftClass::Modified`]: an owned entry differs from its declaration (the fields of the
//!   update that would repair it);
//! - [`DriftClass::Missing`]: an owned entry was deleted out of band;
//! - [`DriftClass::Unexpected`]: an entry under the operator's prefix that nothing declares;
//! - [`DriftClass::Foreign`]: an entry the operator does not own that realises a declared entry
//!   key, or lies in a SPIFFE ID space a policy governs. Never changed, only reported.
//!
//! [`classify`] reads a scope's plan. With the worker's [`Ledger`] of what it found changed
//! behind its back, only writes that undo such a change are drift; without memory
//! ([`Memory::Stateless`]) every difference the plan finds is, which is what a one-off report
//! shows. At steady state the two agree.

use std::collections::BTreeMap;

pub use crate::api::v1alpha1::DriftPolicy;
use crate::{
    reconcile::{EntryKey, Plan, Scope, Source, differing_fields},
    spiffe::{Entry, EntryField, EntryId, EntryMask, SpiffeId, differing_stored_fields},
};

/// How an entry drifted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftClass {
    Modified,
    Missing,
    Unexpected,
    Foreign,
}

impl DriftClass {
    pub const ALL: [DriftClass; 4] =
        [DriftClass::Modified, DriftClass::Missing, DriftClass::Unexpected, DriftClass::Foreign];

    /// The class as status and Events name it.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftClass::Modified => "Modified",
            DriftClass::Missing => "Missing",
            DriftClass::Unexpected => "Unexpected",
            DriftClass::Foreign => "Foreign",
        }
    }

    /// The class as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            DriftClass::Modified => "modified",
            DriftClass::Missing => "missing",
            DriftClass::Unexpected => "unexpected",
            DriftClass::Foreign => "foreign",
        }
    }
}

impl std::fmt::Display for DriftClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DriftPolicy {
    /// Parses the operator configuration's spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "Enforce" => Some(DriftPolicy::Enforce),
            "Report" => Some(DriftPolicy::Report),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DriftPolicy::Enforce => "Enforce",
            DriftPolicy::Report => "Report",
        }
    }
}

/// The fields of a mask by [`EntryField::name`], comma-separated.
pub fn field_names(mask: EntryMask) -> String {
    mask.fields().map(EntryField::name).collect::<Vec<_>>().join(", ")
}

/// One drifted entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub class: DriftClass,
    /// The entry's ID in SPIRE; for a Missing entry, the ID it is (re)created with.
    pub entry_id: Option<EntryId>,
    pub spiffe_id: SpiffeId,
    pub parent_id: SpiffeId,
    /// The entry key, which ties a Missing entry to its declaration.
    pub key: EntryKey,
    /// The resource that declares the entry (or declared it when last planned), if known.
    pub source: Option<Source>,
    /// For Modified: the fields that differ from the declaration.
    pub fields: EntryMask,
    /// For Foreign entries in a governed SPIFFE ID space: the IdentityPolicy governing it.
    pub policy: Option<String>,
    /// Whether the scope's plan repairs it (set by the pass under `driftPolicy: Enforce`).
    /// Foreign entries are never repaired.
    pub repaired: bool,
    /// The repair is a deletion the circuit breaker holds: the drift stands until it is sent.
    pub held: bool,
}

impl Finding {
    fn of(class: DriftClass, entry: &Entry, source: Option<Source>, fields: EntryMask) -> Self {
        Finding {
            class,
            entry_id: entry.id.clone(),
            spiffe_id: entry.spiffe_id.clone(),
            parent_id: entry.parent_id.clone(),
            key: EntryKey::of(entry),
            source,
            fields,
            policy: None,
            repaired: false,
            held: false,
        }
    }

    /// An Unexpected entry whose deletion the circuit breaker holds.
    pub fn held_unexpected(entry: &Entry, source: Option<Source>) -> Self {
        let mut finding = Finding::of(DriftClass::Unexpected, entry, source, EntryMask::default());
        finding.held = true;
        finding
    }

    /// What identifies the finding between passes: one Event per detection.
    pub fn identity(&self) -> (DriftClass, Option<EntryId>, EntryKey, EntryMask) {
        (self.class, self.entry_id.clone(), self.key.clone(), self.fields)
    }

    /// One line naming the entry, its class and the fields, for Events and logs.
    pub fn describe(&self) -> String {
        let id = self.entry_id.as_ref().map_or("-", EntryId::as_str);
        let mut line = format!("entry {id} ({}) {}", self.spiffe_id, self.class);
        if !self.fields.is_empty() {
            line += &format!(" ({})", field_names(self.fields));
        }
        if let Some(policy) = &self.policy {
            line += &format!(", in the SPIFFE ID space IdentityPolicy {policy} governs");
        }
        line
    }
}

/// What the worker found changed behind its back, until the plans that follow settle it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Owned entries found edited, by ID, with the values the operator had written: the
    /// declaration at detection.
    modified: BTreeMap<EntryId, Entry>,
    /// Owned entries found deleted, by key, with the declared entry at detection.
    missing: BTreeMap<EntryKey, Entry>,
    /// Entries under the operator's prefixes it did not know, by ID.
    unexpected: BTreeMap<EntryId, Entry>,
}

impl Ledger {
    /// An owned entry SPIRE holds with other values than `written`, what the operator wrote. An
    /// entry edited again before it was repaired keeps what the operator wrote first.
    pub fn modified(&mut self, written: Entry) {
        if let Some(id) = written.id.clone() {
            self.modified.entry(id).or_insert(written);
        }
    }

    /// An owned entry SPIRE no longer holds, as it was last known. When it had been found
    /// edited and left so, what the operator wrote is the declaration it is compared with.
    pub fn missing(&mut self, known: Entry) {
        let written = known.id.as_ref().and_then(|id| self.modified.remove(id));
        let declared = written.unwrap_or(known);
        self.missing.insert(EntryKey::of(&declared), declared);
    }

    /// An entry under the operator's prefix the operator did not know.
    pub fn unexpected(&mut self, entry: Entry) {
        if let Some(id) = entry.id.clone() {
            self.unexpected.insert(id, entry);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.modified.is_empty() && self.missing.is_empty() && self.unexpected.is_empty()
    }

    /// SPIRE took a write of the entry (an update or a delete): the edit found in it is undone.
    pub fn written_back(&mut self, id: &EntryId) {
        self.modified.remove(id);
    }

    /// What the operator had written of each entry found edited: at start, the entry is planned
    /// in that entry's scope (its selectors may have been edited into another).
    pub fn written(&self) -> impl Iterator<Item = &Entry> {
        self.modified.values()
    }

    /// Keeps each entry found edited in `index` in the scope the operator wrote it to
    /// ([`crate::reconcile::EntryIndex::keep_home`]), as a restarted operator plans it.
    pub fn keep_homes(&self, index: &mut crate::reconcile::EntryIndex) {
        for written in self.written() {
            if let Some(id) = &written.id {
                index.keep_home(id, Scope::of(written));
            }
        }
    }

    /// Keeps, of the scope's records, only those a finding still stands for without being
    /// repaired: a repaired or vanished difference, or one the user's own change overtook, is
    /// forgotten. A Modified entry whose repair is planned keeps its record until SPIRE takes the
    /// write ([`Ledger::written_back`]): what the operator wrote, and so the scope it is planned
    /// in, must survive a write that fails and a restart before it is tried again.
    pub fn settle(&mut self, scope: &Scope, findings: &[Finding]) {
        let open = |class: DriftClass| findings.iter().filter(move |f| f.class == class && !f.repaired);
        let modified: Vec<EntryId> =
            findings.iter().filter(|f| f.class == DriftClass::Modified).filter_map(|f| f.entry_id.clone()).collect();
        let missing: Vec<EntryKey> = open(DriftClass::Missing).map(|f| f.key.clone()).collect();
        let unexpected: Vec<EntryId> = open(DriftClass::Unexpected).filter_map(|f| f.entry_id.clone()).collect();
        self.modified.retain(|id, e| Scope::of(e) != *scope || modified.contains(id));
        self.missing.retain(|key, e| Scope::of(e) != *scope || missing.contains(key));
        self.unexpected.retain(|id, e| Scope::of(e) != *scope || unexpected.contains(id));
    }
}

/// What the classification knows of out-of-band changes.
#[derive(Clone, Copy, Debug)]
pub enum Memory<'a> {
    /// The worker's ledger: only writes that undo a detected change are drift, and a write the
    /// user's own change of the declaration calls for is not.
    Ledger(&'a Ledger),
    /// No memory: every difference the plan finds is drift.
    Stateless,
}

/// The drift of one scope, from its plan. `foreign` holds the scope's entries the operator does
/// not own; `governs` names the policy that governs a SPIFFE ID's space, if any; `owner` the
/// resource that last declared an owned entry, if known.
pub fn classify(
    plan: &Plan,
    memory: Memory<'_>,
    foreign: &[Entry],
    governs: &dyn Fn(&SpiffeId) -> Option<String>,
    owner: &dyn Fn(&EntryId) -> Option<Source>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    // An edit of a key field (SPIFFE ID, parent ID, selectors) is planned as an update of those
    // fields in place, like any other edit: one Modified entry.
    for update in &plan.updates {
        let drifted = match memory {
            Memory::Stateless => true,
            Memory::Ledger(ledger) => {
                update.entry.id.as_ref().and_then(|id| ledger.modified.get(id)).is_some_and(
                    // The declaration is what it was when the edit was found: the write undoes it.
                    |written| differing_stored_fields(&update.entry, written).is_empty(),
                )
            }
        };
        if drifted {
            findings.push(Finding::of(DriftClass::Modified, &update.entry, Some(update.source.clone()), update.mask));
        }
    }
    for create in &plan.creates {
        let drifted = match memory {
            Memory::Stateless => true,
            Memory::Ledger(ledger) => ledger
                .missing
                .get(&EntryKey::of(&create.entry))
                .is_some_and(|declared| differing_fields(&create.entry, declared).is_empty()),
        };
        if drifted {
            let fields = EntryMask::default();
            findings.push(Finding::of(DriftClass::Missing, &create.entry, Some(create.source.clone()), fields));
        }
    }
    for delete in &plan.deletes {
        let drifted = match memory {
            Memory::Stateless => true,
            Memory::Ledger(ledger) => delete.entry.id.as_ref().is_some_and(|id| ledger.unexpected.contains_key(id)),
        };
        if drifted {
            let source = delete.entry.id.as_ref().and_then(owner);
            findings.push(Finding::of(DriftClass::Unexpected, &delete.entry, source, EntryMask::default()));
        }
    }
    for (declaration, id) in &plan.foreign_conflicts {
        let standing = foreign.iter().find(|e| e.id.as_ref() == Some(id));
        let mut finding = Finding::of(
            DriftClass::Foreign,
            standing.unwrap_or(&declaration.entry),
            Some(declaration.source.clone()),
            standing.map(|e| differing_fields(&declaration.entry, e)).unwrap_or_default(),
        );
        finding.entry_id = Some(id.clone());
        finding.policy = governs(&declaration.entry.spiffe_id);
        findings.push(finding);
    }
    let conflicting: Vec<&EntryId> = plan.foreign_conflicts.iter().map(|(_, id)| id).collect();
    for entry in foreign.iter().filter(|e| e.id.as_ref().is_none_or(|id| !conflicting.contains(&id))) {
        if let Some(policy) = governs(&entry.spiffe_id) {
            let mut finding = Finding::of(DriftClass::Foreign, entry, None, EntryMask::default());
            finding.policy = Some(policy);
            findings.push(finding);
        }
    }
    findings
}

/// Counts per class of `findings`, with the fields Modified entries differ in: "1 entry Modified
/// (x509SVIDTTL, dnsNames), 1 Missing".
pub fn summary<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> String {
    let mut by_class: BTreeMap<DriftClass, (usize, EntryMask)> = BTreeMap::new();
    for f in findings {
        let (count, fields) = by_class.entry(f.class).or_default();
        *count += 1;
        *fields = fields.union(f.fields);
    }
    let mut parts = Vec::new();
    for (i, (class, (count, fields))) in by_class.into_iter().enumerate() {
        let noun = match (i, count) {
            (0, 1) => "1 entry ".to_owned(),
            (0, n) => format!("{n} entries "),
            (_, n) => format!("{n} "),
        };
        let fields = if fields.is_empty() { String::new() } else { format!(" ({})", field_names(fields)) };
        parts.push(format!("{noun}{class}{fields}"));
    }
    parts.join(", ")
}

mod record;

pub use record::RecordError;

#[cfg(test)]
mod tests;
