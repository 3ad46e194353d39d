//! Executes endpoint calls for one provider: key pool, auth, retries, jobs, telemetry.
//! (Skeleton: the runtime issue fills this in.)

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::spec::ProviderSpec;

/// Sends requests to one provider.
#[derive(Debug)]
pub struct ProviderClient {
    spec: &'static ProviderSpec,
}

impl ProviderClient {
    /// A client for `spec`.
    pub fn new(spec: &'static ProviderSpec) -> Self {
        Self { spec }
    }

    /// The provider this client talks to.
    pub fn spec(&self) -> &'static ProviderSpec {
        self.spec
    }

    /// Validates and sends `request`, returning its output.
    pub async fn call<E: Endpoint>(&self, request: E) -> Result<E::Output> {
        request.validate().map_err(|source| Error::Invalid {
            provider: E::SPEC.provider,
            endpoint: E::SPEC.id,
            source,
        })?;
        Err(Error::Config("runtime not built yet".into()))
    }
}
