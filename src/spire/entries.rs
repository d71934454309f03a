//! The Entry service: count, list, get and batch create, update and delete registration entries.

use tonic::Code;

use super::{
    CREATE_BATCH_SIZE, DELETE_BATCH_SIZE, Error, ItemError, SpireClient, UPDATE_BATCH_SIZE,
    client::in_batches,
    convert::{entry_from_proto, entry_to_proto, selector_to_proto, spiffe_id_to_proto},
    error::item_status,
    proto::{entry as rpc, entry::entry_client::EntryClient, types},
};
use crate::spiffe::{Entry, EntryId, Selector, SpiffeId, TrustDomain};

/// How a set filter compares with an entry's set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatchBehavior {
    /// The same set, in any order.
    #[default]
    Exact,
    /// The entry's set is a non-empty subset of the given one.
    Subset,
    /// The entry's set holds every given item.
    Superset,
    /// The entry's set shares at least one item.
    Any,
}

impl MatchBehavior {
    fn to_proto(self) -> i32 {
        match self {
            MatchBehavior::Exact => 0,
            MatchBehavior::Subset => 1,
            MatchBehavior::Superset => 2,
            MatchBehavior::Any => 3,
        }
    }
}

/// Narrows ListEntries and CountEntries; the conditions set are combined with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryFilter {
    pub by_spiffe_id: Option<SpiffeId>,
    pub by_parent_id: Option<SpiffeId>,
    pub by_selectors: Option<(Vec<Selector>, MatchBehavior)>,
    pub by_federates_with: Option<(Vec<TrustDomain>, MatchBehavior)>,
    pub by_hint: Option<String>,
    pub by_downstream: Option<bool>,
}

impl EntryFilter {
    fn to_list_proto(&self) -> rpc::list_entries_request::Filter {
        rpc::list_entries_request::Filter {
            by_spiffe_id: self.by_spiffe_id.as_ref().map(spiffe_id_to_proto),
            by_parent_id: self.by_parent_id.as_ref().map(spiffe_id_to_proto),
            by_selectors: self.by_selectors.as_ref().map(|(selectors, how)| types::SelectorMatch {
                selectors: selectors.iter().map(selector_to_proto).collect(),
                r#match: how.to_proto(),
            }),
            by_federates_with: self.by_federates_with.as_ref().map(|(tds, how)| types::FederatesWithMatch {
                trust_domains: tds.iter().map(|td| td.as_str().to_owned()).collect(),
                r#match: how.to_proto(),
            }),
            by_hint: self.by_hint.clone(),
            by_downstream: self.by_downstream,
        }
    }

    fn to_count_proto(&self) -> rpc::count_entries_request::Filter {
        let f = self.to_list_proto();
        rpc::count_entries_request::Filter {
            by_spiffe_id: f.by_spiffe_id,
            by_parent_id: f.by_parent_id,
            by_selectors: f.by_selectors,
            by_federates_with: f.by_federates_with,
            by_hint: f.by_hint,
            by_downstream: f.by_downstream,
        }
    }
}

/// A writable entry field, for update masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryField {
    SpiffeId,
    ParentId,
    Selectors,
    X509SvidTtl,
    FederatesWith,
    Admin,
    Downstream,
    ExpiresAt,
    DnsNames,
    StoreSvid,
    JwtSvidTtl,
    Hint,
}

impl EntryField {
    /// Every writable field.
    pub const ALL: [EntryField; 12] = [
        EntryField::SpiffeId,
        EntryField::ParentId,
        EntryField::Selectors,
        EntryField::X509SvidTtl,
        EntryField::FederatesWith,
        EntryField::Admin,
        EntryField::Downstream,
        EntryField::ExpiresAt,
        EntryField::DnsNames,
        EntryField::StoreSvid,
        EntryField::JwtSvidTtl,
        EntryField::Hint,
    ];
}

/// The set of fields an update writes. Fields outside the mask keep their stored values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryMask(u16);

impl EntryMask {
    /// Every writable field.
    pub fn all() -> Self {
        EntryField::ALL.into_iter().collect()
    }

    pub fn with(self, field: EntryField) -> Self {
        Self(self.0 | 1 << field as u16)
    }

