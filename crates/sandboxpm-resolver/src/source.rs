//! Where packuments come from.
//!
//! The resolver only needs "the abbreviated packument of this name", so that is all the trait
//! asks for. Production uses [`RegistryClient`] (cache, ETags, auth, retries, shared in-flight
//! requests all live there); tests plug in an in-memory map with artificial delays to prove that
//! the graph does not depend on the order in which answers arrive.

use std::future::Future;
use std::sync::Arc;

use sandboxpm_registry::{Packument, RegistryClient};

/// A source of abbreviated packuments.
///
/// Implementations may be called concurrently for different names; the resolver asks for each
/// name at most once per resolution.
pub trait PackumentSource: Sync {
    /// Why a packument could not be had (a 404, the network, a broken document).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The packument of `name`.
    fn packument(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Arc<Packument>, Self::Error>> + Send;
}

impl PackumentSource for RegistryClient {
    type Error = sandboxpm_registry::Error;

    fn packument(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Arc<Packument>, Self::Error>> + Send {
        RegistryClient::packument(self, name)
    }
}

impl<T: PackumentSource + Send> PackumentSource for Arc<T> {
    type Error = T::Error;

    fn packument(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Arc<Packument>, Self::Error>> + Send {
        T::packument(self, name)
    }
}

impl<T: PackumentSource> PackumentSource for &T {
    type Error = T::Error;

    fn packument(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Arc<Packument>, Self::Error>> + Send {
        T::packument(self, name)
    }
}
