//! The client against a loopback fixture registry: every behaviour the install depends on,
//! without leaving the machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandboxpm_registry::{
    Auth, Bin, ClientOptions, Error, NetworkMode, Registry, RegistryClient, RetryPolicy,
};
use sandboxpm_test_support::{BuiltPackage, FixtureRegistry, PackageBuilder, sri_sha512};
use url::Url;

fn package(name: &str, version: &str) -> BuiltPackage {
    PackageBuilder::new(name, version)
        .dependency("dep-a", "^1.2.0")
        .optional_dependency("fsevents", "^2")
        .bin("tool", "cli.js")
        .script("postinstall", "node install.js")
        .file("index.js", "module.exports = 42;\n")
        .executable("cli.js", "#!/usr/bin/env node\n")
        .build()
        .unwrap()
}

fn serve(names: &[&str]) -> FixtureRegistry {
    let registry = FixtureRegistry::start().unwrap();
    for name in names {
        registry.add(&package(name, "1.0.0"));
    }
    registry
}

fn options(registry: &FixtureRegistry, cache: Option<&Path>) -> ClientOptions {
    let mut options = ClientOptions::new(Url::parse(&registry.url()).unwrap());
    options.cache_dir = cache.map(Path::to_path_buf);
    options.read_timeout = Duration::from_secs(5);
    options.retry = RetryPolicy {
        retries: 2,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    };
    options
}

fn client(options: ClientOptions) -> RegistryClient {
    RegistryClient::new(options).unwrap()
}

#[tokio::test]
async fn packument_is_fetched_and_parsed() {
    let registry = serve(&["left-pad"]);
    let built = package("left-pad", "1.0.0");
    let packument = client(options(&registry, None))
        .packument("left-pad")
        .await
        .unwrap();

    assert_eq!(packument.name, "left-pad");
    assert_eq!(packument.dist_tags["latest"], "1.0.0");
    let v = &packument.versions["1.0.0"].manifest().unwrap();
    assert_eq!(v.dependencies["dep-a"], "^1.2.0");
    assert_eq!(v.optional_dependencies["fsevents"], "^2");
    assert_eq!(
        v.bin,
        Some(Bin::Map([("tool".into(), "cli.js".into())].into()))
    );
    assert!(v.has_install_script);
    assert_eq!(v.dist.integrity.as_deref(), Some(built.integrity.as_str()));
    assert_eq!(
        v.dist.tarball,
        registry.url_of("/left-pad/-/left-pad-1.0.0.tgz")
    );

    let log = registry.request_log();
    assert_eq!(log.len(), 1);
    let accept = log[0].header("accept").unwrap();
    assert!(
        accept.starts_with("application/vnd.npm.install-v1+json"),
        "{accept}"
    );
}

#[tokio::test]
async fn scoped_package_uses_escaped_path() {
    let registry = serve(&["@scope/name"]);
    let packument = client(options(&registry, None))
        .packument("@scope/name")
        .await
        .unwrap();
    assert_eq!(packument.name, "@scope/name");
    assert_eq!(registry.request_log()[0].path, "/@scope%2fname");
    assert_eq!(
        packument.versions["1.0.0"].manifest().unwrap().dist.tarball,
        registry.url_of("/@scope/name/-/name-1.0.0.tgz")
    );
}

#[tokio::test]
async fn tarball_is_downloaded_intact() {
    let registry = serve(&["left-pad"]);
    let c = client(options(&registry, None));
    let packument = c.packument("left-pad").await.unwrap();
    let dist = &packument.versions["1.0.0"].manifest().unwrap().dist;
    let bytes = c.tarball(&dist.tarball).await.unwrap();
    assert_eq!(Some(sri_sha512(&bytes)), dist.integrity);
}

#[tokio::test]
async fn gzip_encoded_packument_is_decoded() {
    let registry = serve(&["zipped"]);
    registry.set_gzip(true);
    let packument = client(options(&registry, None))
        .packument("zipped")
        .await
        .unwrap();
    assert_eq!(packument.dist_tags["latest"], "1.0.0");
    let encoding = registry.request_log()[0]
        .header("accept-encoding")
        .unwrap()
        .to_owned();
    assert!(encoding.contains("gzip"), "{encoding}");
}

