//! Errors of the resolver.
//!
//! A failure deep in a graph is useless without the path that led to it: "package `b` not
//! found" does not tell a user which of their dependencies wants `b`. So every error that
//! concerns a dependency carries its [`DependencyChain`], from a direct dependency of the
//! project down to the spec that failed, like `a@1.0.0 -> b@^2`. Errors are `Clone` (sources
//! behind `Arc`) because one failure can be reported both as the reason an optional dependency
//! was skipped and, later, as the fatal error of a required path to the same package.

use std::fmt;
use std::sync::Arc;

use sandboxpm_npm::{
    FrozenLockfileError, IntegrityError, LOCKFILE_NAME, PlatformMismatch, SpecError,
    UnsupportedKind,
};

/// The path from the project to a dependency: resolved packages (`name@version`), then the
/// spec being resolved (`b@^2`, `foo@npm:bar@^1`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DependencyChain(pub Vec<String>);

impl fmt::Display for DependencyChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("package.json");
        }
        f.write_str(&self.0.join(" -> "))
    }
}

/// Why a packument could not be fetched, as reported by the [`crate::PackumentSource`].
pub type SourceError = Arc<dyn std::error::Error + Send + Sync>;

/// A resolution that cannot produce a graph.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The metadata of a package could not be fetched (404, network, invalid document).
    #[error("cannot resolve {chain}: the metadata of `{package}` could not be fetched")]
    Fetch {
        /// The package whose packument was asked for.
        package: String,
        /// How the project depends on it.
        chain: DependencyChain,
        /// The source's error (for a registry: status, URL).
        #[source]
        source: SourceError,
    },
    /// No published version satisfies the request.
    #[error(
        "cannot resolve {chain}: no version of `{package}` matches `{request}`{}",
        latest.as_ref().map(|l| format!(" (latest is {l})")).unwrap_or_default()
    )]
    NoMatchingVersion {
        /// The package.
        package: String,
        /// The range, version or tag asked for.
        request: String,
        /// The `latest` dist-tag, if any.
        latest: Option<String>,
        /// How the project depends on it.
        chain: DependencyChain,
    },
    /// A git, URL, file, `link:` or `workspace:` spec.
    #[error(
        "{dependent} depends on `{name}` through the {kind} spec `{spec}` ({chain}); \
         sandboxpm only installs packages from the registry"
    )]
    UnsupportedSpec {
        /// The package that declares the dependency (`package.json` for the project).
        dependent: String,
        /// The dependency name.
        name: String,
        /// The spec as written.
        spec: String,
        /// Which kind of spec.
        kind: UnsupportedKind,
        /// How the project reaches the spec.
        chain: DependencyChain,
    },
    /// A dependency entry that is not a valid name or spec.
    #[error("{dependent} has an invalid dependency `{name}: {spec}` ({chain})")]
    InvalidSpec {
        /// The package that declares the dependency.
        dependent: String,
        /// The dependency name as written.
        name: String,
        /// The spec as written.
        spec: String,
        /// How the project reaches the entry.
        chain: DependencyChain,
        /// What is wrong with it.
        #[source]
        source: Box<SpecError>,
    },
    /// A required (non-optional) package does not support this platform.
    #[error("{package} does not support this platform: {mismatch} (required by {chain})")]
    UnsupportedPlatform {
        /// The package key (`name@version`).
        package: String,
        /// Which field rejected the platform.
        mismatch: PlatformMismatch,
        /// How the project depends on it.
        chain: DependencyChain,
    },
    /// The packument announces an integrity string that cannot be parsed.
    #[error("{package}: the registry metadata has an invalid integrity ({chain})")]
    InvalidIntegrity {
        /// The package key.
        package: String,
        /// How the project depends on it.
        chain: DependencyChain,
        /// The parse error.
        #[source]
        source: IntegrityError,
    },
    /// The packument gives no tarball URL for the chosen version.
    #[error("{package}: the registry metadata has no tarball URL ({chain})")]
    MissingTarball {
        /// The package key.
        package: String,
        /// How the project depends on it.
        chain: DependencyChain,
    },
    /// `--frozen-lockfile` and `package.json` disagree with the lockfile.
    #[error("the lockfile is frozen (--frozen-lockfile) and cannot be updated: {0}")]
    Frozen(FrozenLockfileError),
    /// `--frozen-lockfile` without a lockfile.
    #[error("the lockfile is frozen (--frozen-lockfile) but there is no {LOCKFILE_NAME}")]
    FrozenWithoutLockfile,
    /// The lockfile refers to a package it does not contain, or contradicts itself.
    #[error("{LOCKFILE_NAME} is inconsistent: {package}: {problem}")]
    InconsistentLockfile {
        /// The entry concerned (a package key or an importer dependency).
        package: String,
        /// What is wrong.
        problem: String,
    },
}
