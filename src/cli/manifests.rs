//! Manifests given with `-f`: the resources of a change under review, laid over what the cluster
//! holds.
//!
//! A file holds one or more YAML documents (`---`); a directory is read recursively for `*.yaml`
//! and `*.yml` files in sorted order. Documents of the kinds the pass reads (ClusterSPIFFEID,
//! SPIFFEID, ClusterStaticEntry, IdentityPolicy, IdentityException) replace the listed object of
//! the same kind, name and namespace, or are added; ClusterFederatedTrustDomain is read (so that
//! `validate` checks it) and not planned. Documents of other API groups (Deployments,
//! Services, ...) are left out with a warning, so a whole GitOps directory can be given; any other
//! `spire-steward.io` kind is refused.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
    jiff::Timestamp,
};
use kube::Resource;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::snapshot::Listing;
use crate::{
    api::v1alpha1::{
        ClusterFederatedTrustDomain, ClusterSPIFFEID, ClusterStaticEntry, IdentityException, IdentityPolicy, SPIFFEID,
    },
    controller::Readable,
};

const GROUP: &str = "spire-steward.io";
const API_VERSION: &str = "spire-steward.io/v1alpha1";

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: document {document}: not valid YAML")]
    Yaml {
        path: PathBuf,
        document: usize,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{path}: document {document}: {field} is missing")]
    Missing { path: PathBuf, document: usize, field: &'static str },
    #[error(
        "{path}: document {document}: kind {kind} of {api_version} is not one of spire-steward's (ClusterSPIFFEID, \
         SPIFFEID, ClusterStaticEntry, ClusterFederatedTrustDomain, IdentityPolicy, IdentityException of {API_VERSION})"
    )]
    Kind { path: PathBuf, document: usize, kind: String, api_version: String },
    #[error(transparent)]
    Field(Box<FieldError>),
}

/// A document whose field does not fit its kind.
#[derive(Debug, thiserror::Error)]
#[error("{path}: document {document}: {kind} {name}: field {field}{value}: {message}")]
pub struct FieldError {
    pub path: PathBuf,
    pub document: usize,
    pub kind: String,
    pub name: String,
    pub field: String,
    /// ` (value ...)`, when the field is present.
    pub value: String,
    pub message: String,
}

/// One resource read from a manifest.
#[derive(Clone, Debug)]
pub enum Object {
    ClusterSPIFFEID(ClusterSPIFFEID),
    SPIFFEID(SPIFFEID),
    ClusterStaticEntry(ClusterStaticEntry),
    IdentityPolicy(IdentityPolicy),
    IdentityException(IdentityException),
    ClusterFederatedTrustDomain(ClusterFederatedTrustDomain),
}

/// What the manifests hold, and the documents left out.
#[derive(Debug, Default)]
pub struct Manifests {
    pub objects: Vec<Object>,
    /// One line per document left out.
    pub warnings: Vec<String>,
}

/// Reads every file and directory of `paths`, in the order given.
pub fn read(paths: &[PathBuf]) -> Result<Manifests, Error> {
    let mut out = Manifests::default();
    for path in paths {
        for file in files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|source| Error::Read { path: file.clone(), source })?;
            read_text(&file, &text, &mut out)?;
        }
    }
    Ok(out)
}

/// A file, or the YAML files under a directory in sorted order.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let read_error = |source| Error::Read { path: path.to_owned(), source };
    if !std::fs::metadata(path).map_err(read_error)?.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| Error::Read { path: path.to_owned(), source })?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|source| Error::Read { path: path.to_owned(), source })?;
    entries.sort();
    let mut out = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            out.extend(files(&entry)?);
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Reads the documents of one file.
pub fn read_text(path: &Path, text: &str, out: &mut Manifests) -> Result<(), Error> {
    read_documents(path, text, out, false)
}

