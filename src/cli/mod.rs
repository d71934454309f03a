//! The read-only subcommands: `plan` (what a reconcile would write, and why) and `report` (the
//! inventory of every identity). Both list the cluster and SPIRE once, build the snapshot the
//! worker builds and run the same [`crate::pass::run`] over every scope, so they never disagree
//! with the running controller. They write nothing, anywhere.

pub mod catalog;
pub mod check;
pub mod format;
pub mod manifests;
pub mod openreports;
pub mod plan;
pub mod report;
pub mod snapshot;
pub mod validate;
pub mod version;

use std::path::PathBuf;

use k8s_openapi::jiff::Timestamp;

use crate::config::Config;

/// Why a subcommand could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Inputs(#[from] snapshot::Error),
    #[error(transparent)]
    Manifest(#[from] manifests::Error),
    #[error("encoding the output")]
    Encode(#[from] serde_json::Error),
    #[error("encoding the output as YAML")]
    EncodeYaml(#[from] serde_yaml_ng::Error),
}

/// The forms `plan` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFormat {
    Table,
    Json,
    /// The JSON form's fields, as YAML.
    Yaml,
}

/// The forms `report` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Table,
    Json,
    /// The JSON form's fields, as YAML.
    Yaml,
    Csv,
    OpenReports,
}

/// What a subcommand prints: the output for stdout, warnings for stderr, and whether a
/// reconcile would write anything.
#[derive(Debug)]
pub struct Output {
    pub text: String,
    pub warnings: Vec<String>,
    pub changes: bool,
}

/// One line per SPIRE entry the operator cannot read.
fn unreadable_warnings(listing: &snapshot::Listing) -> Vec<String> {
    listing
        .entries
        .unparsed
        .iter()
        .map(|u| {
            format!(
                "left out SPIRE entry {} ({}): the operator cannot read it and never changes it: {}",
                u.id, u.spiffe_id, u.reason
            )
        })
        .collect()
}

/// `plan`: the manifests in `files` laid over the cluster's resources, planned.
pub async fn run_plan(
    client: &kube::Client,
    config: &Config,
    files: &[PathBuf],
    format: PlanFormat,
) -> Result<Output, Error> {
    // The manifests are read first: a broken one fails before anything is listed.
    let manifests = manifests::read(files)?;
    let now = Timestamp::now();
    let mut listing = snapshot::Listing::fetch(client, config).await?;
    let mut warnings = manifests.warnings.clone();
    warnings.extend(unreadable_warnings(&listing));
    manifests::overlay(&mut listing, manifests, now);
    // The drift the running operator recorded: what it withholds under driftPolicy Report.
    let memory = snapshot::DriftMemory::fetch(client, config).await;
    let evaluation = snapshot::Evaluation::run_remembering(&listing, config, now, memory.ledger());
    let catalog = catalog::Catalog::of(&listing);
    let mut planned = plan::plan(&evaluation, &catalog);
    planned.notes = plan::notes(&planned, config, evaluation.index.len());
    // Whether the record matters: only drift left under Report is planned differently with it.
    let report_policy = Some(crate::drift::DriftPolicy::Report);
    let reporting = config.drift_policy == crate::drift::DriftPolicy::Report
        || listing.identities.objects.iter().any(|o| o.spec.drift_policy == report_policy)
        || listing.tenant_identities.objects.iter().any(|o| o.spec.drift_policy == report_policy)
        || listing.static_entries.objects.iter().any(|o| o.spec.drift_policy == report_policy);
    match &memory {
        snapshot::DriftMemory::Unreadable { state, error } if reporting => planned.notes.push(format!(
            "the operator's drift record (ConfigMap {state}) could not be read ({error}): writes that undo drift it \
             leaves under driftPolicy Report are shown as writes"
        )),
        snapshot::DriftMemory::Absent if reporting => {
            let state = crate::controller::StateRef::of(config);
            planned.notes.push(format!(
                "no drift recorded by the operator (ConfigMap {}/{} holds none; set leaderElection.resourceNamespace \
                 if the operator keeps its state elsewhere): every difference is shown as a write",
                state.namespace, state.name
            ));
        }
        _ => {}
    }
    let text = match format {
        PlanFormat::Table => plan::table(&planned),
        PlanFormat::Json => serde_json::to_string_pretty(&planned)? + "\n",
        PlanFormat::Yaml => serde_yaml_ng::to_string(&planned)?,
    };
    Ok(Output { text, warnings, changes: planned.has_changes() })
}

/// `report`: every identity as the cluster and SPIRE hold it.
pub async fn run_report(client: &kube::Client, config: &Config, format: ReportFormat) -> Result<Output, Error> {
    let now = Timestamp::now();
    let listing = snapshot::Listing::fetch(client, config).await?;
    let warnings = unreadable_warnings(&listing);
    let evaluation = snapshot::Evaluation::run(&listing, config, now);
    let catalog = catalog::Catalog::of(&listing);
    let reported = report::report(&evaluation, &catalog, listing.entries.unparsed.len());
    let text = match format {
        ReportFormat::Table => report::table(&reported),
        ReportFormat::Json => serde_json::to_string_pretty(&reported)? + "\n",
        ReportFormat::Yaml => serde_yaml_ng::to_string(&reported)?,
        ReportFormat::Csv => report::csv(&reported),
        ReportFormat::OpenReports => openreports::yaml(&openreports::reports(&reported, &evaluation, config)),
    };
    let changes = reported.rows.iter().any(|r| r.drift != report::Drift::InSync && r.drift != report::Drift::Absent);
    Ok(Output { text, warnings, changes })
}
