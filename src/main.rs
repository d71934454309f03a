use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Governs the lifecycle of SPIRE workload identities declared as Kubernetes resources.
#[derive(Parser)]
#[command(name = "spire-steward", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CustomResourceDefinition as YAML, or write one file per CRD into a directory.
    Crds {
        /// Write `<crd name>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds { out_dir } => write_crds(out_dir),
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
                std::fs::write(&path, crd.yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
