use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use spire_steward::{
    cli,
    config::{self, LogEncoding},
};

/// Governs the lifecycle of SPIRE workload identities declared as Kubernetes resources.
#[derive(Parser)]
#[command(name = "spire-steward", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator.
    Run(Box<RunArgs>),
    /// Show what a reconcile would create, update and delete, and why, without writing anything.
    ///
    /// Exit code 0 when there are no changes, 2 when there are, 1 on error.
    Plan(Box<PlanArgs>),
    /// List every identity: its source, owner, effective TTLs, policy decision, exception and
    /// drift, without writing anything.
    Report(Box<ReportArgs>),
    /// Check manifests offline, as the API server and the operator would judge them, without a
    /// cluster or SPIRE.
    ///
    /// Exit code 0 when every resource is valid, 1 when one is not (each problem is named by file,
    /// document and field).
    Validate {
        /// Manifests: a file of YAML documents, or a directory read recursively for *.yaml and *.yml.
        #[arg(short = 'f', long = "filename", value_name = "FILE|DIR", required = true)]
        files: Vec<PathBuf>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Check that this configuration can run here: the API server, the CRDs, every permission
    /// the operator needs (SelfSubjectAccessReview), SPIRE and admin access to it.
    ///
    /// One line per check; exit code 0 when all pass, 1 when one fails.
    Check(Box<CheckArgs>),
    /// Print the version, source revision and build date; with --server, the running operator's too.
    Version {
        /// The running operator's metrics endpoint, `http://host:port`.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Print a shell completion script (source it, or install it where the shell looks).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print every CustomResourceDefinition as YAML, or write one file per CRD into a directory.
    Crds {
        /// Write `<crd name>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// The operator's configuration, read by `plan` and `report` exactly as `run` reads it.
#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Manifests (a file of YAML documents, or a directory read recursively for *.yaml and
    /// *.yml) laid over what the cluster holds, to review a change before it is applied.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR")]
    files: Vec<PathBuf>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanOutput::Table)]
    output: PlanOutput,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    run: RunArgs,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// The output forms of `validate` and `version`, as kubectl names them.
#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanOutput {
    Table,
    Json,
    Yaml,
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    run: RunArgs,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = ReportOutput::Table)]
    output: ReportOutput,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportOutput {
    Table,
    Json,
    Yaml,
    Csv,
    /// openreports.io/v1alpha1 ClusterReport and Report objects, as YAML.
    Openreports,
}

/// Flags override the configuration file's keys of the same meaning.
#[derive(Args)]
struct RunArgs {
    /// The configuration file (YAML, kind OperatorConfig).
    #[arg(long, env = "SPIRE_STEWARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: config::Overrides,
}

