//! Errors of the registry client.
//!
//! Every variant names what was being fetched ([`Resource`]) and where (a URL already stripped
//! of credentials, see `redact`). Sources are behind `Arc` so one error can be handed to every
//! caller that shared a deduplicated fetch.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// What a request was for, as shown in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The packument of a package.
    Packument {
        /// The package name.
        name: String,
    },
    /// A tarball, known by its URL only.
    Tarball,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Packument { name } => write!(f, "metadata of package `{name}`"),
            Self::Tarball => f.write_str("tarball"),
        }
    }
}

/// Shown after a message when a request was tried more than once.
struct Attempts(u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(f, " (after {} attempts)", self.0)
        } else {
            Ok(())
        }
    }
}

/// An error of the registry client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The name cannot be a registry package name.
    #[error("invalid package name `{name}`: {reason}")]
    InvalidPackageName {
        /// The name as given.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },

    /// A configured registry or proxy URL is unusable.
    #[error("invalid registry URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, without credentials.
        url: String,
        /// Why it is invalid.
        reason: String,
    },

    /// The registry answered 404 for a packument.
    #[error("package `{package}` does not exist in registry {registry} (HTTP 404 from {url})")]
    PackageNotFound {
        /// The package name.
        package: String,
        /// The registry asked.
        registry: String,
        /// The packument URL.
        url: String,
    },

    /// The server answered 404 for a tarball.
    #[error("tarball not found: HTTP 404 from {url}")]
    TarballNotFound {
        /// The tarball URL.
        url: String,
    },

    /// The server wants credentials, or refused the ones sent.
    #[error(
        "{resource}: HTTP {status} from {url}: {}",
        if *.credentials_sent {
            "the registry refused the configured credentials"
        } else {
            "the registry requires authentication and no credentials are configured for this URL"
        }
    )]
    Unauthorized {
        /// What was fetched.
        resource: Resource,
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Whether an `Authorization` header was sent.
        credentials_sent: bool,
    },

    /// Any other unsuccessful HTTP status, after retries for the retryable ones.
    #[error("{resource}: HTTP {status} from {url}{}", Attempts(*.attempts))]
    Status {
        /// What was fetched.
        resource: Resource,
        /// The URL.
        url: String,
        /// The last status received.
        status: u16,
        /// How many requests were made.
        attempts: u32,
    },

    /// The server did not answer in time.
    #[error("{resource}: timed out waiting for {url}{}", Attempts(*.attempts))]
    Timeout {
        /// What was fetched.
        resource: Resource,
        /// The URL.
        url: String,
        /// How many requests were made.
        attempts: u32,
    },

    /// Connecting, TLS or reading the response failed.
    #[error("{resource}: request to {url} failed{}", Attempts(*.attempts))]
    Network {
        /// What was fetched.
        resource: Resource,
        /// The URL.
        url: String,
        /// How many requests were made.
        attempts: u32,
        /// The transport error (its own URL removed).
        #[source]
        source: Arc<reqwest::Error>,
    },

    /// A redirect was refused or could not be followed.
    #[error("{resource}: bad redirect from {url}: {reason}")]
    Redirect {
        /// What was fetched.
        resource: Resource,
        /// The URL that redirected.
        url: String,
        /// What was wrong.
        reason: &'static str,
    },

    /// The response body is larger than the configured limit.
    #[error("{resource}: response from {url} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was fetched.
        resource: Resource,
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// The registry sent a packument that is not valid JSON of the expected shape.
    #[error("metadata of package `{package}` from {url} is not a valid packument")]
    InvalidPackument {
        /// The package name.
        package: String,
        /// Where it came from (a URL, or the cache file).
        url: String,
        /// The parse error.
        #[source]
        source: Arc<serde_json::Error>,
    },

    /// Offline mode and the packument is not in the cache.
    #[error(
        "package `{package}` is not in the metadata cache and the network is off (offline mode); \
         run once online or use prefer-offline"
    )]
    NotCached {
        /// The package name.
        package: String,
        /// The registry it would come from.
        registry: String,
    },

    /// Offline mode forbids a download.
    #[error("cannot download {url}: the network is off (offline mode)")]
    OfflineDownload {
        /// The URL.
        url: String,
    },

    /// The `cafile` could not be read.
    #[error("cannot read CA file {}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A CA certificate (from `cafile` or `ca`) is not valid PEM.
    #[error("invalid CA certificate in {origin}")]
    Certificate {
        /// `cafile <path>` or `ca`.
        origin: String,
        /// The parse error.
        #[source]
        source: Arc<reqwest::Error>,
    },

    /// A proxy URL was rejected.
    #[error("invalid proxy {url}")]
    Proxy {
        /// The proxy URL, without credentials.
        url: String,
        /// The error.
        #[source]
        source: Arc<reqwest::Error>,
    },

    /// The HTTP client could not be built (TLS set-up failed).
    #[error("cannot initialise the HTTP client")]
    Client {
        /// The error.
        #[source]
        source: Arc<reqwest::Error>,
    },
}
