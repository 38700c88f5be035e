//! The resolver with the real registry client against the loopback fixture registry: what the
//! network sees (request counts) and what real packuments carry (integrity, scripts, bins).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use sandboxpm_npm::Lockfile;
use sandboxpm_registry::{ClientOptions, RegistryClient, RetryPolicy};
use sandboxpm_resolver::{ResolveOptions, resolve};
use sandboxpm_test_support::{FixtureRegistry, PackageBuilder};
use serde_json::json;
use support::{direct, error_chain, linux_x64_glibc, manifest};
use url::Url;

fn client(registry: &FixtureRegistry) -> RegistryClient {
    let mut options = ClientOptions::new(Url::parse(&registry.url()).unwrap());
    options.read_timeout = Duration::from_secs(5);
    options.retry = RetryPolicy {
        retries: 0,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
        max_retry_after: Duration::from_millis(1),
    };
    RegistryClient::new(options).unwrap()
}

fn options(registry: &FixtureRegistry) -> ResolveOptions {
    ResolveOptions::new(linux_x64_glibc(), registry.url())
}

fn add(registry: &FixtureRegistry, builder: PackageBuilder) {
    registry.add(&builder.build().unwrap());
}

#[tokio::test]
async fn a_missing_dependency_names_the_chain() {
    let registry = FixtureRegistry::start().unwrap();
    add(
        &registry,
        PackageBuilder::new("a", "1.0.0").dependency("b", "^2"),
    );
    let project = manifest(json!({"dependencies": {"a": "^1"}}));
    let error = resolve(&project, &options(&registry), None, &client(&registry))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot resolve a@1.0.0 -> b@^2: the metadata of `b` could not be fetched"
    );
    let full = error_chain(&error);
    assert!(full.contains("package `b` does not exist"), "{full}");
    assert!(full.contains("HTTP 404"), "{full}");
}

#[tokio::test]
async fn packuments_become_packages() {
    let registry = FixtureRegistry::start().unwrap();
    let built = PackageBuilder::new("@scope/tool", "2.1.0")
        .dependency("dep", "^1")
        .script("postinstall", "node setup.js")
        .bin("tool", "bin/tool.js")
        .build()
        .unwrap();
    registry.add(&built);
    add(&registry, PackageBuilder::new("dep", "1.0.0"));
    add(&registry, PackageBuilder::new("dep", "1.3.0"));
    let project = manifest(json!({"dependencies": {"@scope/tool": "^2"}}));
    let graph = resolve(&project, &options(&registry), None, &client(&registry))
        .await
        .unwrap();
    let tool = &graph.packages["@scope/tool@2.1.0"];
    assert_eq!(
        tool.integrity.as_ref().unwrap().to_string(),
        built.integrity
    );
    assert_eq!(
        tool.tarball,
        registry.url_of(&FixtureRegistry::tarball_path("@scope/tool", "2.1.0"))
    );
    assert!(tool.has_install_script);
    assert_eq!(tool.bin["tool"], "bin/tool.js");
    assert_eq!(tool.dependencies["dep"], "dep@1.3.0");
    let lockfile = graph.to_lockfile(&registry.url());
    assert_eq!(
        lockfile.packages["@scope/tool@2.1.0"].resolved.as_deref(),
        Some("/@scope/tool/-/tool-2.1.0.tgz")
    );
}

#[tokio::test]
async fn bundled_dependencies_are_never_requested() {
    let registry = FixtureRegistry::start().unwrap();
    add(
        &registry,
        PackageBuilder::new("a", "1.0.0")
            .dependency("inner", "^1")
            .field("bundleDependencies", json!(["inner"])),
    );
    let project = manifest(json!({"dependencies": {"a": "1"}}));
    let graph = resolve(&project, &options(&registry), None, &client(&registry))
        .await
        .unwrap();
    assert_eq!(graph.packages["a@1.0.0"].bundled_dependencies, ["inner"]);
    assert_eq!(
        registry.requests(&FixtureRegistry::packument_path("inner")),
        0
    );
    assert_eq!(registry.total_requests(), 1);
}

