//! Differential test of the template engine against Go's own text/template.
//!
//! `hack/template-parity` is a Go program that renders templates the way
//! spire-controller-manager does: `template.New(name).Parse(text)` with default options and no
//! extra functions, executed with a `*templateData` built from the same pod and node JSON.
//! This test builds it (cached, see `hack/template-parity/build.sh`), renders every case of the
//! tables below with both, and requires the same output, or errors of the same class (parse
//! or execution) with the same message and position.
//!
//! A few differences are deliberate; they are listed, with the reason, in [`DIFFERENCES`]
//! (the outcome differs) and [`MESSAGE_DIFFERENCES`] (both fail alike, the wording differs),
//! and in README.md under "Template differences from Go". An entry that no longer differs
//! fails the test, so the lists cannot go stale.

#[path = "template_parity/control_cases.rs"]
mod control_cases;
#[path = "template_parity/fixtures.rs"]
mod fixtures;
#[path = "template_parity/language_cases.rs"]
mod language_cases;
#[path = "template_parity/outcome.rs"]
mod outcome;
#[path = "template_parity/printf_cases.rs"]
mod printf_cases;
#[path = "template_parity/unit_cases.rs"]
mod unit_cases;

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use fixtures::Fixture;
use k8s_openapi::api::core::v1::{Node, Pod};
use outcome::{GoResult, Outcome};
use serde_json::json;
use spire_steward::{
    pod_view::PodView,
    template::{ClusterInfo, Template, TemplateData},
};

/// One template and the data it renders against.
pub struct Case {
    pub name: &'static str,
    pub fixture: Fixture,
    pub text: &'static str,
}

/// A case on the data of the engine's unit tests.
pub const fn full(name: &'static str, text: &'static str) -> Case {
    Case { name, fixture: Fixture::Full, text }
}

/// A case on a pod and node with every field set.
pub const fn rich(name: &'static str, text: &'static str) -> Case {
    Case { name, fixture: Fixture::Rich, text }
}

/// A case on an empty pod and node.
pub const fn bare(name: &'static str, text: &'static str) -> Case {
    Case { name, fixture: Fixture::Bare, text }
}

/// A case on the parent ID data (no pod).
pub const fn parent(name: &'static str, text: &'static str) -> Case {
    Case { name, fixture: Fixture::Parent, text }
}

const UNAVAILABLE: &str = "the engine reads only the fields it maps (src/template/data.rs); naming another \
                           real field is an error instead of Go's printout of it";
const STRUCT_PRINT: &str = "printing a whole struct is an error; Go prints a debug dump (the generated String \
                            method or the field list)";
const POINTER_PRINT: &str = "Go prints the memory address of a non-nil pointer; the engine prints the value";
const TIME_METHODS: &str = "time.Time methods that take arguments (Format) or return time.Month or \
                            time.Weekday are not available";
const LAST_NODE: &str = "Go reports the position and text of the last node its executor visited (an index \
                         argument, a field's last segment, the assigned value); the engine names the failing \
                         expression";

/// Cases whose outcome differs from Go on purpose (README.md, "Template differences from Go").
const DIFFERENCES: &[(&str, &str)] = &[
    ("unit: unavailable field", UNAVAILABLE),
    ("unavailable pod spec field", UNAVAILABLE),
    ("unavailable container field", UNAVAILABLE),
    ("unit: struct does not print", STRUCT_PRINT),
    ("root prints", STRUCT_PRINT),
    ("root field of variable", STRUCT_PRINT),
    ("pod meta prints", STRUCT_PRINT),
    ("unit: range iteration limit", "one rendering may run at most 100000 range iterations"),
    ("printf set pointer", POINTER_PRINT),
    ("print set pointer", POINTER_PRINT),
    (
        "printf %d time",
        "Go prints time.Time's internal fields, which depend on the process's time zone; the engine marks \
         the mismatched verb",
    ),
    ("other method", "only ObjectMeta's Get* methods and time methods can be called, not e.g. protobuf's Size"),
    ("time month", TIME_METHODS),
    ("time method with argument", TIME_METHODS),
    ("complex constant", "complex number constants are rejected when the template is parsed"),
];

/// Cases where both fail alike (same class) but the message or position differs on purpose.
const MESSAGE_DIFFERENCES: &[(&str, &str)] = &[
    ("unit: field through nil container pointer", LAST_NODE),
    ("container without security context", LAST_NODE),
    ("unit: range over string", LAST_NODE),
    ("range int two variables", LAST_NODE),
    ("range nil pointer", LAST_NODE),
    ("undeclared assignment", LAST_NODE),
    ("assign in range declaration", LAST_NODE),
    (
        "method of nil time",
        "Go's message is the runtime panic of a method call on a nil *metav1.Time; the engine reports \
         the nil pointer",
    ),
    ("eq struct values", "Go prints the struct's fields in the message; the engine names its type"),
    ("recursive template", "{{template}} calls nest at most 100 deep (Go: 100000)"),
];