#[tokio::test]
async fn fresh_metadata_is_used_without_a_request() {
    let registry = serve(&["cached"]);
    let cache = tempfile::tempdir().unwrap();
    let first = client(options(&registry, Some(cache.path())))
        .packument("cached")
        .await
        .unwrap();
    // Within the default max age (300 s) a later install asks nothing.
    let second = client(options(&registry, Some(cache.path())))
        .packument("cached")
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(registry.request_log().len(), 1);
}

#[tokio::test]
async fn etag_revalidation_serves_304_from_cache() {
    let registry = serve(&["cached"]);
    let cache = tempfile::tempdir().unwrap();
    let first = client(options(&registry, Some(cache.path())))
        .packument("cached")
        .await
        .unwrap();

    // A new client (a later install) revalidates instead of downloading again, once the
    // cached copy is older than `metadata_max_age`.
    let mut stale = options(&registry, Some(cache.path()));
    stale.metadata_max_age = std::time::Duration::ZERO;
    let second = client(stale).packument("cached").await.unwrap();
    assert_eq!(first, second);

    let log = registry.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].header("if-none-match"), None);
    let etag = log[1].header("if-none-match").expect("conditional request");
    assert!(etag.starts_with('"'), "{etag}");
}

#[tokio::test]
async fn same_client_answers_repeated_calls_from_memory() {
    let registry = serve(&["memo"]);
    let c = client(options(&registry, None));
    let a = c.packument("memo").await.unwrap();
    let b = c.packument("memo").await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(registry.requests("/memo"), 1);
}

#[tokio::test]
async fn prefer_offline_uses_cache_without_a_request() {
    let registry = serve(&["warm", "cold"]);
    let cache = tempfile::tempdir().unwrap();
    client(options(&registry, Some(cache.path())))
        .packument("warm")
        .await
        .unwrap();

    let mut opts = options(&registry, Some(cache.path()));
    opts.network_mode = NetworkMode::PreferOffline;
    let c = client(opts);
    c.packument("warm").await.unwrap();
    assert_eq!(registry.requests("/warm"), 1);

    // What is not cached is still fetched.
    c.packument("cold").await.unwrap();
    assert_eq!(registry.requests("/cold"), 1);
}

#[tokio::test]
async fn offline_with_cache_works_without_network() {
    let registry = serve(&["@s/warm"]);
    let cache = tempfile::tempdir().unwrap();
    let online = client(options(&registry, Some(cache.path())))
        .packument("@s/warm")
        .await
        .unwrap();
    let mut opts = options(&registry, Some(cache.path()));
    opts.network_mode = NetworkMode::Offline;
    let offline = client(opts).packument("@s/warm").await.unwrap();
    assert_eq!(online, offline);
    assert_eq!(registry.total_requests(), 1);
}