fn publish(registry: &FixtureRegistry) {
    add(
        registry,
        PackageBuilder::new("a", "1.0.0").dependency("c", "^1"),
    );
    add(
        registry,
        PackageBuilder::new("b", "1.0.0").dependency("c", "^1"),
    );
    add(registry, PackageBuilder::new("c", "1.0.0"));
    add(
        registry,
        PackageBuilder::new("@esbuild/linux-x64", "0.19.4")
            .field("os", json!(["linux"]))
            .field("cpu", json!(["x64"])),
    );
    add(
        registry,
        PackageBuilder::new("@esbuild/darwin-arm64", "0.19.4")
            .field("os", json!(["darwin"]))
            .field("cpu", json!(["arm64"])),
    );
    add(
        registry,
        PackageBuilder::new("esbuild", "0.19.4")
            .optional_dependency("@esbuild/linux-x64", "0.19.4")
            .optional_dependency("@esbuild/darwin-arm64", "0.19.4"),
    );
}

#[tokio::test]
async fn a_lockfile_that_agrees_needs_no_request() {
    let registry = FixtureRegistry::start().unwrap();
    publish(&registry);
    let project = manifest(json!({
        "dependencies": {"a": "^1", "b": "^1"},
        "devDependencies": {"esbuild": "^0.19"}
    }));
    let graph = resolve(&project, &options(&registry), None, &client(&registry))
        .await
        .unwrap();
    let text = graph.to_lockfile(&registry.url()).to_text();
    assert!(!text.contains("127.0.0.1"));
    let lockfile = Lockfile::from_text(&text, Path::new("sandboxpm-lock.json")).unwrap();
    let first_run = registry.total_requests();
    assert_eq!(first_run, 6);

    // A new client: nothing is remembered in memory between the two runs.
    let again = resolve(
        &project,
        &options(&registry),
        Some(&lockfile),
        &client(&registry),
    )
    .await
    .unwrap();
    assert_eq!(registry.total_requests(), first_run, "no request at all");
    assert_eq!(again.packages, graph.packages);
    assert_eq!(
        again.packages["c@1.0.0"].tarball,
        registry.url_of("/c/-/c-1.0.0.tgz"),
        "tarball URLs are rebuilt from the configured registry"
    );
}

#[tokio::test]
async fn partial_reuse_requests_only_what_changed() {
    let registry = FixtureRegistry::start().unwrap();
    publish(&registry);
    let project = manifest(json!({"dependencies": {"a": "^1", "b": "^1"}}));
    let graph = resolve(&project, &options(&registry), None, &client(&registry))
        .await
        .unwrap();
    let lockfile = graph.to_lockfile(&registry.url());
    add(
        &registry,
        PackageBuilder::new("a", "1.1.0").dependency("c", "^1"),
    );
    add(
        &registry,
        PackageBuilder::new("b", "2.0.0").dependency("c", "^1"),
    );
    add(&registry, PackageBuilder::new("c", "1.1.0"));
    let counts = |name: &str| registry.requests(&FixtureRegistry::packument_path(name));
    let before = (counts("a"), counts("b"), counts("c"));

    let changed = manifest(json!({"dependencies": {"a": "^1", "b": "^2"}}));
    let graph = resolve(
        &changed,
        &options(&registry),
        Some(&lockfile),
        &client(&registry),
    )
    .await
    .unwrap();
    assert_eq!(direct(&graph, "a"), Some("a@1.0.0"));
    assert_eq!(direct(&graph, "b"), Some("b@2.0.0"));
    assert_eq!(
        graph.packages["b@2.0.0"].dependencies["c"], "c@1.0.0",
        "deduped with the locked c"
    );
    assert_eq!(
        (counts("a"), counts("b"), counts("c")),
        (before.0, before.1 + 1, before.2),
        "only b's packument is requested"
    );
}
