//! The audit file of a test's operator, read back record by record.

use std::{path::PathBuf, time::Duration};

use serde_json::Value;

use super::{eventually, operator::Operator, operator::World, repo_root};

const WAIT: Duration = Duration::from_secs(60);

pub struct AuditLog {
    pub path: PathBuf,
}

impl AuditLog {
    /// A fresh audit file for `world`'s operator.
    pub fn new(world: &World) -> Self {
        let dir = repo_root().join("target/operator-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-audit.jsonl", world.id));
        let _ = std::fs::remove_file(&path);
        Self { path }
    }

    /// The configuration lines that send the records here.
    pub fn config(&self) -> String {
        format!("audit:\n  path: {}\n", self.path.display())
    }

    /// Every record so far.
    pub fn records(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
    }

    /// The records for which `pick` holds.
    pub fn matching(&self, pick: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.records().into_iter().filter(|r| pick(r)).collect()
    }

    /// Waits for a record for which `pick` holds, and returns it.
    pub async fn wait(&self, operator: &Operator, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        self.wait_count(operator, what, 1, pick).await.remove(0)
    }

    /// Waits until at least `count` records satisfy `pick`, and returns them.
    pub async fn wait_count(
        &self,
        operator: &Operator,
        what: &str,
        count: usize,
        pick: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let found = eventually(WAIT, || async {
            let found = self.matching(&pick);
            (found.len() >= count).then_some(found)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!("fewer than {count} records: {what}\nrecords:\n{:#?}\nlog:\n{}", self.records(), operator.log_text())
        })
    }
}

/// Whether a record is of `action` for an entry whose SPIFFE ID ends with `path`.
pub fn is(record: &Value, action: &str, path: &str) -> bool {
    record["action"] == action && record["spiffeID"].as_str().is_some_and(|s| s.ends_with(path))
}
