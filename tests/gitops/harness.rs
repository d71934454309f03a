//! The GitOps health tests' harness: the three readers (Argo CD Lua, kstatus, Flux CEL), the
//! objects, the judge of each state and the Argo CD actions.

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Mutex, OnceLock},
    time::Duration,
};

use super::support::{
    eventually,
    operator::{Operator, World},
    repo_root,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp, Unit};
use kube::{
    Api,
    api::{DeleteParams, DynamicObject, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Map, Value, json};

pub const WAIT: Duration = Duration::from_secs(60);
pub const GROUP_DIR: &str = "resource_customizations/spire-steward.io";
pub const EXPRS: &str = "deploy/flux/health-check-exprs.yaml";
pub const KINDS: [&str; 6] = [
    "ClusterSPIFFEID",
    "SPIFFEID",
    "ClusterStaticEntry",
    "ClusterFederatedTrustDomain",
    "IdentityPolicy",
    "IdentityException",
];
/// The kinds with `spec.suspend`, which have the suspend and resume actions.
pub const SUSPENDABLE: [&str; 2] = ["ClusterSPIFFEID", "SPIFFEID"];
/// A finalizer of the test's own, to hold an object in deletion.
pub const HOLD: &str = "gitops.spire-steward.io/hold";

// --- The tools -----------------------------------------------------------------------------

/// The binary a `hack/tools/build-*.sh` script prints, built (or found in the cache) once per
/// test binary.
pub fn built(cell: &'static OnceLock<PathBuf>, script: &str) -> &'static Path {
    cell.get_or_init(|| {
        let out = Command::new(repo_root().join("hack/tools").join(script))
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("running hack/tools/{script}: {e}"));
        assert!(out.status.success(), "hack/tools/{script} failed");
        let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(path.is_file(), "{script} printed {path:?}, not a file");
        path
    })
}

pub fn argocd_lua() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    built(&BIN, "build-argocd-lua.sh")
}

pub fn kstatus() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    built(&BIN, "build-kstatus.sh")
}

pub fn cel() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    built(&BIN, "build-cel.sh")
}

/// Builds the three tools before a test starts its clock.
pub fn tools() {
    argocd_lua();
    kstatus();
    cel();
}

