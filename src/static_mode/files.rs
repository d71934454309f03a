//! The manifests of static manifest mode: every `*.yaml` file of one directory (not `.yml`, not
//! its subdirectories), as spire-controller-manager reads them, in sorted order.
//!
//! A file holds one object, or several separated by `---`. ClusterStaticEntry and
//! ClusterFederatedTrustDomain are read under either API group, `spire.spiffe.io/v1alpha1`
//! (spire-controller-manager's, so its manifest directory is used as it is) or
//! `spire-steward.io/v1alpha1`; IdentityPolicy and IdentityException under spire-steward's.
//! Documents of other kinds are left out with a warning. One file that does not parse fails the
//! whole reading, with an error naming the file, the document and the field: a pass made without
//! it could delete what it declares.

use std::path::{Path, PathBuf};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::Resource;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    api::v1alpha1::{ClusterFederatedTrustDomain, ClusterStaticEntry, IdentityException, IdentityPolicy},
    cli::manifests::{At, Error as DocumentError},
};

/// Why the manifests cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the static manifest directory {path}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the static manifest directory {path} holds no *.yaml file (not mounted?); nothing is written until it does (an empty .yaml file declares nothing)"
    )]
    Empty { path: PathBuf },
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error("{path}: document {document}: {kind} {name} is also in {first}")]
    Duplicate { path: PathBuf, document: usize, kind: String, name: String, first: PathBuf },
}

/// What the directory declares, and the documents left out.
#[derive(Debug, Default)]
pub struct Manifests {
    pub static_entries: Vec<ClusterStaticEntry>,
    pub federations: Vec<ClusterFederatedTrustDomain>,
    pub policies: Vec<IdentityPolicy>,
    pub exceptions: Vec<IdentityException>,
    /// One line per document left out.
    pub warnings: Vec<String>,
    /// The file each object came from, by kind and name, to name a duplicate's first file.
    origins: Vec<(String, String, PathBuf)>,
}

/// Reads the directory; `expand` rewrites each file's text before it is parsed.
pub fn read(dir: &Path, expand: impl Fn(&str) -> String) -> Result<Manifests, Error> {
    let directory_error = |source| Error::Directory { path: dir.to_owned(), source };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(directory_error)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(directory_error)?;
    files.retain(|f| f.extension().is_some_and(|e| e == "yaml") && !f.is_dir());
    files.sort();
    if files.is_empty() {
        return Err(Error::Empty { path: dir.to_owned() });
    }
    let mut out = Manifests::default();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|source| DocumentError::Read { path: file.clone(), source })?;
        read_text(&file, &expand(&text), &mut out)?;
    }
    Ok(out)
}

/// Reads the documents of one file.
pub fn read_text(path: &Path, text: &str, out: &mut Manifests) -> Result<(), Error> {
    for (n, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let at = At { path, document: n + 1 };
        let value = Value::deserialize(document).map_err(|source| DocumentError::Yaml {
            path: path.to_owned(),
            document: at.document,
            source,
        })?;
        if !value.is_null() {
            out.add(&at, value)?;
        }
    }
    Ok(())
}

