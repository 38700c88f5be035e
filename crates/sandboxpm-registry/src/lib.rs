//! The registry HTTP client of sandboxpm.
//!
//! The resolver asks this crate for abbreviated packuments and the store asks it for tarball
//! bytes; nothing else in sandboxpm talks to a registry. Keeping every request in one place is
//! what lets us promise three things at once:
//!
//! - **credentials go only where they belong**: an `Authorization` header is attached per request,
//!   after matching the request URL against the registry the credential was configured for, so a
//!   tarball served from another host (a CDN, a mirror) never sees a token ([`Auth`]);
//! - **the network is used as little as possible**: packuments are cached on disk with their
//!   `ETag`/`Last-Modified` and revalidated, concurrent requests for one package share a single
//!   fetch, and [`NetworkMode`] lets a user go offline entirely;
//! - **failures are explained**: every [`Error`] names the package or URL (with credentials
//!   stripped) and the HTTP status, and transient failures are retried with backoff first.
//!
//! No registry host is written in this crate: every URL comes from [`ClientOptions`].

#![deny(missing_docs)]

mod auth;
mod cache;
mod client;
mod dns;
mod error;
mod name;
mod options;
mod packument;
mod redact;
mod retry;
mod scan;
mod tls;

pub use auth::Auth;
pub use client::RegistryClient;
pub use error::{Error, Resource};
pub use name::escape_package_name;
pub use options::{ClientOptions, NetworkMode, Registry, RetryPolicy};
pub use packument::{
    Bin, BundleDependencies, Dist, PackedManifest, Packument, PeerDependencyMeta, VersionManifest,
};
