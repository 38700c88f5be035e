//! What a [`crate::RegistryClient`] is built from.
//!
//! The fields mirror the `.npmrc` keys a user already knows (`registry`, `@scope:registry`,
//! `//host/:_authToken`, `proxy`, `https-proxy`, `noproxy`, `cafile`, `ca`, `strict-ssl`,
//! `fetch-retries`, `fetch-timeout`, `offline`, `prefer-offline`), so the config crate can fill
//! them without translation. Nothing here has a default registry: the URL always comes from
//! configuration (or, upstream, from `npm config get registry`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::auth::Auth;

/// How much the client may use the network for metadata.
///
/// Tarballs are not cached here (the store is their cache), so any mode but
/// [`NetworkMode::Offline`] downloads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Revalidate every cached packument with `If-None-Match` / `If-Modified-Since`; a `304`
    /// answer costs one round trip and no body.
    #[default]
    Online,
    /// Use a cached packument as is, without asking the registry; fetch only what is missing
    /// (npm's `--prefer-offline`).
    PreferOffline,
    /// Never touch the network; a packument missing from the cache is an error naming the
    /// package (npm's `--offline`).
    Offline,
}

/// A registry (or any URL prefix) and the credential that belongs to it.
///
/// The credential is sent only to URLs under `url`: same scheme, host and port, and a path that
/// starts with `url`'s path. This is npm's "nerf dart" matching, made stricter on the scheme so
/// a token configured for `https` is never sent in clear text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// Base URL, e.g. `https://registry.example/` or `https://host.example/npm/`.
    pub url: Url,
    /// The credential for requests under `url`, if any.
    pub auth: Option<Auth>,
}

/// Retry behaviour for transient failures (connect errors, timeouts, `5xx`, `429`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a failed request is retried (so `retries + 1` attempts at most).
    pub retries: u32,
    /// Delay before the first retry; each further retry doubles it, with jitter.
    pub min_delay: Duration,
    /// Upper bound of the exponential delay.
    pub max_delay: Duration,
    /// Upper bound for a server's `Retry-After`, so a hostile or confused server cannot park an
    /// install for hours.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // npm retries twice (fetch-retries=2); its 10 s minimum delay is meant for humans
        // watching a slow mirror, and an install with hundreds of requests fares better with
        // a shorter, jittered start.
        Self {
            retries: 2,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Everything a [`crate::RegistryClient`] needs. Build with [`ClientOptions::new`] and adjust
/// the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The default registry, for every unscoped package and every scope not in `scopes`.
    pub registry: Url,
    /// Scope (`@scope`, the `@` optional) to the registry serving that scope.
    pub scopes: BTreeMap<String, Url>,
    /// Credentials, each for the URLs under its registry URL. The default and scoped
    /// registries need an entry here only if they need authentication.
    pub registries: Vec<Registry>,
    /// Root of the on-disk cache; packuments go in `<cache_dir>/metadata/v2/`. `None` disables
    /// the disk cache (and so makes [`NetworkMode::Offline`] fail for every package).
    pub cache_dir: Option<PathBuf>,
    /// How much the network may be used.
    pub network_mode: NetworkMode,
    /// Proxy for `http://` URLs (npm's `proxy`).
    pub proxy: Option<Url>,
    /// Proxy for `https://` URLs (npm's `https-proxy`).
    pub https_proxy: Option<Url>,
    /// Hosts (or domain suffixes, or IP ranges) that bypass the proxies (npm's `noproxy`).
    pub no_proxy: Vec<String>,
    /// A PEM file of extra trusted CA certificates, added to the system store (npm's `cafile`).
    pub cafile: Option<PathBuf>,
    /// Extra trusted CA certificates as PEM text (npm's `ca`).
    pub ca: Vec<String>,
    /// Verify TLS certificates (npm's `strict-ssl`). Turning this off accepts any certificate.
    pub strict_ssl: bool,
    /// Limit for establishing a TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Limit for the server to send the next bytes (response head or body) once a request is
    /// sent; reset by every read, so a slow but steady download is never cut.
    pub read_timeout: Duration,
    /// Optional limit for a whole request including its body.
    pub request_timeout: Option<Duration>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Requests in flight at once, across packuments and tarballs.
    pub max_concurrency: usize,
    /// Largest response body accepted, in bytes; a larger tarball or packument is an error
    /// rather than an out-of-memory.
    pub max_body_size: u64,
    /// How long cached metadata is used without revalidation in [`NetworkMode::Online`] (the
    /// registry's own `Cache-Control: max-age` is 300 s; zero revalidates every time).
    pub metadata_max_age: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl ClientOptions {
    /// Options for `registry` with sandboxpm's defaults: online, no disk cache, no proxy,
    /// strict TLS with the system's certificate store, 2 retries.
    pub fn new(registry: Url) -> Self {
        Self {
            registry,
            scopes: BTreeMap::new(),
            registries: Vec::new(),
            cache_dir: None,
            network_mode: NetworkMode::Online,
            proxy: None,
            https_proxy: None,
            no_proxy: Vec::new(),
            cafile: None,
            ca: Vec::new(),
            strict_ssl: true,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            request_timeout: None,
            retry: RetryPolicy::default(),
            max_concurrency: 48,
            max_body_size: 1 << 30,
            metadata_max_age: Duration::from_secs(300),
            user_agent: concat!("sandboxpm/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}