fn all_cases() -> Vec<&'static Case> {
    let tables = [
        unit_cases::UNIT_CASES,
        printf_cases::PRINTF_CASES,
        language_cases::LANGUAGE_CASES,
        control_cases::CONTROL_CASES,
    ];
    tables.iter().flat_map(|t| t.iter()).collect()
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the Go program, or finds it in the cache, and returns its path.
fn go_binary() -> PathBuf {
    let script = repo_root().join("hack/template-parity/build.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(out.status.success(), "{} failed", script.display());
    let path = PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim());
    assert!(path.is_file(), "build.sh printed {path:?}, not a file");
    path
}

/// Renders every case with Go, in one run of the program.
fn render_with_go(cases: &[&Case]) -> Vec<Outcome> {
    let input: Vec<_> = cases
        .iter()
        .map(|c| {
            let cluster = c.fixture.cluster();
            json!({
                "name": c.name,
                "template": c.text,
                "data": {
                    "shape": if c.fixture.is_parent_id() { "parentID" } else { "pod" },
                    "pod": c.fixture.pod(),
                    "node": c.fixture.node(),
                    "trustDomain": cluster.trust_domain,
                    "clusterName": cluster.cluster_name,
                    "clusterDomain": cluster.cluster_domain,
                },
            })
        })
        .collect();
    let mut child = Command::new(go_binary())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting template-parity");
    let body = serde_json::to_vec(&input).expect("cases serialize");
    child.stdin.take().expect("stdin").write_all(&body).expect("writing cases");
    let out = child.wait_with_output().expect("waiting for template-parity");
    assert!(out.status.success(), "template-parity failed: {}", out.status);
    let results: Vec<GoResult> = serde_json::from_slice(&out.stdout).expect("template-parity output is JSON");
    assert_eq!(results.len(), cases.len(), "one result per case");
    results
        .into_iter()
        .zip(cases)
        .map(|(r, c)| {
            assert_eq!(r.name, c.name, "results come back in order");
            r.into_outcome()
        })
        .collect()
}

/// Renders one case with the crate's engine, as the operator does (src/render/pod_entry.rs).
fn render_with_rust(case: &Case) -> Outcome {
    let pod = PodView::from(serde_json::from_value::<Pod>(case.fixture.pod()).expect("fixture pod"));
    let node: Node = serde_json::from_value(case.fixture.node()).expect("fixture node");
    let c = case.fixture.cluster();
    let cluster =
        ClusterInfo { trust_domain: c.trust_domain, cluster_name: c.cluster_name, cluster_domain: c.cluster_domain };
    let data = if case.fixture.is_parent_id() {
        TemplateData::for_parent_id(cluster, &node)
    } else {
        TemplateData::for_pod(cluster, &pod, &node)
    };
    Outcome::from_rust(Template::parse(case.text).and_then(|t| t.render(&data)))
}

/// How one case compares.
enum Verdict {
    Same,
    /// Different output, or one side failed and the other did not, or the classes differ.
    Outcome,
    /// Same class of error, different message or position.
    Message,
}

fn compare(go: &Outcome, rust: &Outcome) -> Verdict {
    match (go, rust) {
        (Outcome::Text(a), Outcome::Text(b)) if a == b => Verdict::Same,
        (Outcome::Error(a), Outcome::Error(b)) if a.class == b.class => {
            if a.same_message(b) {
                Verdict::Same
            } else {
                Verdict::Message
            }
        }
        _ => Verdict::Outcome,
    }
}

fn report(case: &Case, go: &Outcome, rust: &Outcome, what: &str) -> String {
    format!(
        "  {} ({what}; {:?})\n    template: {:?}\n    go:   {go}\n    rust: {rust}",
        case.name, case.fixture, case.text
    )
}

#[test]
fn the_engine_renders_like_go() {
    let cases = all_cases();
    let mut names = BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "case name {:?} is used twice", c.name);
    }
    for (name, _) in DIFFERENCES.iter().chain(MESSAGE_DIFFERENCES) {
        assert!(names.contains(name), "allow-list entry {name:?} names no case");
    }
    let allowed = |list: &[(&str, &str)], name: &str| list.iter().any(|(n, _)| *n == name);

    let go = render_with_go(&cases);
    let (mut failures, mut stale, mut counts) = (Vec::new(), Vec::new(), [0usize; 3]);
    for (case, go) in cases.iter().zip(&go) {
        let rust = render_with_rust(case);
        let verdict = compare(go, &rust);
        let (outcome_allowed, message_allowed) =
            (allowed(DIFFERENCES, case.name), allowed(MESSAGE_DIFFERENCES, case.name));
        match verdict {
            Verdict::Same if outcome_allowed || message_allowed => stale.push(case.name),
            Verdict::Same => counts[0] += 1,
            Verdict::Outcome if outcome_allowed => counts[1] += 1,
            Verdict::Message if message_allowed => counts[2] += 1,
            Verdict::Message if outcome_allowed => stale.push(case.name),
            Verdict::Outcome => failures.push(report(case, go, &rust, "outcome differs")),
            Verdict::Message => failures.push(report(case, go, &rust, "message differs")),
        }
    }
    eprintln!(
        "template parity: {} cases, {} same as Go, {} allowed outcome differences, {} allowed message differences",
        cases.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    assert!(stale.is_empty(), "allow-listed cases that no longer differ as listed (move or remove them): {stale:?}");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Go:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
