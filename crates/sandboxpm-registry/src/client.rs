//! The client: packuments with cache and dedupe, tarballs, and the retry loop they share.
//!
//! Every request goes through [`Inner::get`], which owns the policies that must not differ
//! between call sites: the concurrency limit, per-hop credential matching (redirects are
//! followed here, not by reqwest, so each hop is matched again and a redirect to a CDN drops
//! the token), retries with backoff, the body-size limit, and URL redaction in errors.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, LOCATION,
};
use reqwest::{NoProxy, Proxy, StatusCode};
use tokio::sync::Semaphore;
use url::Url;

use crate::auth::Credentials;
use crate::cache::{Entry, MetadataCache};
use crate::error::{Error, Resource};
use crate::name::escape_package_name;
use crate::options::{ClientOptions, NetworkMode, RetryPolicy};
use crate::packument::Packument;
use crate::redact::redact;
use crate::retry::{backoff, is_retryable_error, is_retryable_status, retry_after};
use crate::tls;

/// What npm sends: the abbreviated document if the registry has it, anything JSON otherwise.
const ACCEPT_PACKUMENT: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// More hops than any real registry or CDN needs, few enough to stop a loop quickly.
const MAX_REDIRECTS: u32 = 10;

/// Packuments above this size are parsed on the blocking pool, so a few huge documents do not
/// stall the downloads sharing the async worker threads.
const PARSE_INLINE_LIMIT: usize = 256 * 1024;

/// The largest HTTP/2 frame the registry may send us (the protocol's default is 16 KiB). A cold
/// install receives about 100 MB of packuments and tarballs over one connection; frames four
/// times larger mean a quarter of the frames to decode and of the wake-ups that hand them to the
/// requests waiting on them.
const HTTP2_MAX_FRAME_SIZE: u32 = 64 << 10;

type PackumentResult = Result<Arc<Packument>, Error>;
type SharedPackument = Shared<BoxFuture<'static, PackumentResult>>;

