//! Console logs as `kubectl logs` and a terminal show them: colour only on a terminal, and never
//! with `NO_COLOR` set.

mod support;

use std::process::Command;

use support::{
    operator::{Operator, World},
    repo_root, testbed,
};

/// What the operator writes to standard error in its first seconds, run under `script` (a
/// pseudo-terminal) when `terminal`, else into a pipe; `no_color` sets `NO_COLOR=1`.
fn first_seconds(world: &World, terminal: bool, no_color: bool) -> String {
    let bed = testbed();
    // The socket is never there: the operator logs that it waits for SPIRE, and goes on waiting.
    let config = Operator::write_config(bed, world, std::path::Path::new("/nonexistent/api.sock"), "", "console");
    let binary = env!("CARGO_BIN_EXE_spire-steward");
    let run = format!("{binary} run --config {}", config.display());
    let mut command = if terminal {
        let typescript = repo_root().join("target/operator-tests").join(format!("{}-console.typescript", world.id));
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", "4", "script", "-qefc", &run]).arg(typescript);
        c
    } else {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", "4", binary, "run", "--config"]).arg(&config);
        c
    };
    command.env("KUBECONFIG", bed.var("KUBECONFIG_OPERATOR")).env_remove("NO_COLOR");
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let out = command.output().expect("running the operator");
    // Under script the operator's standard error reaches the terminal, which script copies out.
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("waiting for the SPIRE server"), "terminal={terminal} no_color={no_color}:\n{text}");
    text
}

#[tokio::test]
async fn logs_are_coloured_only_on_a_terminal_without_no_color() {
    let world = World::new(testbed()).await;
    let escape = "\u{1b}[";
    let piped = first_seconds(&world, false, false);
    assert!(!piped.contains(escape), "escape codes into a pipe:\n{piped:?}");
    let coloured = first_seconds(&world, true, false);
    assert!(coloured.contains(escape), "no colour on a terminal:\n{coloured:?}");
    let plain = first_seconds(&world, true, true);
    assert!(!plain.contains(escape), "colour despite NO_COLOR:\n{plain:?}");
    world.clean_up().await;
}
