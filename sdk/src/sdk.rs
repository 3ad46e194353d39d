//! The entry point: [`Sdk`] holds one [`ProviderClient`] per provider.
//! (Skeleton: the runtime issue fills this in.)

use crate::client::ProviderClient;
use crate::spec::ProviderSpec;

/// All provider clients, built from the generated provider specs.
#[derive(Debug)]
pub struct Sdk {
    clients: Vec<ProviderClient>,
}

impl Sdk {
    /// Builds clients for `providers`.
    pub fn new(providers: &[&'static ProviderSpec]) -> Self {
        Self {
            clients: providers.iter().map(|p| ProviderClient::new(p)).collect(),
        }
    }

    /// The client for provider `id`, if configured.
    pub fn provider(&self, id: &str) -> Option<&ProviderClient> {
        self.clients.iter().find(|c| c.spec().id == id)
    }
}