/// An npm registry client. Cheap to clone; clones share connections, cache and in-flight
/// requests.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    registry: Url,
    scopes: BTreeMap<String, Url>,
    credentials: Credentials,
    cache: Option<MetadataCache>,
    mode: NetworkMode,
    retry: RetryPolicy,
    permits: Semaphore,
    max_body_size: u64,
    metadata_max_age: std::time::Duration,
    /// Packument fetches by URL: in flight, or finished successfully. A finished entry
    /// answers later calls from memory, so one install sees one version of each packument.
    packuments: Mutex<HashMap<String, SharedPackument>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &redact(&self.inner.registry))
            .field("scopes", &self.inner.scopes.keys().collect::<Vec<_>>())
            .field("credentials", &self.inner.credentials)
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Build a client.
    ///
    /// # Errors
    ///
    /// When a registry or proxy URL is unusable, the `cafile` cannot be read, a CA certificate
    /// is not valid PEM, or TLS cannot be initialised.
    pub fn new(options: ClientOptions) -> Result<Self, Error> {
        tls::ensure_crypto_provider();
        let registry = base_url(&options.registry)?;
        let scopes = options
            .scopes
            .iter()
            .map(|(scope, url)| {
                let scope = if scope.starts_with('@') {
                    scope.clone()
                } else {
                    format!("@{scope}")
                };
                Ok((scope, base_url(url)?))
            })
            .collect::<Result<BTreeMap<_, _>, Error>>()?;

        let mut builder = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            // Redirects are followed in `get`, so credentials are matched again on every hop.
            .redirect(reqwest::redirect::Policy::none())
            .gzip(true)
            .brotli(true)
            .tcp_nodelay(true)
            .http2_max_frame_size(HTTP2_MAX_FRAME_SIZE)
            .pool_idle_timeout(Duration::from_secs(30))
            // One lookup per host, shared by every connection (see `dns`).
            .dns_resolver(Arc::new(crate::dns::SharedResolver::system()))
            // Proxies come from configuration only (the config crate maps the environment
            // variables npm honours); nothing is picked up behind the user's back.
            .no_proxy();
        if let Some(timeout) = options.request_timeout {
            builder = builder.timeout(timeout);
        }
        builder = tls::configure(
            builder,
            options.cafile.as_deref(),
            &options.ca,
            options.strict_ssl,
        )?;
        let no_proxy = NoProxy::from_string(&options.no_proxy.join(","));
        let proxies = [
            (options.proxy.as_ref(), false),
            (options.https_proxy.as_ref(), true),
        ];
        for (proxy_url, for_https) in proxies {
            let Some(proxy_url) = proxy_url else {
                continue;
            };
            let proxy = if for_https {
                Proxy::https(proxy_url.as_str())
            } else {
                Proxy::http(proxy_url.as_str())
            }
            .map_err(|e| Error::Proxy {
                url: redact(proxy_url),
                source: Arc::new(e.without_url()),
            })?;
            builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
        }
        let http = builder.build().map_err(|e| Error::Client {
            source: Arc::new(e),
        })?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                registry,
                scopes,
                credentials: Credentials::new(&options.registries),
                cache: options.cache_dir.as_deref().map(MetadataCache::new),
                mode: options.network_mode,
                retry: options.retry,
                permits: Semaphore::new(options.max_concurrency.max(1)),
                max_body_size: options.max_body_size,
                metadata_max_age: options.metadata_max_age,
                packuments: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The registry that serves `name`: its scope's registry, or the default one.
    pub fn registry_for(&self, name: &str) -> &Url {
        self.inner.registry_for(name)
    }

    /// The abbreviated packument of `name`.
    ///
    /// Concurrent calls for one name share a single fetch, and a successful result is kept for
    /// the life of the client. Depending on [`NetworkMode`] the disk cache is revalidated,
    /// trusted, or the only source.
    ///
    /// # Errors
    ///
    /// An invalid name, a package missing from the registry (404) or from the cache in offline
    /// mode, authentication failures, HTTP errors left after retries, timeouts, transport
    /// errors, and a body that is not a packument.
    pub async fn packument(&self, name: &str) -> Result<Arc<Packument>, Error> {
        let escaped = escape_package_name(name)?;
        let registry = self.inner.registry_for(name).clone();
        let url = Url::parse(&format!("{registry}{escaped}")).map_err(|e| Error::InvalidUrl {
            url: redact(&registry),
            reason: e.to_string(),
        })?;
        let key = url.as_str().to_owned();

        let fetch = {
            let mut map = self
                .inner
                .packuments
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            map.entry(key.clone())
                .or_insert_with(|| {
                    Arc::clone(&self.inner)
                        .fetch_packument(name.to_owned(), registry, url)
                        .boxed()
                        .shared()
                })
                .clone()
        };
        let result = fetch.clone().await;
        if result.is_err() {
            // Forget the failure so a later call tries again, unless someone already replaced
            // the entry with a newer attempt.
            let mut map = self
                .inner
                .packuments
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if map.get(&key).is_some_and(|f| f.ptr_eq(&fetch)) {
                map.remove(&key);
            }
        }
        result
    }

    /// Forget the packuments kept in memory, once whatever needed to see one version of each
    /// (a resolution) is over: they are the largest thing an install holds. Later calls fetch
    /// again (from the disk cache while it is fresh); fetches in progress finish for whoever
    /// awaits them.
    pub fn forget_packuments(&self) {
        self.inner
            .packuments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Download a tarball into memory. Credentials are attached only if `url` is under a
    /// registry they belong to. The bytes are not verified here; the store checks integrity.
    ///
    /// # Errors
    ///
    /// Offline mode, an unusable URL, 404, authentication failures, HTTP errors left after
    /// retries, timeouts, transport errors, and a body over the size limit.
    pub async fn tarball(&self, url: &str) -> Result<Bytes, Error> {
        let parsed = Url::parse(url).map_err(|e| Error::InvalidUrl {
            url: redact_unparsed(url),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::InvalidUrl {
                url: redact(&parsed),
                reason: "only http and https URLs can be downloaded".to_owned(),
            });
        }
        if self.inner.mode == NetworkMode::Offline {
            return Err(Error::OfflineDownload {
                url: redact(&parsed),
            });
        }
        match self
            .inner
            .get(&Resource::Tarball, &parsed, HeaderMap::new())
            .await
        {
            Ok(fetched) => Ok(fetched.body),
            Err(Error::Status {
                status: 404, url, ..
            }) => Err(Error::TarballNotFound { url }),
            Err(e) => Err(e),
        }
    }
}

/// A successful (2xx or 304) response.
struct Fetched {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// The outcome of one request.
enum Attempt {
    Done(Fetched),
    Redirect(Url),
    Status {
        status: StatusCode,
        headers: HeaderMap,
        credentials_sent: bool,
    },
    Failed(reqwest::Error),
}

impl Inner {
    fn registry_for(&self, name: &str) -> &Url {
        name.split_once('/')
            .filter(|(scope, _)| scope.starts_with('@'))
            .and_then(|(scope, _)| self.scopes.get(scope))
            .unwrap_or(&self.registry)
    }

    async fn fetch_packument(
        self: Arc<Self>,
        name: String,
        registry: Url,
        url: Url,
    ) -> PackumentResult {
        let shown_url = redact(&url);
        let cache_path = self.cache.as_ref().map(|c| c.path_for(&registry, &name));
        let cached = match (&self.cache, &cache_path) {
            (Some(cache), Some(path)) if cache.may_hold(path) => {
                let (path, n) = (path.clone(), name.clone());
                blocking(move || MetadataCache::read(&path, &n))
                    .await
                    .flatten()
            }
            _ => None,
        };

        match self.mode {
            NetworkMode::Offline => {
                return match cached {
                    Some(entry) => Ok(entry.packument),
                    None => Err(Error::NotCached {
                        package: name,
                        registry: redact(&registry),
                    }),
                };
            }
            NetworkMode::PreferOffline => {
                if let Some(entry) = cached {
                    return Ok(entry.packument);
                }
            }
            NetworkMode::Online => {
                // Like npm with the registry's `max-age=300`: metadata fetched or revalidated
                // moments ago is used as it is, instead of one conditional request per package.
                let fresh = cached.as_ref().is_some_and(|entry| {
                    entry
                        .modified
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age < self.metadata_max_age)
                });
                if fresh && let Some(entry) = cached {
                    return Ok(entry.packument);
                }
            }
        }

        let resource = Resource::Packument { name: name.clone() };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_PACKUMENT));
        let unconditional = headers.clone();
        if let Some(entry) = &cached {
            let validators = [
                (IF_NONE_MATCH, entry.etag.as_deref()),
                (IF_MODIFIED_SINCE, entry.last_modified.as_deref()),
            ];
            for (header, value) in validators {
                if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                    headers.insert(header, value);
                }
            }
        }

        let not_found = |e: Error| match e {
            Error::Status {
                status: 404, url, ..
            } => Error::PackageNotFound {
                package: name.clone(),
                registry: redact(&registry),
                url,
            },
            other => other,
        };
        let mut fetched = self
            .get(&resource, &url, headers)
            .await
            .map_err(not_found)?;
        if fetched.status == StatusCode::NOT_MODIFIED {
            if let Some(entry) = cached {
                // Revalidated: fresh again for `metadata_max_age`.
                if let Some(path) = &cache_path {
                    let _ = std::fs::File::options()
                        .append(true)
                        .open(path)
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                }
                return Ok(entry.packument);
            }
            fetched = self
                .get(&resource, &url, unconditional)
                .await
                .map_err(not_found)?;
            if fetched.status == StatusCode::NOT_MODIFIED {
                return Err(Error::Status {
                    resource,
                    url: shown_url,
                    status: 304,
                    attempts: 1,
                });
            }
        }

        // Parse before caching, so a broken body never becomes a cache entry.
        let packument = Arc::new(parse(&name, &shown_url, fetched.body).await?);
        if let (Some(cache), Some(path)) = (&self.cache, cache_path) {
            let header_text = |h| {
                fetched
                    .headers
                    .get(h)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            let entry = Entry {
                etag: header_text(ETAG),
                last_modified: header_text(LAST_MODIFIED),
                packument: Arc::clone(&packument),
                modified: None,
            };
            // Not awaited: the resolution goes on while the entry is written.
            cache.write_later(path, name, url, entry);
        }
        Ok(packument)
    }

    /// GET `url` with retries, following redirects.
    async fn get(
        &self,
        resource: &Resource,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<Fetched, Error> {
        let mut url = url.clone();
        let mut attempts: u32 = 0;
        let mut redirects: u32 = 0;
        loop {
            attempts += 1;
            let outcome = {
                // The semaphore is never closed, so `acquire` cannot fail; a permit is held
                // for one request, never across a backoff sleep.
                let _permit = self.permits.acquire().await.ok();
                self.attempt(resource, &url, &headers).await?
            };
            let retries_left = attempts <= self.retry.retries;
            let delay = match outcome {
                Attempt::Done(fetched) => return Ok(fetched),
                Attempt::Redirect(next) => {
                    attempts -= 1;
                    redirects += 1;
                    let refuse = |reason| Error::Redirect {
                        resource: resource.clone(),
                        url: redact(&url),
                        reason,
                    };
                    if redirects > MAX_REDIRECTS {
                        return Err(refuse("too many redirects"));
                    }
                    if url.scheme() == "https" && next.scheme() != "https" {
                        return Err(refuse("refusing to follow a redirect from https to http"));
                    }
                    if !matches!(next.scheme(), "http" | "https") {
                        return Err(refuse("redirect to a URL that is not http or https"));
                    }
                    url = next;
                    continue;
                }
                Attempt::Status {
                    status,
                    headers: response_headers,
                    credentials_sent,
                } => {
                    if is_retryable_status(status) && retries_left {
                        retry_after(&self.retry, &response_headers)
                            .unwrap_or_else(|| backoff(&self.retry, attempts - 1))
                    } else if matches!(status.as_u16(), 401 | 403) {
                        return Err(Error::Unauthorized {
                            resource: resource.clone(),
                            url: redact(&url),
                            status: status.as_u16(),
                            credentials_sent,
                        });
                    } else {
                        return Err(Error::Status {
                            resource: resource.clone(),
                            url: redact(&url),
                            status: status.as_u16(),
                            attempts,
                        });
                    }
                }
                Attempt::Failed(error) => {
                    if is_retryable_error(&error) && retries_left {
                        backoff(&self.retry, attempts - 1)
                    } else if error.is_timeout() {
                        return Err(Error::Timeout {
                            resource: resource.clone(),
                            url: redact(&url),
                            attempts,
                        });
                    } else {
                        return Err(Error::Network {
                            resource: resource.clone(),
                            url: redact(&url),
                            attempts,
                            source: Arc::new(error.without_url()),
                        });
                    }
                }
            };
            tracing::debug!(url = %redact(&url), attempts, ?delay, "retrying request");
            tokio::time::sleep(delay).await;
        }
    }

    /// One request and, for a success, its whole body.
    async fn attempt(
        &self,
        resource: &Resource,
        url: &Url,
        headers: &HeaderMap,
    ) -> Result<Attempt, Error> {
        let mut request = match self.http.get(url.clone()).headers(headers.clone()).build() {
            Ok(request) => request,
            Err(e) => return Ok(Attempt::Failed(e)),
        };
        let credential = self.credentials.header_for(url);
        let credentials_sent = credential.is_some();
        if let Some(value) = credential {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        tracing::trace!(url = %redact(url), credentials_sent, "GET");
        let mut response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(e) => return Ok(Attempt::Failed(e)),
        };
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| url.join(location).ok());
            return match next {
                Some(next) => Ok(Attempt::Redirect(next)),
                None => Err(Error::Redirect {
                    resource: resource.clone(),
                    url: redact(url),
                    reason: "missing or invalid Location header",
                }),
            };
        }
        if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
            return Ok(Attempt::Status {
                status,
                headers: response.headers().clone(),
                credentials_sent,
            });
        }

        let limit = self.max_body_size;
        let too_large = || Error::TooLarge {
            resource: resource.clone(),
            url: redact(url),
            limit,
        };
        let expected = response.content_length().unwrap_or(0);
        if expected > limit {
            return Err(too_large());
        }
        let mut body = BytesMut::with_capacity(usize::try_from(expected).unwrap_or(0));
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // A connection cut mid-body is as transient as one cut before it.
                Err(e) => return Ok(Attempt::Failed(e)),
            }
        }
        Ok(Attempt::Done(Fetched {
            status,
            headers: response.headers().clone(),
            body: body.freeze(),
        }))
    }
}