/// Runs a tool to success; its standard output.
pub fn run<S: AsRef<OsStr>>(bin: &Path, args: &[S]) -> String {
    let out = Command::new(bin).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    assert!(
        out.status.success(),
        "{} {shown:?} failed:\n{}{}",
        bin.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json_out<S: AsRef<OsStr>>(bin: &Path, args: &[S]) -> Value {
    serde_json::from_str(run(bin, args).trim()).unwrap()
}

pub fn kind_dir(kind: &str) -> PathBuf {
    repo_root().join(GROUP_DIR).join(kind)
}

/// What the three readers make of one object.
#[derive(Debug)]
pub struct Verdict {
    pub lua: String,
    pub lua_message: String,
    pub kstatus: String,
    pub kstatus_message: String,
    pub cel: String,
    pub cel_error: String,
}

/// Argo CD's health of an object file: (status, message), the same with and without the open
/// libraries Argo CD gives its built-in scripts.
pub fn lua_health(kind: &str, file: &Path) -> (String, String) {
    let script = kind_dir(kind).join("health.lua");
    let strict = json_out(argocd_lua(), &[OsStr::new("health"), script.as_os_str(), file.as_os_str()]);
    let open =
        json_out(argocd_lua(), &[OsStr::new("health"), OsStr::new("-open-libs"), script.as_os_str(), file.as_os_str()]);
    assert_eq!(
        strict,
        open,
        "{kind} health.lua answers alike in argocd-cm and as a built-in script on {}",
        file.display()
    );
    (strict["status"].as_str().unwrap().to_owned(), strict["message"].as_str().unwrap_or_default().to_owned())
}

pub fn judge(kind: &str, file: &Path) -> Verdict {
    let (lua, lua_message) = lua_health(kind, file);
    let k = json_out(kstatus(), &[file]);
    let c = json_out(cel(), &[repo_root().join(EXPRS).as_path(), file]);
    Verdict {
        lua,
        lua_message,
        kstatus: k["status"].as_str().unwrap().to_owned(),
        kstatus_message: k["message"].as_str().unwrap_or_default().to_owned(),
        cel: c["status"].as_str().unwrap().to_owned(),
        cel_error: c["error"].as_str().unwrap_or_default().to_owned(),
    }
}

// --- The objects ---------------------------------------------------------------------------

pub fn api(world: &World, kind: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("spire-steward.io", "v1alpha1", kind));
    if kind == "SPIFFEID" {
        Api::namespaced_with(world.client.clone(), &world.namespace, &resource)
    } else {
        Api::all_with(world.client.clone(), &resource)
    }
}

/// Applies a resource of the test by server-side apply (namespaced kinds in its namespace).
pub async fn apply(world: &World, kind: &str, name: &str, spec: Value) {
    let mut metadata = json!({ "name": name });
    if kind == "SPIFFEID" {
        metadata["namespace"] = json!(world.namespace);
    }
    let body = json!({ "apiVersion": "spire-steward.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec });
    let params = PatchParams::apply("spire-steward-tests").force();
    api(world, kind).patch(name, &params, &Patch::Apply(&body)).await.unwrap();
}

/// The object as the API server has it, as JSON; None once it is gone.
pub async fn live_opt(world: &World, kind: &str, name: &str) -> Option<Value> {
    api(world, kind).get_opt(name).await.unwrap().map(|o| serde_json::to_value(o).unwrap())
}

pub async fn live(world: &World, kind: &str, name: &str) -> Value {
    live_opt(world, kind, name).await.unwrap_or_else(|| panic!("{kind} {name} is gone"))
}

pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// Whether the object's status and Ready condition describe its current generation.
pub fn observed(object: &Value) -> bool {
    let generation = &object["metadata"]["generation"];
    object["status"]["observedGeneration"] == *generation
        && condition(object, "Ready").is_some_and(|c| c["observedGeneration"] == *generation)
}

/// Waits until Ready has `want` (status, reason) for the object's current generation.
pub async fn wait_ready(world: &World, operator: &Operator, kind: &str, name: &str, want: (&str, &str)) -> Value {
    let found = eventually(WAIT, || async {
        let object = live_opt(world, kind, name).await?;
        let ready = condition(&object, "Ready")?;
        (ready["status"] == want.0 && ready["reason"] == want.1 && observed(&object)).then_some(object)
    })
    .await;
    match found {
        Some(object) => object,
        None => panic!(
            "{kind} {name} never reached Ready={want:?}; status: {}\nlog:\n{}",
            live(world, kind, name).await["status"],
            operator.log_text()
        ),
    }
}

/// Waits up to `limit` for the operator to describe the object's current generation (it may not
/// while SPIRE is away); the object either way.
pub async fn settle(world: &World, kind: &str, name: &str, limit: Duration) -> Value {
    let seen = eventually(limit, || async { live_opt(world, kind, name).await.filter(observed) }).await;
    match seen {
        Some(object) => object,
        None => live(world, kind, name).await,
    }
}

/// Deletes what a test created, ignoring what is already gone.
pub async fn delete_all(world: &World, objects: &[(&str, &str)]) {
    for (kind, name) in objects {
        let _ = api(world, kind).delete(name, &DeleteParams::default()).await;
    }
}

/// `seconds` from now, in whole seconds.
pub fn in_seconds(seconds: i64) -> Timestamp {
    Timestamp::now().checked_add(SignedDuration::from_secs(seconds)).unwrap().round(Unit::Second).unwrap()
}

// --- Judging states ------------------------------------------------------------------------

/// What each reader should make of a state. `message` is a part of the Argo CD message.
#[derive(Clone, Copy, Debug)]
pub struct Want {
    pub lua: &'static str,
    pub kstatus: &'static str,
    pub cel: &'static str,
    pub message: &'static str,
}

pub const fn want(lua: &'static str, kstatus: &'static str, cel: &'static str, message: &'static str) -> Want {
    Want { lua, kstatus, cel, message }
}

pub fn capturing() -> bool {
    std::env::var("SPIRE_STEWARD_CAPTURE_TESTDATA").is_ok_and(|v| v == "1")
}

/// One test's judge: captures objects, runs the readers on them, keeps a row per state and every
/// disagreement with what the state should read as.
pub struct Judge<'a> {
    pub world: &'a World,
    pub dir: PathBuf,
    /// Text replaced in testdata so that names do not change from one capture to the next.
    pub masks: Vec<(String, String)>,
    pub rows: Vec<String>,
    pub wrong: Vec<String>,
}

impl<'a> Judge<'a> {
    pub fn new(world: &'a World) -> Self {
        let dir = repo_root().join("target/gitops-captures").join(&world.id);
        std::fs::create_dir_all(&dir).unwrap();
        let masks = vec![(world.id.clone(), "demo".to_owned()), (world.prefix.clone(), "demo".to_owned())];
        Self { world, dir, masks, rows: Vec::new(), wrong: Vec::new() }
    }

    pub fn mask(&mut self, text: impl Into<String>, with: &str) {
        self.masks.push((text.into(), with.to_owned()));
    }

    /// Captures `kind` `name` as the state `state` and judges it.
    pub async fn state(&mut self, kind: &str, name: &str, state: &str, want: Want) -> Value {
        let object = live(self.world, kind, name).await;
        self.judge(kind, state, &object, want);
        object
    }

    /// Judges a captured object as the state `state`.
    pub fn judge(&mut self, kind: &str, state: &str, object: &Value, want: Want) {
        let file = self.dir.join(format!("{kind}-{state}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(object).unwrap()).unwrap();
        let got = judge(kind, &file);
        self.rows.push(format!(
            "{kind:<28} {state:<26} Lua {:<11} kstatus {:<11} CEL {:<10} | {}",
            got.lua,
            got.kstatus,
            got.cel,
            got.lua_message.chars().take(90).collect::<String>()
        ));
        let mut faults = Vec::new();
        if got.lua != want.lua || !got.lua_message.contains(want.message) {
            faults
                .push(format!("Argo CD {} {:?}, want {} with {:?}", got.lua, got.lua_message, want.lua, want.message));
        }
        if got.kstatus != want.kstatus {
            faults.push(format!("kstatus {} ({}), want {}", got.kstatus, got.kstatus_message, want.kstatus));
        }
        if got.cel != want.cel {
            faults.push(format!("Flux CEL {} {}, want {}", got.cel, got.cel_error, want.cel));
        }
        if !faults.is_empty() {
            self.wrong.push(format!(
                "{kind} {state}: {}\n  generation {}, observedGeneration {}, conditions {}",
                faults.join("; "),
                object["metadata"]["generation"],
                object["status"]["observedGeneration"],
                object["status"]["conditions"]
            ));
        }
        if capturing() && got.lua == want.lua {
            self.write_health_testdata(kind, state, object);
        }
    }

    /// The object as checked-in testdata shows it: stable names, no server bookkeeping.
    pub fn testdata(&self, object: &Value) -> Value {
        let mut object = object.clone();
        if let Some(metadata) = object["metadata"].as_object_mut() {
            for noise in ["managedFields", "resourceVersion", "uid"] {
                metadata.remove(noise);
            }
        }
        let mut text = serde_json::to_string(&object).unwrap();
        for (from, to) in &self.masks {
            text = text.replace(from.as_str(), to);
        }
        serde_json::from_str(&text).unwrap()
    }

    /// Writes `testdata/<state>.yaml` and its case in `health_test.yaml`, with what the health
    /// script says of it.
    pub fn write_health_testdata(&self, kind: &str, state: &str, object: &Value) {
        static FILES: Mutex<()> = Mutex::new(());
        let _one_writer = FILES.lock().unwrap();
        let dir = kind_dir(kind);
        std::fs::create_dir_all(dir.join("testdata")).unwrap();
        let input = format!("testdata/{state}.yaml");
        write_yaml(&dir.join(&input), &self.testdata(object));
        let (status, message) = lua_health(kind, &dir.join(&input));
        let tests_file = dir.join("health_test.yaml");
        let mut cases: BTreeMap<String, Value> = std::fs::read_to_string(&tests_file)
            .ok()
            .map(|text| serde_yaml_ng::from_str::<Value>(&text).unwrap())
            .and_then(|tests| tests["tests"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|case| (case["inputPath"].as_str().unwrap().to_owned(), case))
            .collect();
        cases.insert(
            input.clone(),
            json!({ "healthStatus": { "status": status, "message": message }, "inputPath": input }),
        );
        write_yaml(&tests_file, &json!({ "tests": cases.into_values().collect::<Vec<_>>() }));
    }

    /// Prints the table and fails on any state that reads wrong.
    pub fn finish(self) {
        println!("{}", self.rows.join("\n"));
        assert!(self.wrong.is_empty(), "states that read wrong:\n{}", self.wrong.join("\n"));
    }
}

pub fn write_yaml(path: &Path, value: &Value) {
    std::fs::write(path, serde_yaml_ng::to_string(value).unwrap()).unwrap();
}

// --- Actions -------------------------------------------------------------------------------

/// The JSON merge patch (RFC 7386) that turns `old` into `new`.
pub fn merge_patch(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(was) if was == value => {}
                    Some(was) => {
                        patch.insert(key.clone(), merge_patch(was, value));
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// The actions discovery offers for an object file: name to enabled.
pub fn discover(kind: &str, file: &Path) -> BTreeMap<String, bool> {
    let script = kind_dir(kind).join("actions/discovery.lua");
    let found = json_out(argocd_lua(), &[OsStr::new("discovery"), script.as_os_str(), file.as_os_str()]);
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_owned(), !a["disabled"].as_bool().unwrap()))
        .collect()
}

/// Runs action `name` on an object file; the object it returns.
pub fn act(kind: &str, name: &str, file: &Path) -> Value {
    let script = kind_dir(kind).join(format!("actions/{name}/action.lua"));
    json_out(argocd_lua(), &[OsStr::new("action"), script.as_os_str(), file.as_os_str()])
}

/// Runs action `name` on the live object and sends what it changed as Argo CD sends it, a merge
/// patch of the resource (status is the operator's and is left out).
pub async fn run_action(judge: &Judge<'_>, kind: &str, name: &str, action: &str, captured: &Value) {
    let file = judge.dir.join(format!("{kind}-{action}-input.json"));
    std::fs::write(&file, serde_json::to_vec(captured).unwrap()).unwrap();
    let offered = discover(kind, &file);
    let other = if action == "suspend" { "resume" } else { "suspend" };
    assert_eq!(
        offered,
        BTreeMap::from([(action.to_owned(), true), (other.to_owned(), false)]),
        "discovery on {kind} before {action}"
    );
    let returned = act(kind, action, &file);
    let mut patch = merge_patch(captured, &returned);
    patch.as_object_mut().unwrap().remove("status");
    assert_eq!(patch, json!({ "spec": { "suspend": action == "suspend" } }), "{action} changes spec.suspend only");
    api(judge.world, kind).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

/// Writes the checked-in action testdata of `kind` from a captured Ready object and a captured
/// suspended one: the inputs, what each action returns on them, and `action_test.yaml`.
pub fn write_action_testdata(judge: &Judge<'_>, kind: &str, synced: &Value, suspended: &Value) {
    let dir = kind_dir(kind).join("actions");
    std::fs::create_dir_all(dir.join("testdata")).unwrap();
    let input = |state: &str, object: &Value| {
        let path = dir.join(format!("testdata/{state}.yaml"));
        write_yaml(&path, &judge.testdata(object));
        path
    };
    let synced = input("synced", synced);
    let suspended = input("suspended", suspended);
    write_yaml(&dir.join("testdata/synced_suspend.yaml"), &act(kind, "suspend", &synced));
    write_yaml(&dir.join("testdata/suspended_resume.yaml"), &act(kind, "resume", &suspended));
    let result = |suspended: bool| json!([{ "name": "resume", "disabled": !suspended }, { "name": "suspend", "disabled": suspended }]);
    write_yaml(
        &dir.join("action_test.yaml"),
        &json!({
            "discoveryTests": [
                { "inputPath": "testdata/synced.yaml", "result": result(false) },
                { "inputPath": "testdata/suspended.yaml", "result": result(true) },
            ],
            "actionTests": [
                { "action": "suspend", "inputPath": "testdata/synced.yaml", "expectedOutputPath": "testdata/synced_suspend.yaml" },
                { "action": "resume", "inputPath": "testdata/suspended.yaml", "expectedOutputPath": "testdata/suspended_resume.yaml" },
            ],
        }),
    );
}