impl Manifests {
    fn add(&mut self, at: &At<'_>, value: Value) -> Result<(), Error> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let missing = |field| DocumentError::Missing { path: at.path.to_owned(), document: at.document, field };
        let api_version = text("apiVersion").ok_or_else(|| missing("apiVersion"))?;
        let kind = text("kind").ok_or_else(|| missing("kind"))?;
        let scm = api_version == "spire.spiffe.io/v1alpha1";
        let ours = api_version == "spire-steward.io/v1alpha1";
        let read = match kind.as_str() {
            "ClusterStaticEntry" | "ClusterFederatedTrustDomain" => scm || ours,
            "IdentityPolicy" | "IdentityException" => ours,
            _ => false,
        };
        if !read {
            let why = match kind.as_str() {
                "ClusterSPIFFEID" | "SPIFFEID" if scm || ours => "static manifest mode knows no pods",
                _ => {
                    "static manifest mode reads ClusterStaticEntry and ClusterFederatedTrustDomain \
                      (and spire-steward.io's IdentityPolicy and IdentityException)"
                }
            };
            self.warnings.push(format!(
                "{}: document {}: left out {kind} of {api_version}: {why}",
                at.path.display(),
                at.document
            ));
            return Ok(());
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        if name.is_empty() {
            return Err(missing("metadata.name").into());
        }
        if let Some((_, _, first)) = self.origins.iter().find(|(k, n, _)| *k == kind && *n == name) {
            return Err(Error::Duplicate {
                path: at.path.to_owned(),
                document: at.document,
                kind,
                name,
                first: first.clone(),
            });
        }
        self.origins.push((kind.clone(), name, at.path.to_owned()));
        // Read as spire-steward's kind: the fields are spire-controller-manager's.
        let value = with_api_version(value);
        match kind.as_str() {
            "ClusterStaticEntry" => self.static_entries.push(stamped(at.parse(&kind, value)?)),
            "ClusterFederatedTrustDomain" => self.federations.push(stamped(at.parse(&kind, value)?)),
            "IdentityPolicy" => self.policies.push(stamped(at.parse(&kind, value)?)),
            _ => self.exceptions.push(stamped(at.parse(&kind, value)?)),
        }
        Ok(())
    }
}

fn with_api_version(mut value: Value) -> Value {
    value["apiVersion"] = Value::String("spire-steward.io/v1alpha1".into());
    value
}

/// A file's object has no UID or creation time: its UID is derived from its kind and name, and
/// all are created at the same instant, so among objects that declare the same entry the one
/// with the lower UID wins, the same one at every pass.
fn stamped<K: Resource<DynamicType = ()>>(mut object: K) -> K {
    let meta = object.meta_mut();
    let key = format!("{}//{}", K::kind(&()), meta.name.as_deref().unwrap_or_default());
    meta.uid = Some(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string());
    meta.creation_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    meta.generation = Some(1);
    meta.deletion_timestamp = None;
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {name: db}\n\
        spec: {spiffeID: 'spiffe://example.org/db', parentID: 'spiffe://example.org/node', selectors: ['unix:uid:0']}\n";

    fn one(text: &str) -> Result<Manifests, Error> {
        let mut out = Manifests::default();
        read_text(Path::new("/m/a.yaml"), text, &mut out).map(|()| out)
    }

    #[test]
    fn spire_controller_manager_manifests_are_read_as_they_are() {
        let federation = "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterFederatedTrustDomain\n\
            metadata: {name: other}\nspec: {trustDomain: other.org, bundleEndpointURL: 'https://127.0.0.1:1', \
            bundleEndpointProfile: {type: https_web}}\n";
        let out = one(&format!("{ENTRY}---\n{federation}")).unwrap();
        assert_eq!(out.static_entries.len(), 1);
        assert_eq!(out.federations.len(), 1);
        let entry = &out.static_entries[0];
        assert_eq!(entry.spec.spiffe_id, "spiffe://example.org/db");
        assert!(entry.metadata.uid.is_some() && entry.metadata.creation_timestamp.is_some());
        assert_eq!(one(ENTRY).unwrap().static_entries[0].metadata.uid, entry.metadata.uid, "the same UID each time");
    }

    #[test]
    fn other_kinds_are_left_out_with_a_warning() {
        let text = "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: web}\nspec: {}\n\
            ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        let out = one(text).unwrap();
        assert!(out.static_entries.is_empty());
        assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
        assert!(
            out.warnings[0].contains("document 1: left out ClusterSPIFFEID") && out.warnings[0].contains("no pods")
        );
    }

    #[test]
    fn a_bad_file_names_its_path_document_and_field() {
        let bad = ENTRY.replace("selectors: ['unix:uid:0']", "selectors: 'unix:uid:0'");
        let message = one(&bad).unwrap_err().to_string();
        assert!(message.starts_with("/m/a.yaml: document 1: ClusterStaticEntry db: field spec.selectors"), "{message}");
        let message = one("kind: ClusterStaticEntry\n").unwrap_err().to_string();
        assert_eq!(message, "/m/a.yaml: document 1: apiVersion is missing");
        let message = one("apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {}\n")
            .unwrap_err()
            .to_string();
        assert!(message.contains("metadata.name is missing"), "{message}");
        let message = one(&format!("{ENTRY}---\n{ENTRY}")).unwrap_err().to_string();
        assert!(message.contains("document 2: ClusterStaticEntry db is also in /m/a.yaml"), "{message}");
    }

    #[test]
    fn only_yaml_files_of_the_directory_itself_are_read() {
        let dir = std::env::temp_dir().join(format!("static-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.yaml"), ENTRY).unwrap();
        std::fs::write(dir.join("b.yml"), ENTRY.replace("name: db", "name: other")).unwrap();
        std::fs::write(dir.join("sub/c.yaml"), ENTRY.replace("name: db", "name: deeper")).unwrap();
        let out = read(&dir, str::to_owned).unwrap();
        assert_eq!(out.static_entries.len(), 1);
        let missing = read(&dir.join("nowhere"), str::to_owned).unwrap_err().to_string();
        assert!(missing.contains("nowhere"), "{missing}");
        std::fs::remove_file(dir.join("a.yaml")).unwrap();
        let empty = read(&dir, str::to_owned).unwrap_err().to_string();
        assert!(empty.contains("holds no *.yaml file"), "{empty}");
        std::fs::write(dir.join("a.yaml"), "").unwrap();
        assert!(read(&dir, str::to_owned).unwrap().static_entries.is_empty(), "an empty file declares nothing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
