//! The custom resources spire-steward serves, and the vocabulary of their status.

pub mod conditions;
pub mod v1alpha1;