/// As [`read_text`], and with `ported` also spire-controller-manager's kinds under
/// `spire.spiffe.io/v1alpha1` (ClusterSPIFFEID, ClusterStaticEntry, ClusterFederatedTrustDomain),
/// read as spire-steward's: their fields are the same.
pub fn read_documents(path: &Path, text: &str, out: &mut Manifests, ported: bool) -> Result<(), Error> {
    for (n, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document_number = n + 1;
        let value = Value::deserialize(document).map_err(|source| Error::Yaml {
            path: path.to_owned(),
            document: document_number,
            source,
        })?;
        if value.is_null() {
            continue;
        }
        let mut value = value;
        let peer_kind = ["ClusterSPIFFEID", "ClusterStaticEntry", "ClusterFederatedTrustDomain"]
            .iter()
            .any(|k| value.get("kind").and_then(Value::as_str) == Some(k));
        if ported && peer_kind && value.get("apiVersion").and_then(Value::as_str) == Some("spire.spiffe.io/v1alpha1") {
            value["apiVersion"] = Value::String(API_VERSION.into());
        }
        let at = At { path, document: document_number };
        if let Some(object) = at.object(value, &mut out.warnings)? {
            out.objects.push(object);
        }
    }
    Ok(())
}

/// An error and its causes, on one line (`a: b: c`), as a message names them.
pub fn chain(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source()).map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

/// Where a document is.
pub(crate) struct At<'a> {
    pub(crate) path: &'a Path,
    pub(crate) document: usize,
}

impl At<'_> {
    fn object(&self, value: Value, warnings: &mut Vec<String>) -> Result<Option<Object>, Error> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let api_version = text("apiVersion").ok_or(Error::Missing {
            path: self.path.to_owned(),
            document: self.document,
            field: "apiVersion",
        })?;
        let kind = text("kind").ok_or(Error::Missing {
            path: self.path.to_owned(),
            document: self.document,
            field: "kind",
        })?;
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        if group != GROUP {
            warnings.push(format!(
                "{}: document {}: left out {kind} of {api_version}: plan reads only the {GROUP} kinds",
                self.path.display(),
                self.document
            ));
            return Ok(None);
        }
        let refuse = || Error::Kind {
            path: self.path.to_owned(),
            document: self.document,
            kind: kind.clone(),
            api_version: api_version.clone(),
        };
        if api_version != API_VERSION {
            return Err(refuse());
        }
        if value.pointer("/metadata/name").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(Error::Missing { path: self.path.to_owned(), document: self.document, field: "metadata.name" });
        }
        Ok(Some(match kind.as_str() {
            "ClusterSPIFFEID" => Object::ClusterSPIFFEID(self.parse(&kind, value)?),
            "SPIFFEID" => {
                if value.pointer("/metadata/namespace").and_then(Value::as_str).is_none_or(str::is_empty) {
                    return Err(Error::Missing {
                        path: self.path.to_owned(),
                        document: self.document,
                        field: "metadata.namespace",
                    });
                }
                Object::SPIFFEID(self.parse(&kind, value)?)
            }
            "ClusterStaticEntry" => Object::ClusterStaticEntry(self.parse(&kind, value)?),
            "IdentityPolicy" => Object::IdentityPolicy(self.parse(&kind, value)?),
            "IdentityException" => Object::IdentityException(self.parse(&kind, value)?),
            "ClusterFederatedTrustDomain" => Object::ClusterFederatedTrustDomain(self.parse(&kind, value)?),
            _ => return Err(refuse()),
        }))
    }

    /// The document as its kind, or an error naming the field that does not fit and its value.
    pub(crate) fn parse<K: DeserializeOwned>(&self, kind: &str, value: Value) -> Result<K, Error> {
        serde_path_to_error::deserialize::<_, K>(&value).map_err(|e| {
            let found = pointer_of(e.path()).and_then(|p| value.pointer(&p));
            Error::Field(Box::new(FieldError {
                path: self.path.to_owned(),
                document: self.document,
                kind: kind.to_owned(),
                name: value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                field: e.path().to_string(),
                value: found.map(|v| format!(" (value {v})")).unwrap_or_default(),
                message: e.inner().to_string(),
            }))
        })
    }
}

/// The JSON pointer of a deserializer's path, when every segment names a key or an index.
fn pointer_of(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Map { key } => pointer.push_str(&format!("/{}", key.replace('~', "~0").replace('/', "~1"))),
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Enum { .. } | Segment::Unknown => return None,
        }
    }
    Some(pointer)
}

