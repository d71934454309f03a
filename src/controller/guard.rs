//! The operator's resources as they arrive from the API server, whether or not they parse.
//!
//! Like kube's `DeserializeGuard`, an object that does not deserialize is kept with its
//! metadata and the error instead of failing its watch; unlike it, its `spec.className` is kept
//! too, so that an unreadable object of another operator's class is left to that operator.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, de::DeserializeOwned};

/// An object of kind `K`, or what could be read of it.
#[derive(Clone, Debug)]
pub struct Guarded<K>(pub Result<K, Unreadable>);

/// An object that does not deserialize as its kind.
#[derive(Clone, Debug)]
pub struct Unreadable {
    /// The deserializer's message.
    pub error: String,
    pub metadata: ObjectMeta,
    /// `spec.className`, when it is a string.
    pub class_name: Option<String>,
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Guarded<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        match serde_json::from_value::<K>(value.clone()) {
            Ok(object) => Ok(Self(Ok(object))),
            Err(error) => {
                let metadata = serde_json::from_value(value.get("metadata").cloned().unwrap_or_default())
                    .map_err(serde::de::Error::custom)?;
                let class_name = value.pointer("/spec/className").and_then(|c| c.as_str()).map(str::to_owned);
                Ok(Self(Err(Unreadable { error: error.to_string(), metadata, class_name })))
            }
        }
    }
}

impl<K: Resource> Resource for Guarded<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        self.0.as_ref().map_or_else(|u| &u.metadata, K::meta)
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.as_mut().map_or_else(|u| &mut u.metadata, K::meta_mut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::ClusterSPIFFEID;

    #[test]
    fn an_object_that_does_not_parse_keeps_its_metadata_and_class() {
        let json = r#"{"apiVersion":"spire-steward.io/v1alpha1","kind":"ClusterSPIFFEID",
            "metadata":{"name":"odd","uid":"u1","generation":2},
            "spec":{"spiffeIDTemplate":"spiffe://example.org/x","className":"blue"},
            "status":{"conditions":[{"type":"X","status":"True","reason":"R","message":"m",
                "lastTransitionTime":"2020-01-01T00:00:00.1234567891234Z"}]}}"#;
        let Guarded(result) = serde_json::from_str::<Guarded<ClusterSPIFFEID>>(json).unwrap();
        let unreadable = result.unwrap_err();
        assert_eq!(unreadable.metadata.name.as_deref(), Some("odd"));
        assert_eq!(unreadable.metadata.generation, Some(2));
        assert_eq!(unreadable.class_name.as_deref(), Some("blue"));
        assert!(unreadable.error.contains("1234Z"), "{}", unreadable.error);
        let fine = json.replace("00.1234567891234Z", "00Z");
        assert!(serde_json::from_str::<Guarded<ClusterSPIFFEID>>(&fine).unwrap().0.is_ok());
    }
}
