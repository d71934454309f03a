//! The TrustDomain service: federation relationships with foreign trust domains.

use super::{
    Error, FederationRelationship, ItemError, RELATIONSHIP_BATCH_SIZE, RELATIONSHIP_PAGE_SIZE, RelationshipMask,
    SpireClient,
    client::in_batches,
    convert::{relationship_from_proto, relationship_mask_to_proto, relationship_to_proto},
    error::item_status,
    proto::{trustdomain as rpc, trustdomain::trust_domain_client::TrustDomainClient, types},
};
use crate::spiffe::TrustDomain;

/// Reads a relationship of a response; one the domain types refuse fails the whole call.
fn parse_relationship(
    method: &'static str,
    wire: types::FederationRelationship,
) -> Result<FederationRelationship, Error> {
    let trust_domain = wire.trust_domain.clone();
    relationship_from_proto(wire)
        .map_err(|e| Error::InvalidResponse { method, detail: format!("relationship {trust_domain:?}: {e}") })
}

fn item_result(
    method: &'static str,
    status: Option<types::Status>,
    relationship: Option<types::FederationRelationship>,
) -> Result<Result<FederationRelationship, ItemError>, Error> {
    if let Err(e) = item_status(status) {
        return Ok(Err(e));
    }
    let wire =
        relationship.ok_or_else(|| Error::InvalidResponse { method, detail: "result without relationship".into() })?;
    parse_relationship(method, wire).map(Ok)
}

/// The RPC name of relationship listings.
pub(super) const LIST_RELATIONSHIPS: &str = "ListFederationRelationships";

impl SpireClient {
    fn trust_domain_client(&self) -> TrustDomainClient<tonic::transport::Channel> {
        TrustDomainClient::new(self.channel())
    }

    /// Lists one page of relationships, [`RELATIONSHIP_PAGE_SIZE`] per call, in their wire form.
    /// An empty `next page token` ends the listing.
    pub(super) async fn list_wire_relationships_page(
        &self,
        page_token: String,
    ) -> Result<(Vec<types::FederationRelationship>, String), Error> {
        let request = self.request(rpc::ListFederationRelationshipsRequest {
            output_mask: None,
            page_size: RELATIONSHIP_PAGE_SIZE,
            page_token,
        });
        let response =
            self.call(LIST_RELATIONSHIPS, self.trust_domain_client().list_federation_relationships(request)).await?;
        Ok((response.federation_relationships, response.next_page_token))
    }

    /// Lists every federation relationship, [`RELATIONSHIP_PAGE_SIZE`] per call. A relationship
    /// the domain types refuse fails the call; [`SpireClient::list_federation_relationships_lenient`]
    /// sets it aside.
    pub async fn list_federation_relationships(&self) -> Result<Vec<FederationRelationship>, Error> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let (page, next) = self.list_wire_relationships_page(page_token).await?;
            for wire in page {
                all.push(parse_relationship(LIST_RELATIONSHIPS, wire)?);
            }
            if next.is_empty() {
                return Ok(all);
            }
            page_token = next;
        }
    }

    /// Reads the relationship with one trust domain; none fails with code NOT_FOUND.
    pub async fn get_federation_relationship(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<FederationRelationship, Error> {
        const METHOD: &str = "GetFederationRelationship";
        let request = self.request(rpc::GetFederationRelationshipRequest {
            trust_domain: trust_domain.as_str().to_owned(),
            output_mask: None,
        });
        let wire = self.call(METHOD, self.trust_domain_client().get_federation_relationship(request)).await?;
        parse_relationship(METHOD, wire)
    }

    /// Creates relationships; an existing one for the same trust domain fails with
    /// ALREADY_EXISTS. Results are in the order of `relationships`.
    pub async fn batch_create_federation_relationships(
        &self,
        relationships: &[FederationRelationship],
    ) -> Result<Vec<Result<FederationRelationship, ItemError>>, Error> {
        const METHOD: &str = "BatchCreateFederationRelationship";
        let wire = relationships.iter().map(relationship_to_proto).collect();
        in_batches(METHOD, wire, RELATIONSHIP_BATCH_SIZE, |batch| async move {
            let request = self.request(rpc::BatchCreateFederationRelationshipRequest {
                federation_relationship: batch,
                output_mask: None,
            });
            let response =
                self.call(METHOD, self.trust_domain_client().batch_create_federation_relationship(request)).await?;
            response.results.into_iter().map(|r| item_result(METHOD, r.status, r.federation_relationship)).collect()
        })
        .await
    }

    /// Updates the `mask` fields of existing relationships. Results are in the order of
    /// `relationships`.
    pub async fn batch_update_federation_relationships(
        &self,
        relationships: &[FederationRelationship],
        mask: RelationshipMask,
    ) -> Result<Vec<Result<FederationRelationship, ItemError>>, Error> {
        const METHOD: &str = "BatchUpdateFederationRelationship";
        let wire = relationships.iter().map(relationship_to_proto).collect();
        in_batches(METHOD, wire, RELATIONSHIP_BATCH_SIZE, |batch| async move {
            let request = self.request(rpc::BatchUpdateFederationRelationshipRequest {
                federation_relationships: batch,
                input_mask: Some(relationship_mask_to_proto(mask)),
                output_mask: None,
            });
            let response =
                self.call(METHOD, self.trust_domain_client().batch_update_federation_relationship(request)).await?;
            response.results.into_iter().map(|r| item_result(METHOD, r.status, r.federation_relationship)).collect()
        })
        .await
    }

    /// Deletes the relationships with the given trust domains. Results are in the order of
    /// `trust_domains`.
    pub async fn batch_delete_federation_relationships(
        &self,
        trust_domains: &[TrustDomain],
    ) -> Result<Vec<Result<(), ItemError>>, Error> {
        const METHOD: &str = "BatchDeleteFederationRelationship";
        let wire = trust_domains.iter().map(|td| td.as_str().to_owned()).collect();
        in_batches(METHOD, wire, RELATIONSHIP_BATCH_SIZE, |batch| async move {
            let request = self.request(rpc::BatchDeleteFederationRelationshipRequest { trust_domains: batch });
            let response =
                self.call(METHOD, self.trust_domain_client().batch_delete_federation_relationship(request)).await?;
            Ok(response.results.into_iter().map(|r| item_status(r.status)).collect())
        })
        .await
    }
}