impl RunArgs {
    fn load(self) -> anyhow::Result<config::Config> {
        let file = match &self.config {
            Some(path) => config::File::read(path)?,
            None => config::File::default(),
        };
        Ok(file.override_with(self.overrides).validate()?)
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Plan(args) => {
            let PlanArgs { run, files, output } = *args;
            read_only(run, |client, config| async move {
                let format = match output {
                    PlanOutput::Table => cli::PlanFormat::Table,
                    PlanOutput::Json => cli::PlanFormat::Json,
                    PlanOutput::Yaml => cli::PlanFormat::Yaml,
                };
                cli::run_plan(&client, &config, &files, format).await
            })
            .map(|changes| if changes { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Command::Report(args) => {
            let ReportArgs { run, output } = *args;
            read_only(run, |client, config| async move {
                let format = match output {
                    ReportOutput::Table => cli::ReportFormat::Table,
                    ReportOutput::Json => cli::ReportFormat::Json,
                    ReportOutput::Yaml => cli::ReportFormat::Yaml,
                    ReportOutput::Csv => cli::ReportFormat::Csv,
                    ReportOutput::Openreports => cli::ReportFormat::OpenReports,
                };
                cli::run_report(&client, &config, format).await
            })
            .map(|_| ExitCode::SUCCESS)
        }
        Command::Validate { files, output } => validate(&files, output),
        Command::Check(args) => check(args.run, args.output),
        Command::Version { server, output } => version(server.as_deref(), output).map(|()| ExitCode::SUCCESS),
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "spire-steward", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        other => operate(other).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

/// Runs a read-only subcommand: prints its output on stdout and its warnings on stderr, and
/// says whether a reconcile would write anything.
fn read_only<F, Fut>(args: RunArgs, command: F) -> anyhow::Result<bool>
where
    F: FnOnce(kube::Client, config::Config) -> Fut,
    Fut: std::future::Future<Output = Result<cli::Output, cli::Error>>,
{
    let config = args.load().context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let output = runtime.block_on(async {
        let client = kube::Client::try_default().await.context("connecting to Kubernetes")?;
        anyhow::Ok(command(client, config).await?)
    })?;
    for warning in &output.warnings {
        eprintln!("warning: {warning}");
    }
    print!("{}", output.text);
    Ok(output.changes)
}

/// Prints `value` as JSON or YAML, or `table` for the table form.
fn print(value: &impl serde::Serialize, output: Output, table: impl FnOnce() -> String) -> anyhow::Result<()> {
    match output {
        Output::Table => print!("{}", table()),
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Yaml => print!("{}", serde_yaml_ng::to_string(value)?),
    }
    Ok(())
}

fn validate(files: &[PathBuf], output: Output) -> anyhow::Result<ExitCode> {
    let found = cli::validate::validate(files, k8s_openapi::jiff::Timestamp::now());
    for warning in &found.warnings {
        eprintln!("warning: {warning}");
    }
    print(&found, output, || {
        let mut text: String = found.problems.iter().map(|p| format!("{p}\n")).collect();
        text.push_str(&format!("{} resources checked, {} problems\n", found.checked, found.problems.len()));
        text
    })?;
    Ok(if found.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn check(args: RunArgs, output: Output) -> anyhow::Result<ExitCode> {
    let config = args.load().context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let checks = runtime.block_on(async {
        if config.static_manifests.is_some() {
            return cli::check::run_static(&config).await;
        }
        match kube::Client::try_default().await {
            Ok(client) => cli::check::run(&client, &config).await,
            Err(e) => {
                vec![cli::check::Check { name: "api server".into(), ok: false, detail: format!("no client: {e}") }]
            }
        }
    });
    print(&checks, output, || checks.iter().map(|c| format!("{c}\n")).collect())?;
    Ok(if checks.iter().all(|c| c.ok) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn version(server: Option<&str>, output: Output) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct Versions {
        client: cli::version::Build,
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<cli::version::Build>,
    }
    let server = match server {
        Some(url) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            Some(runtime.block_on(cli::version::server(url))?)
        }
        None => None,
    };
    let versions = Versions { client: cli::version::client(), server };
    print(&versions, output, || {
        let line = |who: &str, b: &cli::version::Build| {
            let date = b.build_date.as_deref().map(|d| format!(", built {d}")).unwrap_or_default();
            format!("{who}: spire-steward {}, revision {}{date}\n", b.version, b.revision)
        };
        let mut text = line("client", &versions.client);
        if let Some(server) = &versions.server {
            text.push_str(&line("server", server));
        }
        text
    })
}

fn operate(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Plan(_)
        | Command::Report(_)
        | Command::Validate { .. }
        | Command::Check(_)
        | Command::Version { .. }
        | Command::Completion { .. } => unreachable!("handled by main"),
        Command::Crds { out_dir } => write_crds(out_dir),
        Command::Run(args) => {
            let config = args.load().context("invalid configuration")?;
            init_logging(&config);
            // One thread: the operator waits on the API server and SPIRE far more than it
            // computes, and a single thread keeps its memory small and predictable.
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(run(config))
        }
    }
}

async fn run(config: config::Config) -> anyhow::Result<()> {
    if config.static_manifests.is_some() {
        // No Kubernetes client at all: resources come from files.
        spire_steward::static_mode::run(config, async {
            shutdown_signal().await;
            tracing::info!("stopping");
        })
        .await?;
        return Ok(());
    }
    let client = kube::Client::try_default().await.context("connecting to Kubernetes")?;
    tracing::info!(
        trust_domain = %config.trust_domain,
        cluster = %config.cluster_name,
        entry_id_prefix = %config.entry_id_prefix,
        socket = %config.spire_server_socket_path.display(),
        tcp = ?config.spire_tcp.as_ref().map(|t| &t.address),
        "starting spire-steward"
    );
    if !config.ignored_keys.is_empty() {
        tracing::warn!(keys = ?config.ignored_keys,
            "read a spire-controller-manager configuration file; these keys change nothing in spire-steward");
    }
    spire_steward::controller::run(config, client, async {
        shutdown_signal().await;
        tracing::info!("stopping");
    })
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Whether console logs are coloured: only on a terminal, and never with `NO_COLOR` set to
/// anything but the empty string (no-color.org), so `kubectl logs` shows no escape codes.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

fn init_logging(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config.log_level.as_str()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(std::io::IsTerminal::is_terminal(&std::io::stderr()), std::env::var_os("NO_COLOR")));
    match config.log_encoding {
        LogEncoding::Json => builder.json().init(),
        LogEncoding::Console => builder.init(),
    }
}

fn write_crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let crds = spire_steward::crdgen::render_crds().context("rendering CRDs")?;
    match out_dir {
        None => {
            let docs: Vec<&str> = crds.iter().map(|c| c.yaml.as_str()).collect();
            print!("{}", docs.join("---\n"));
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in crds {
                let path = dir.join(&crd.file_name);
                std::fs::write(&path, crd.yaml).with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(super::colour(true, None));
        assert!(super::colour(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!super::colour(true, Some("1".into())));
        assert!(!super::colour(false, None));
    }
}
