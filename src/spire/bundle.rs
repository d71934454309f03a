//! The Bundle service call that reads the server's own trust bundle.

use super::{
    Bundle, Error, SpireClient,
    convert::bundle_from_proto,
    proto::{bundle as rpc, bundle::bundle_client::BundleClient},
};

impl SpireClient {
    /// Reads the server's own trust bundle. The call needs no authorisation, which makes it a
    /// cheap liveness probe.
    pub async fn get_bundle(&self) -> Result<Bundle, Error> {
        const METHOD: &str = "GetBundle";
        let request = self.request(rpc::GetBundleRequest { output_mask: None });
        let bundle = self.call(METHOD, BundleClient::new(self.channel()).get_bundle(request)).await?;
        bundle_from_proto(bundle).map_err(|e| Error::InvalidResponse { method: METHOD, detail: format!("bundle: {e}") })
    }
}