/// Parse a packument body, on the blocking pool when it is large.
async fn parse(name: &str, shown_url: &str, body: Bytes) -> Result<Packument, Error> {
    let parse_now = |body: &Bytes| Packument::from_json(body);
    let result = if body.len() > PARSE_INLINE_LIMIT {
        let owned = body.clone();
        match blocking(move || parse_now(&owned)).await {
            Some(result) => result,
            None => parse_now(&body),
        }
    } else {
        parse_now(&body)
    };
    result.map_err(|e| Error::InvalidPackument {
        package: name.to_owned(),
        url: shown_url.to_owned(),
        source: Arc::new(e),
    })
}

/// Run `f` on the blocking pool. `None` only if the runtime is shutting down; a panic in `f`
/// is propagated.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => Some(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

/// A registry base URL: http(s), with a host, no query or fragment, ending in `/` so names
/// can be appended.
fn base_url(url: &Url) -> Result<Url, Error> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: redact(url),
        reason: reason.to_owned(),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("a registry URL must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid("a registry URL needs a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a registry URL cannot have a query or fragment"));
    }
    let mut base = url.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

/// A URL that failed to parse, with anything that looks like user info removed.
fn redact_unparsed(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let path = path.split(['?', '#']).next().unwrap_or("");
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn base_url_gets_a_trailing_slash_and_rejects_odd_urls() {
        let u = |s| Url::parse(s).unwrap();
        assert_eq!(
            base_url(&u("http://127.0.0.1:1/npm")).unwrap().as_str(),
            "http://127.0.0.1:1/npm/"
        );
        assert!(base_url(&u("ftp://h.test/")).is_err());
        assert!(base_url(&u("http://h.test/?x=1")).is_err());
    }

    #[test]
    fn unparsable_urls_lose_their_user_info() {
        assert_eq!(
            redact_unparsed("https://me:s3cret@ho st/x?t=1"),
            "https://ho st/x"
        );
        assert_eq!(redact_unparsed("no scheme at all"), "no scheme at all");
    }

    #[test]
    fn scoped_names_use_their_scope_registry() {
        let mut options = ClientOptions::new(Url::parse("http://127.0.0.1:1/").unwrap());
        options.scopes.insert(
            "corp".into(),
            Url::parse("http://127.0.0.1:2/corp").unwrap(),
        );
        let client = RegistryClient::new(options).unwrap();
        assert_eq!(
            client.registry_for("@corp/x").as_str(),
            "http://127.0.0.1:2/corp/"
        );
        assert_eq!(
            client.registry_for("@other/x").as_str(),
            "http://127.0.0.1:1/"
        );
        assert_eq!(client.registry_for("corp").as_str(), "http://127.0.0.1:1/");
    }
}
