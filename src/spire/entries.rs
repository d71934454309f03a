//! The Entry service: count, list, get and batch create, update and delete registration entries.

use tonic::Code;

use super::{
    CREATE_BATCH_SIZE, DELETE_BATCH_SIZE, Error, ItemError, SpireClient, UPDATE_BATCH_SIZE,
    client::in_batches,
    convert::{entry_from_proto, entry_to_proto, mask_to_proto, selector_to_proto, spiffe_id_to_proto},
    error::item_status,
    proto::{entry as rpc, entry::entry_client::EntryClient, types},
};
use crate::spiffe::{Entry, EntryId, EntryMask, Selector, SpiffeId, TrustDomain};

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

/// Reads an entry of a response; one the domain types refuse fails the whole call.
fn parse_entry(method: &'static str, entry: Option<types::Entry>) -> Result<Entry, Error> {
    let entry = entry.ok_or_else(|| Error::InvalidResponse { method, detail: "result without entry".into() })?;
    let id = entry.id.clone();
    entry_from_proto(entry).map_err(|e| Error::InvalidResponse { method, detail: format!("entry {id:?}: {e}") })
}

/// The RPC name of entry listings.
pub(super) const LIST_ENTRIES: &str = "ListEntries";

/// The DNS names of each entry of a batch, in the order sent.
fn sent_dns_names(batch: &[types::Entry]) -> Vec<Vec<String>> {
    batch.iter().map(|e| e.dns_names.clone()).collect()
}

/// SPIRE answers BatchCreateEntry and BatchUpdateEntry with the entry's DNS names sorted, while
/// it stores, gets and lists them in the order they were written; the first is the X509-SVID's
/// common name. When the answer holds the names sent, they are put back in the order sent, which
/// is the stored order for a create and for an update that writes the DNS names. (An update that
/// leaves them alone keeps the stored order, which the answer does not tell; the order sent is
/// then the caller's own view.) Any other answer is returned as SPIRE gave it.
fn in_written_order(mut answered: Entry, sent: Option<&Vec<String>>) -> Entry {
    let Some(sent) = sent else { return answered };
    let sorted = |names: &[String]| {
        let mut names = names.to_vec();
        names.sort_unstable();
        names
    };
    if answered.dns_names != *sent && sorted(&answered.dns_names) == sorted(sent) {
        answered.dns_names = sent.clone();
    }
    answered
}

impl SpireClient {
    fn entry_client(&self) -> EntryClient<tonic::transport::Channel> {
        EntryClient::new(self.channel())
    }

    /// Counts the entries that match `filter`.
    pub async fn count_entries(&self, filter: &EntryFilter) -> Result<u32, Error> {
        let request = self.request(rpc::CountEntriesRequest { filter: Some(filter.to_count_proto()) });
        let response = self.call("CountEntries", self.entry_client().count_entries(request)).await?;
        Ok(u32::try_from(response.count).unwrap_or_default())
    }

    /// Lists one page of entries in their wire form. An empty `next page token` ends the listing.
    pub(super) async fn list_wire_entries_page(
        &self,
        filter: &EntryFilter,
        page_size: i32,
        page_token: String,
    ) -> Result<(Vec<types::Entry>, String), Error> {
        let request = self.request(rpc::ListEntriesRequest {
            filter: Some(filter.to_list_proto()),
            output_mask: None,
            page_size,
            page_token,
        });
        let response = self.call(LIST_ENTRIES, self.entry_client().list_entries(request)).await?;
        Ok((response.entries, response.next_page_token))
    }

    /// Lists one page of entries. An empty `next page token` ends the listing. An entry the
    /// domain types refuse fails the call; [`SpireClient::list_entries_lenient`] sets it aside.
    pub async fn list_entries_page(
        &self,
        filter: &EntryFilter,
        page_size: i32,
        page_token: String,
    ) -> Result<(Vec<Entry>, String), Error> {
        let (wire, next) = self.list_wire_entries_page(filter, page_size, page_token).await?;
        let entries = wire.into_iter().map(|e| parse_entry(LIST_ENTRIES, Some(e))).collect::<Result<Vec<_>, _>>()?;
        Ok((entries, next))
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
    /// Created entries carry their DNS names in the order SPIRE stores them (the order sent),
    /// not in the sorted order of SPIRE's answer.
    pub async fn batch_create_entries(&self, entries: &[Entry]) -> Result<Vec<CreateOutcome>, Error> {
        const METHOD: &str = "BatchCreateEntry";
        let wire: Vec<types::Entry> = entries.iter().map(entry_to_proto).collect();
        in_batches(METHOD, wire, CREATE_BATCH_SIZE, |batch| async move {
            let sent = sent_dns_names(&batch);
            let request = self.request(rpc::BatchCreateEntryRequest { entries: batch, output_mask: None });
            let response = self.call(METHOD, self.entry_client().batch_create_entry(request)).await?;
            response
                .results
                .into_iter()
                .enumerate()
                .map(|(i, result)| match item_status(result.status) {
                    Ok(()) => parse_entry(METHOD, result.entry)
                        .map(|entry| CreateOutcome::Created(in_written_order(entry, sent.get(i)))),
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
    /// call. Results are in the order of `entries`. Their DNS names are in the order sent when
    /// they are the names sent: SPIRE stores that order when the mask writes the DNS names, and
    /// otherwise keeps an order the answer does not tell.
    pub async fn batch_update_entries(
        &self,
        entries: &[Entry],
        mask: EntryMask,
    ) -> Result<Vec<Result<Entry, ItemError>>, Error> {
        const METHOD: &str = "BatchUpdateEntry";
        let wire: Vec<types::Entry> = entries.iter().map(entry_to_proto).collect();
        in_batches(METHOD, wire, UPDATE_BATCH_SIZE, |batch| async move {
            let sent = sent_dns_names(&batch);
            let request = self.request(rpc::BatchUpdateEntryRequest {
                entries: batch,
                input_mask: Some(mask_to_proto(mask)),
                output_mask: None,
            });
            let response = self.call(METHOD, self.entry_client().batch_update_entry(request)).await?;
            response
                .results
                .into_iter()
                .enumerate()
                .map(|(i, result)| match item_status(result.status) {
                    Ok(()) => parse_entry(METHOD, result.entry).map(|entry| Ok(in_written_order(entry, sent.get(i)))),
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

    fn answered(dns_names: &[&str]) -> Entry {
        let mut entry = Entry::new(
            SpiffeId::parse("spiffe://example.org/web").unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            vec![Selector::parse("k8s:ns:default").unwrap()],
        );
        entry.dns_names = dns_names.iter().map(|n| n.to_string()).collect();
        entry
    }

    #[test]
    fn sorted_dns_names_go_back_into_the_order_written() {
        let sent: Vec<String> = ["z.example", "a.example", "m.example"].map(String::from).to_vec();
        let restored = in_written_order(answered(&["a.example", "m.example", "z.example"]), Some(&sent));
        assert_eq!(restored.dns_names, sent);
    }

    #[test]
    fn other_dns_names_are_returned_as_answered() {
        let sent: Vec<String> = vec!["ignored.example".into()];
        let kept = in_written_order(answered(&["a.example", "b.example"]), Some(&sent));
        assert_eq!(kept.dns_names, ["a.example", "b.example"]);
        let unmatched = in_written_order(answered(&["a.example"]), None);
        assert_eq!(unmatched.dns_names, ["a.example"]);
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
