//! What a resolution is asked to do.

use sandboxpm_npm::{Platform, Version};
use tokio::sync::mpsc::UnboundedSender;

use crate::graph::ResolvedPackage;

/// Packument requests in flight at once when nothing else is said. The registry client has its
/// own (larger) connection limit; this one only keeps the resolver from queueing thousands of
/// futures for a huge graph.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Options of one resolution.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Install `devDependencies` (false for `--prod` / `--omit=dev`). Dev dependencies are
    /// resolved either way, as npm does, so the lockfile stays complete; when this is false they
    /// only go to [`crate::Graph::lock_only`].
    pub include_dev: bool,
    /// The platform optional packages are filtered for.
    pub platform: Platform,
    /// The version of the `node` that will run the packages (from `node --version`), for
    /// `engines` warnings and npm's preference for engine-compatible versions. `None` skips both.
    pub node_version: Option<Version>,
    /// Fail instead of changing anything when `package.json` and the lockfile disagree
    /// (`--frozen-lockfile`, `npm ci`).
    pub frozen: bool,
    /// The default registry URL. Lockfile tarball paths are relative to it.
    pub registry: String,
    /// Packument requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Receives each package as soon as the walk picks it (unless it does not support the
    /// platform), so that its tarball can be fetched while the rest is resolved. The final graph
    /// may still leave a package out (an optional dependency that fails): what was fetched for
    /// it is only cached. Dropped when the resolution ends, which closes the channel.
    pub prefetch: Option<UnboundedSender<ResolvedPackage>>,
}

impl ResolveOptions {
    /// Options for `platform` against `registry`: dev dependencies included, no node version,
    /// not frozen, [`DEFAULT_CONCURRENCY`].
    pub fn new(platform: Platform, registry: impl Into<String>) -> Self {
        ResolveOptions {
            include_dev: true,
            platform,
            node_version: None,
            frozen: false,
            registry: registry.into(),
            concurrency: DEFAULT_CONCURRENCY,
            prefetch: None,
        }
    }
}