    pub fn contains(self, field: EntryField) -> bool {
        self.0 & (1 << field as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn to_proto(self) -> types::EntryMask {
        use EntryField as F;
        types::EntryMask {
            spiffe_id: self.contains(F::SpiffeId),
            parent_id: self.contains(F::ParentId),
            selectors: self.contains(F::Selectors),
            x509_svid_ttl: self.contains(F::X509SvidTtl),
            federates_with: self.contains(F::FederatesWith),
            admin: self.contains(F::Admin),
            downstream: self.contains(F::Downstream),
            expires_at: self.contains(F::ExpiresAt),
            dns_names: self.contains(F::DnsNames),
            revision_number: false,
            store_svid: self.contains(F::StoreSvid),
            jwt_svid_ttl: self.contains(F::JwtSvidTtl),
            hint: self.contains(F::Hint),
            created_at: false,
            additional_attributes: false,
        }
    }
}

impl FromIterator<EntryField> for EntryMask {
    fn from_iter<T: IntoIterator<Item = EntryField>>(fields: T) -> Self {
        fields.into_iter().fold(Self::default(), Self::with)
    }
}

/// The outcome of creating one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    /// SPIRE stored the entry as sent.
    Created(Entry),
    /// An entry with the same SPIFFE ID, parent ID and selectors exists already; it is returned
    /// unchanged, with its own ID and field values.
    AlreadyExists(Entry),
    /// SPIRE refused the entry.
    Failed(ItemError),
}

fn parse_entry(method: &'static str, entry: Option<types::Entry>) -> Result<Entry, Error> {
    let entry = entry.ok_or_else(|| Error::InvalidResponse { method, detail: "result without entry".into() })?;
    entry_from_proto(entry).map_err(|detail| Error::InvalidResponse { method, detail })
}

impl SpireClient {
    fn entry_client(&self) -> EntryClient<tonic::transport::Channel> {
        EntryClient::new(self.channel.clone())
    }

    /// Counts the entries that match `filter`.
    pub async fn count_entries(&self, filter: &EntryFilter) -> Result<u32, Error> {
        let request = self.request(rpc::CountEntriesRequest { filter: Some(filter.to_count_proto()) });
        let response = self.call("CountEntries", self.entry_client().count_entries(request)).await?;
        Ok(u32::try_from(response.count).unwrap_or_default())
    }

    /// Lists one page of entries. An empty `next page token` ends the listing.
    pub async fn list_entries_page(
        &self,
        filter: &EntryFilter,
        page_size: i32,
        page_token: String,
    ) -> Result<(Vec<Entry>, String), Error> {
        const METHOD: &str = "ListEntries";
        let request = self.request(rpc::ListEntriesRequest {
            filter: Some(filter.to_list_proto()),
            output_mask: None,
            page_size,
            page_token,
        });
        let response = self.call(METHOD, self.entry_client().list_entries(request)).await?;
        let entries =
            response.entries.into_iter().map(|e| parse_entry(METHOD, Some(e))).collect::<Result<Vec<_>, _>>()?;
        Ok((entries, response.next_page_token))
    }

    /// Lists every entry that matches `filter`, `page_size` entries per call.
    pub async fn list_entries(&self, filter: &EntryFilter, page_size: i32) -> Result<Vec<Entry>, Error> {
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let (entries, next) = self.list_entries_page(filter, page_size, token).await?;
            all.extend(entries);
            if next.is_empty() {
                return Ok(all);
            }
            token = next;
        }
    }

    /// Reads one entry; a missing entry fails with code NOT_FOUND.
    pub async fn get_entry(&self, id: &EntryId) -> Result<Entry, Error> {
        const METHOD: &str = "GetEntry";
        let request = self.request(rpc::GetEntryRequest { id: id.as_str().to_owned(), output_mask: None });
        let entry = self.call(METHOD, self.entry_client().get_entry(request)).await?;
        parse_entry(METHOD, Some(entry))
    }

