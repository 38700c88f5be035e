//! The dependency resolver of sandboxpm: from `package.json` (and `sandboxpm-lock.json`) to
//! the graph of packages to install.
//!
//! It follows npm's and pnpm's semantics where they matter to users: `latest` is preferred
//! when it satisfies a range, versions are deduplicated, `npm:` aliases, optional dependencies
//! filtered by `os`/`cpu`/`libc`, peers auto-installed with conflicts as warnings, bundled
//! dependencies left to the tarball, and a lockfile that pins what did not change.
//!
//! It is platform-free and does no I/O of its own: packuments come from a [`PackumentSource`]
//! (the registry client in production, in-memory maps in tests), and the node version and
//! [`sandboxpm_npm::Platform`] come from the caller. Metadata is fetched concurrently, but the
//! graph is built in a fixed order, so the same inputs always give the same graph and the same
//! lockfile bytes.
#![deny(missing_docs)]

mod error;
mod fetch;
mod finish;
mod graph;
mod lock;
mod manifest;
mod options;
mod pick;
mod resolve;
mod source;
mod warning;

pub use error::{DependencyChain, ResolveError, SourceError};
pub use graph::{DirectDependency, EdgeKind, Graph, ResolvedPackage};
pub use options::{DEFAULT_CONCURRENCY, NodeVersion, ResolveOptions};
pub use resolve::resolve;
pub use source::PackumentSource;
pub use warning::{SkipReason, Warning};
