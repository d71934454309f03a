//! spire-steward keeps SPIRE registration entries in line with workload-identity custom resources.
//!
//! The crate is laid out as a pure core with thin edges:
//! - [`api`]: the custom resources and their status vocabulary;
//! - [`spiffe`]: SPIFFE IDs, trust domains, selectors and entries, validated once at the boundary;
//! - [`spire`]: the SPIRE Server API client over the admin socket;
//! - [`config`]: the operator configuration file, validated at start-up;
//! - [`duration`]: Go duration strings, as users write TTLs and intervals;
//! - [`pod_view`]: pods as the operator caches them, with only what templates and selection read;
//! - [`cli`]: the read-only `plan` and `report` subcommands, over the same pass.
//!
//! The pure core is [`pass`] (one worker pass over a snapshot), [`drift`], [`render`], [`reconcile`],
//! [`policy`], [`status`], [`template`], [`spiffe`], [`selection`], [`pod_view`] and [`duration`]:
//! functions from values to values, testable without a server. It
//! may not import the IO edges: the crate's [`spire`], [`controller`], [`admin`], [`lease`] and
//! [`metrics`] modules, the `tokio`, `tonic`, `axum` and `hyper` crates, or the kube client
//! (`kube::Client`, `kube::Api`). Resource data (`kube::Resource`, `k8s_openapi` types) is fine.
//! `tests/boundary.rs` reads the pure modules' sources and fails on any such path.

pub mod admin;
pub mod api;
pub mod audit;
pub mod breaker;
pub mod cli;
pub mod config;
pub mod controller;
pub mod crdgen;
pub mod drift;
pub mod duration;
pub mod lease;
pub mod metrics;
pub mod pass;
pub mod pod_view;
pub mod policy;
pub mod reconcile;
pub mod render;
pub mod retry;
pub mod selection;
pub mod spiffe;
pub mod spire;
pub mod static_mode;
pub mod status;
pub mod template;