#[tokio::test]
async fn offline_without_cache_names_the_package() {
    let registry = serve(&["absent-from-cache"]);
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(&registry, Some(cache.path()));
    opts.network_mode = NetworkMode::Offline;
    let c = client(opts);
    let err = c.packument("absent-from-cache").await.unwrap_err();
    assert!(matches!(err, Error::NotCached { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("`absent-from-cache`") && text.contains("offline"),
        "{text}"
    );

    let tarball = registry.url_of(&FixtureRegistry::tarball_path("absent-from-cache", "1.0.0"));
    let err = c.tarball(&tarball).await.unwrap_err();
    assert!(matches!(err, Error::OfflineDownload { .. }), "{err:?}");
    assert_eq!(registry.total_requests(), 0);
}

#[tokio::test]
async fn retries_after_two_500s() {
    let registry = serve(&["flaky"]);
    registry.fail_times("/flaky", 500, 2);
    let packument = client(options(&registry, None))
        .packument("flaky")
        .await
        .unwrap();
    assert_eq!(packument.name, "flaky");
    assert_eq!(registry.requests("/flaky"), 3);
}

#[tokio::test]
async fn tarball_download_is_retried_too() {
    let registry = serve(&["flaky-tgz"]);
    let path = FixtureRegistry::tarball_path("flaky-tgz", "1.0.0");
    registry.fail_times(&path, 502, 1);
    let bytes = client(options(&registry, None))
        .tarball(&registry.url_of(&path))
        .await
        .unwrap();
    assert_eq!(sri_sha512(&bytes), package("flaky-tgz", "1.0.0").integrity);
    assert_eq!(registry.requests(&path), 2);
}

#[tokio::test]
async fn gives_up_after_persistent_500_with_a_clear_error() {
    let registry = serve(&["broken"]);
    registry.fail_always("/broken", 500);
    let err = client(options(&registry, None))
        .packument("broken")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Status {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    let url = registry.url_of("/broken");
    assert!(text.contains("`broken`"), "{text}");
    assert!(text.contains("HTTP 500") && text.contains(&url), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
    assert_eq!(registry.requests("/broken"), 3);
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let registry = serve(&["limited"]);
    registry.fail_times("/limited", 429, 1);
    registry.retry_after("/limited", "1");
    let start = Instant::now();
    client(options(&registry, None))
        .packument("limited")
        .await
        .unwrap();
    // The backoff alone would retry after at most 40 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(registry.requests("/limited"), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let registry = serve(&["gone"]);
    registry.fail_always("/gone", 410);
    let err = client(options(&registry, None))
        .packument("gone")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Status {
                status: 410,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(registry.requests("/gone"), 1);
}

#[tokio::test]
async fn slow_server_times_out() {
    let registry = serve(&["slow"]);
    registry.delay("/slow", Duration::from_secs(3));
    let mut opts = options(&registry, None);
    opts.read_timeout = Duration::from_millis(200);
    opts.retry.retries = 1;
    let start = Instant::now();
    let err = client(opts).packument("slow").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { attempts: 2, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("timed out") && text.contains(&registry.url_of("/slow")),
        "{text}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn missing_package_says_it_does_not_exist() {
    let registry = serve(&[]);
    let err = client(options(&registry, None))
        .packument("no-such-package")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "package `no-such-package` does not exist in registry {} (HTTP 404 from {})",
            registry.url(),
            registry.url_of("/no-such-package")
        )
    );
    assert_eq!(registry.requests("/no-such-package"), 1);

    let err = client(options(&registry, None))
        .tarball(&registry.url_of("/x/-/x-1.0.0.tgz"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TarballNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn failed_fetch_is_not_cached_in_memory() {
    let registry = serve(&["recovers"]);
    registry.fail_always("/recovers", 503);
    let mut opts = options(&registry, None);
    opts.retry.retries = 0;
    let c = client(opts);
    assert!(c.packument("recovers").await.is_err());
    registry.clear_rules("/recovers");
    assert!(c.packument("recovers").await.is_ok());
    assert_eq!(registry.requests("/recovers"), 2);
}

#[tokio::test]
async fn invalid_packument_is_an_error_and_not_cached() {
    let registry = serve(&["garbled"]);
    let cache = tempfile::tempdir().unwrap();
    // A 200 whose body is an error object, as some proxies send.
    registry.fail_times("/garbled", 200, 1);
    let c = client(options(&registry, Some(cache.path())));
    let err = c.packument("garbled").await.unwrap_err();
    assert!(matches!(err, Error::InvalidPackument { .. }), "{err:?}");
    assert!(err.to_string().contains("`garbled`"), "{err}");

    let log_len = registry.request_log().len();
    client(options(&registry, Some(cache.path())))
        .packument("garbled")
        .await
        .unwrap();
    let log = registry.request_log();
    assert_eq!(
        log[log_len].header("if-none-match"),
        None,
        "nothing was cached"
    );
}

#[tokio::test]
async fn auth_goes_to_the_registry_host_and_not_to_a_cdn() {
    let registry = serve(&["private"]);
    let cdn = serve(&["private"]);
    registry.require_token(Some("s3cret-token"));
    registry.set_tarball_base(&cdn.url());

    let mut opts = options(&registry, None);
    opts.registries.push(Registry {
        url: Url::parse(&registry.url()).unwrap(),
        auth: Some(Auth::Bearer("s3cret-token".into())),
    });
    let c = client(opts);

    // The registry refuses anonymous requests, so success proves the token was sent.
    let packument = c.packument("private").await.unwrap();
    let dist = &packument.versions["1.0.0"].manifest().unwrap().dist;
    assert!(dist.tarball.starts_with(&cdn.url()), "{}", dist.tarball);
    let bytes = c.tarball(&dist.tarball).await.unwrap();
    assert_eq!(Some(sri_sha512(&bytes)), dist.integrity);

    // A tarball under the registry gets the token too.
    let on_registry = registry.url_of(&FixtureRegistry::tarball_path("private", "1.0.0"));
    c.tarball(&on_registry).await.unwrap();

    let registry_log = registry.request_log();
    assert!(
        registry_log
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer s3cret-token"))
    );
    let cdn_log = cdn.request_log();
    assert_eq!(cdn_log.len(), 1);
    assert_eq!(cdn_log[0].header("authorization"), None);
}

#[tokio::test]
async fn redirect_to_another_host_drops_the_token() {
    let registry = serve(&["moved"]);
    let cdn = serve(&["moved"]);
    let path = FixtureRegistry::tarball_path("moved", "1.0.0");
    registry.redirect(&path, &cdn.url_of(&path));

    let mut opts = options(&registry, None);
    opts.registries.push(Registry {
        url: Url::parse(&registry.url()).unwrap(),
        auth: Some(Auth::Bearer("s3cret-token".into())),
    });
    let bytes = client(opts).tarball(&registry.url_of(&path)).await.unwrap();
    assert_eq!(sri_sha512(&bytes), package("moved", "1.0.0").integrity);
    assert_eq!(
        registry.request_log()[0].header("authorization"),
        Some("Bearer s3cret-token")
    );
    assert_eq!(cdn.request_log()[0].header("authorization"), None);
}

#[tokio::test]
async fn missing_credentials_are_explained_and_secrets_never_shown() {
    let registry = serve(&["locked"]);
    registry.require_token(Some("right"));
    let err = client(options(&registry, None))
        .packument("locked")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no credentials are configured"),
        "{err}"
    );

    // Wrong token, and credentials in the registry URL itself: neither may appear.
    let mut url = Url::parse(&registry.url()).unwrap();
    url.set_username("me").unwrap();
    url.set_password(Some("url-pass")).unwrap();
    let mut opts = options(&registry, None);
    opts.registry = url.clone();
    opts.registries.push(Registry {
        url,
        auth: Some(Auth::Bearer("wrong-s3cret".into())),
    });
    let c = client(opts);
    let err = c.packument("locked").await.unwrap_err();
    let text = format!("{err} / {err:?} / {c:?}");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                status: 401,
                credentials_sent: true,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("refused the configured credentials"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-s3cret") && !text.contains("url-pass"),
        "{text}"
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_fetch() {
    let registry = serve(&["popular"]);
    registry.delay("/popular", Duration::from_millis(300));
    let c = client(options(&registry, None));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.packument("popular").await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }
    assert!(results.iter().all(|p| Arc::ptr_eq(p, &results[0])));
    assert_eq!(registry.requests("/popular"), 1);
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let registry = serve(&["big"]);
    let mut opts = options(&registry, None);
    opts.max_body_size = 64;
    let path = FixtureRegistry::tarball_path("big", "1.0.0");
    let err = client(opts)
        .tarball(&registry.url_of(&path))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 64, .. }), "{err:?}");
}

#[tokio::test]
async fn scope_registry_is_used_for_scoped_names() {
    let public = serve(&[]);
    let corp = serve(&["@corp/tool"]);
    let mut opts = options(&public, None);
    opts.scopes
        .insert("@corp".into(), Url::parse(&corp.url()).unwrap());
    let packument = client(opts).packument("@corp/tool").await.unwrap();
    assert_eq!(packument.name, "@corp/tool");
    assert_eq!(public.total_requests(), 0);
    assert_eq!(corp.requests("/@corp%2ftool"), 1);
}

#[tokio::test]
async fn invalid_names_never_reach_the_network() {
    let registry = serve(&[]);
    let c = client(options(&registry, None));
    for name in ["../etc/passwd", "a?b", "@scope"] {
        let err = c.packument(name).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidPackageName { .. }),
            "{name}: {err:?}"
        );
    }
    assert_eq!(registry.total_requests(), 0);
}