    /// Creates entries, [`CREATE_BATCH_SIZE`] per call. Outcomes are in the order of `entries`.
    pub async fn batch_create_entries(&self, entries: &[Entry]) -> Result<Vec<CreateOutcome>, Error> {
        const METHOD: &str = "BatchCreateEntry";
        let wire: Vec<types::Entry> = entries.iter().map(entry_to_proto).collect();
        in_batches(METHOD, wire, CREATE_BATCH_SIZE, |batch| async move {
            let request = self.request(rpc::BatchCreateEntryRequest { entries: batch, output_mask: None });
            let response = self.call(METHOD, self.entry_client().batch_create_entry(request)).await?;
            response
                .results
                .into_iter()
                .map(|result| match item_status(result.status) {
                    Ok(()) => parse_entry(METHOD, result.entry).map(CreateOutcome::Created),
                    Err(e) if e.code == Code::AlreadyExists && result.entry.is_some() => {
                        parse_entry(METHOD, result.entry).map(CreateOutcome::AlreadyExists)
                    }
                    Err(e) => Ok(CreateOutcome::Failed(e)),
                })
                .collect()
        })
        .await
    }

    /// Updates the `mask` fields of entries identified by their IDs, [`UPDATE_BATCH_SIZE`] per
    /// call. Results are in the order of `entries`.
    pub async fn batch_update_entries(
        &self,
        entries: &[Entry],
        mask: EntryMask,
    ) -> Result<Vec<Result<Entry, ItemError>>, Error> {
        const METHOD: &str = "BatchUpdateEntry";
        let wire: Vec<types::Entry> = entries.iter().map(entry_to_proto).collect();
        in_batches(METHOD, wire, UPDATE_BATCH_SIZE, |batch| async move {
            let request = self.request(rpc::BatchUpdateEntryRequest {
                entries: batch,
                input_mask: Some(mask.to_proto()),
                output_mask: None,
            });
            let response = self.call(METHOD, self.entry_client().batch_update_entry(request)).await?;
            response
                .results
                .into_iter()
                .map(|result| match item_status(result.status) {
                    Ok(()) => parse_entry(METHOD, result.entry).map(Ok),
                    Err(e) => Ok(Err(e)),
                })
                .collect()
        })
        .await
    }

    /// Deletes entries by ID, [`DELETE_BATCH_SIZE`] per call. Results are in the order of `ids`.
    pub async fn batch_delete_entries(&self, ids: &[EntryId]) -> Result<Vec<Result<(), ItemError>>, Error> {
        const METHOD: &str = "BatchDeleteEntry";
        let wire: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        in_batches(METHOD, wire, DELETE_BATCH_SIZE, |batch| async move {
            let request = self.request(rpc::BatchDeleteEntryRequest { ids: batch });
            let response = self.call(METHOD, self.entry_client().batch_delete_entry(request)).await?;
            Ok(response.results.into_iter().map(|r| item_status(r.status)).collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_sets_only_the_named_bits() {
        let mask: EntryMask = [EntryField::Hint, EntryField::DnsNames].into_iter().collect();
        let wire = mask.to_proto();
        assert!(wire.hint && wire.dns_names);
        assert!(!wire.spiffe_id && !wire.selectors && !wire.admin && !wire.x509_svid_ttl);
        assert!(!wire.revision_number && !wire.created_at);
    }

    #[test]
    fn full_mask_covers_every_writable_field() {
        let wire = EntryMask::all().to_proto();
        assert!(wire.spiffe_id && wire.parent_id && wire.selectors && wire.x509_svid_ttl);
        assert!(wire.federates_with && wire.admin && wire.downstream && wire.expires_at);
        assert!(wire.dns_names && wire.store_svid && wire.jwt_svid_ttl && wire.hint);
        assert!(EntryMask::default().is_empty());
    }

    #[test]
    fn item_status_reads_ok_and_errors() {
        assert_eq!(item_status(None), Ok(()));
        assert_eq!(item_status(Some(types::Status { code: 0, message: "OK".into() })), Ok(()));
        assert_eq!(
            item_status(Some(types::Status { code: 5, message: "entry not found".into() })),
            Err(ItemError { code: Code::NotFound, message: "entry not found".into() })
        );
    }

    #[test]
    fn match_behaviours_have_the_wire_numbers() {
        let numbers: Vec<i32> =
            [MatchBehavior::Exact, MatchBehavior::Subset, MatchBehavior::Superset, MatchBehavior::Any]
                .into_iter()
                .map(MatchBehavior::to_proto)
                .collect();
        assert_eq!(numbers, [0, 1, 2, 3]);
    }
}
