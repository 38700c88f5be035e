//! What a resolution reports without failing.
//!
//! npm and pnpm install through peer conflicts, engine mismatches, deprecated versions and
//! optional dependencies that do not fit the platform; they warn. So does sandboxpm, and the
//! warnings are data (not log lines) so the binary can count them, print them in its summary and
//! emit them in `--json`.

use std::fmt;

use sandboxpm_npm::PlatformMismatch;

use crate::error::ResolveError;

/// Why an optional dependency is not installed.
#[derive(Debug, Clone)]
pub enum SkipReason {
    /// The package (or a package it requires) does not support this platform.
    Platform {
        /// The package key that rejected the platform.
        package: String,
        /// Which field rejected it.
        mismatch: PlatformMismatch,
    },
    /// Resolving it (or something it requires) failed.
    Failed(ResolveError),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Platform { package, mismatch } => {
                write!(f, "{package} does not support this platform ({mismatch})")
            }
            SkipReason::Failed(error) => error.fmt(f),
        }
    }
}

/// Something a user should know about the resolved graph.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Warning {
    /// An optional dependency was left out.
    SkippedOptional {
        /// The dependent package key, or `package.json` for the project.
        dependent: String,
        /// The dependency (edge) name.
        name: String,
        /// Why.
        reason: SkipReason,
    },
    /// A peer dependency is satisfied by a version outside its range.
    PeerConflict {
        /// The package declaring the peer.
        package: String,
        /// The peer name.
        peer: String,
        /// The declared range.
        range: String,
        /// The package key the peer is linked to.
        found: String,
    },
    /// A required peer dependency could not be installed.
    MissingPeer {
        /// The package declaring the peer.
        package: String,
        /// The peer name.
        peer: String,
        /// The declared range.
        range: String,
        /// Why it could not be resolved.
        reason: ResolveError,
    },
    /// A package is used from two places that provide different versions of one of its peers;
    /// sandboxpm links one copy of the package, so one of them gets a peer it did not choose.
    PeerVariant {
        /// The package declaring the peer.
        package: String,
        /// The peer name.
        peer: String,
        /// What the package is linked to.
        linked: String,
        /// What the other dependent provides.
        provided: String,
        /// The other dependent.
        dependent: String,
    },
    /// A package's `engines.node` does not accept the node version.
    Engines {
        /// The package key.
        package: String,
        /// The declared range.
        required: String,
        /// The node version in use.
        node: String,
    },
    /// A package version is deprecated.
    Deprecated {
        /// The package key.
        package: String,
        /// The registry's message (possibly empty).
        message: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::SkippedOptional {
                dependent,
                name,
                reason,
            } => write!(
                f,
                "skipped optional dependency `{name}` of {dependent}: {reason}"
            ),
            Warning::PeerConflict {
                package,
                peer,
                range,
                found,
            } => write!(
                f,
                "{package} wants peer {peer}@{range} but is linked to {found}"
            ),
            Warning::MissingPeer {
                package,
                peer,
                range,
                reason,
            } => write!(
                f,
                "{package} wants peer {peer}@{range}, which could not be installed: {reason}"
            ),
            Warning::PeerVariant {
                package,
                peer,
                linked,
                provided,
                dependent,
            } => write!(
                f,
                "{package} is shared, and its peer `{peer}` is linked to {linked}, \
                 although {dependent} provides {provided}"
            ),
            Warning::Engines {
                package,
                required,
                node,
            } => write!(f, "{package} requires node {required}, but node is {node}"),
            Warning::Deprecated { package, message } if message.is_empty() => {
                write!(f, "{package} is deprecated")
            }
            Warning::Deprecated { package, message } => {
                write!(f, "{package} is deprecated: {message}")
            }
        }
    }
}
