//! How policies set an identity's SVID lifetimes, as its status shows it.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// The SVID lifetimes the identity's entries are written with, when a policy governs them.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TtlStatus {
    /// X509-SVID lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<TtlReport>,
    /// JWT-SVID lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<TtlReport>,
}

/// One lifetime: what the identity asked for, what is written, and what set it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TtlReport {
    /// The lifetime the spec declares; unset when it declares none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    /// The lifetime written to SPIRE; unset leaves the SPIRE server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<String>,
    /// What set the effective lifetime when it differs from the requested one, such as
    /// `IdentityPolicy/baseline max` or `IdentityException/legacy-billing ttl max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_by: Option<String>,
}
