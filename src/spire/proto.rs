//! Message and service stubs generated from `proto/` at build time.
#![allow(clippy::all, missing_docs)]

pub mod spire {
    pub mod api {
        pub mod types {
            tonic::include_proto!("spire.api.types");
        }
        pub mod server {
            pub mod entry {
                pub mod v1 {
                    tonic::include_proto!("spire.api.server.entry.v1");
                }
            }
            pub mod bundle {
                pub mod v1 {
                    tonic::include_proto!("spire.api.server.bundle.v1");
                }
            }
            pub mod trustdomain {
                pub mod v1 {
                    tonic::include_proto!("spire.api.server.trustdomain.v1");
                }
            }
        }
    }
}

pub use spire::api::server::{bundle::v1 as bundle, entry::v1 as entry, trustdomain::v1 as trustdomain};
pub use spire::api::types;