/// Lays the manifests over the listing: each replaces the object of the same name (and
/// namespace), keeping its UID and creation time so precedence is unchanged, or is added with a
/// UID derived from its kind and name and created `now`.
pub fn overlay(listing: &mut Listing, manifests: Manifests, now: Timestamp) {
    for object in manifests.objects {
        match object {
            Object::ClusterSPIFFEID(o) => lay(&mut listing.identities, o, now),
            Object::SPIFFEID(o) => lay(&mut listing.tenant_identities, o, now),
            Object::ClusterStaticEntry(o) => lay(&mut listing.static_entries, o, now),
            Object::IdentityPolicy(o) => lay(&mut listing.policies, o, now),
            Object::IdentityException(o) => lay(&mut listing.exceptions, o, now),
            // Federation is not planned.
            Object::ClusterFederatedTrustDomain(_) => {}
        }
    }
}

fn lay<K>(readable: &mut Readable<K>, mut object: K, now: Timestamp)
where
    K: Resource<DynamicType = ()>,
{
    let same = |meta: &ObjectMeta, other: &ObjectMeta| meta.name == other.name && meta.namespace == other.namespace;
    let previous = readable
        .objects
        .iter()
        .map(|o| o.meta().clone())
        .chain(readable.unreadable.iter().map(|u| u.metadata.clone()))
        .find(|m| same(m, object.meta()));
    let meta = object.meta_mut();
    match previous {
        Some(previous) => {
            meta.uid = previous.uid;
            meta.creation_timestamp = previous.creation_timestamp;
            meta.generation = Some(previous.generation.unwrap_or(0) + 1);
        }
        None => {
            let key = format!(
                "{}/{}/{}",
                K::kind(&()),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            );
            meta.uid = Some(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, key.as_bytes()).to_string());
            meta.creation_timestamp = Some(Time(now));
            meta.generation = Some(1);
        }
    }
    meta.deletion_timestamp = None;
    let meta = object.meta().clone();
    readable.objects.retain(|o| !same(o.meta(), &meta));
    readable.unreadable.retain(|u| !same(&u.metadata, &meta));
    readable.objects.push(Arc::new(object));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_one(text: &str) -> Result<Manifests, Error> {
        let mut out = Manifests::default();
        read_text(Path::new("change.yaml"), text, &mut out).map(|()| out)
    }

    #[test]
    fn documents_of_the_read_kinds_are_kept_and_others_left_out() {
        let text = "apiVersion: spire-steward.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: web}\n\
                    spec: {spiffeIDTemplate: 'spiffe://example.org/web'}\n---\n---\n\
                    apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n";
        let out = read_one(text).unwrap();
        assert_eq!(out.objects.len(), 1);
        assert!(matches!(&out.objects[0], Object::ClusterSPIFFEID(o) if o.metadata.name.as_deref() == Some("web")));
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("document 3") && out.warnings[0].contains("Deployment"), "{:?}", out.warnings);
    }

    #[test]
    fn a_bad_field_names_the_file_document_field_and_value() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n\
                    apiVersion: spire-steward.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: web}\n\
                    spec: {spiffeIDTemplate: 'spiffe://example.org/web', suspend: maybe}\n";
        let message = read_one(text).unwrap_err().to_string();
        assert!(message.starts_with("change.yaml: document 2: ClusterSPIFFEID web: field spec.suspend"), "{message}");
        assert!(message.contains("\"maybe\""), "{message}");
    }

    #[test]
    fn another_kind_of_the_group_is_refused() {
        let text = "apiVersion: spire-steward.io/v1alpha1\nkind: TrustBundle\nmetadata: {name: x}\n";
        let message = read_one(text).unwrap_err().to_string();
        assert!(message.contains("document 1: kind TrustBundle"), "{message}");
    }

    #[test]
    fn a_spiffeid_needs_its_namespace() {
        let text = "apiVersion: spire-steward.io/v1alpha1\nkind: SPIFFEID\nmetadata: {name: x}\nspec: {}\n";
        let message = read_one(text).unwrap_err().to_string();
        assert!(message.contains("metadata.namespace is missing"), "{message}");
    }
}
