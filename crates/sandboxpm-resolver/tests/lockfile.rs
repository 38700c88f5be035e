//! Writing the graph to `sandboxpm-lock.json` and resolving from it: round trip, reuse without
//! requests, partial reuse, frozen mode, portability across platforms.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use sandboxpm_npm::Lockfile;
use sandboxpm_resolver::{Graph, ResolveError, resolve};
use serde_json::json;
use support::*;

fn publish_project_packages(source: &MemorySource) {
    source.simple("host", "2.0.0");
    source.publish(
        "plugin",
        "1.0.0",
        json!({"peerDependencies": {"host": "^2"}, "bin": "cli.js"}),
    );
    source.publish("a", "1.0.0", json!({"dependencies": {"c": "^1"}}));
    source.publish("b", "1.0.0", json!({"dependencies": {"c": "^1.0.0"}}));
    source.simple("c", "1.0.0");
    source.publish("d", "1.0.0", json!({"optionalDependencies": {"e": "^1"}}));
    source.publish("e", "1.0.0", json!({"cpu": ["x64"]}));
}

fn project() -> sandboxpm_npm::PackageJson {
    manifest(json!({
        "dependencies": {"a": "^1", "alias": "npm:b@^1", "plugin": "^1"},
        "devDependencies": {"d": "^1"},
        "peerDependencies": {"ignored": "^9"}
    }))
}

/// Text through the real parser, as `sandboxpm install` would read it back.
fn reparse(graph: &Graph) -> Lockfile {
    let text = graph.to_lockfile(REGISTRY).to_text();
    Lockfile::from_text(&text, Path::new("sandboxpm-lock.json")).unwrap()
}

#[tokio::test]
async fn lockfile_round_trip() {
    let source = MemorySource::new();
    publish_project_packages(&source);
    let graph = resolve(&project(), &options(), None, &source)
        .await
        .unwrap();
    let lockfile = reparse(&graph);
    let text = lockfile.to_text();
    assert!(
        !text.contains("127.0.0.1"),
        "no registry host in the lockfile"
    );
    assert_eq!(
        lockfile.packages["a@1.0.0"].resolved.as_deref(),
        Some("/a/-/a-1.0.0.tgz")
    );
    assert_eq!(
        lockfile.root().unwrap().peer_dependencies["ignored"].package,
        None
    );
    assert_eq!(
        lockfile.root().unwrap().dependencies["alias"]
            .package
            .as_deref(),
        Some("b@1.0.0")
    );
    assert!(lockfile.packages["host@2.0.0"].peer);
    assert!(lockfile.packages["e@1.0.0"].dev && lockfile.packages["e@1.0.0"].optional);
    assert_eq!(lockfile.packages["plugin@1.0.0"].bin["plugin"], "cli.js");

    let offline = MemorySource::new();
    let again = resolve(&project(), &options(), Some(&lockfile), &offline)
        .await
        .unwrap();
    assert_eq!(offline.total_requests(), 0);
    assert_eq!(
        again.packages, graph.packages,
        "same graph from the lockfile"
    );
    assert_eq!(again.root, graph.root);
    assert_eq!(again.to_lockfile(REGISTRY).to_text(), text, "same bytes");
}

#[tokio::test]
async fn a_lockfile_from_linux_installs_the_darwin_binary_without_requests() {
    let source = MemorySource::new();
    source.publish("bin-linux", "1.0.0", json!({"os": ["linux"]}));
    source.publish("bin-darwin", "1.0.0", json!({"os": ["darwin"]}));
    source.publish(
        "tool",
        "1.0.0",
        json!({"optionalDependencies": {"bin-linux": "1", "bin-darwin": "1"}}),
    );
    let project = manifest(json!({"dependencies": {"tool": "1"}}));
    let linux = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&linux), ["bin-linux@1.0.0", "tool@1.0.0"]);
    let lockfile = reparse(&linux);

    let offline = MemorySource::new();
    let mac = resolve(
        &project,
        &options_for(darwin_arm64()),
        Some(&lockfile),
        &offline,
    )
    .await
    .unwrap();
    assert_eq!(offline.total_requests(), 0);
    assert_eq!(keys(&mac), ["bin-darwin@1.0.0", "tool@1.0.0"]);
    assert_eq!(
        mac.packages["tool@1.0.0"]
            .lock_only_dependencies
            .keys()
            .collect::<Vec<_>>(),
        ["bin-linux"]
    );
    assert_eq!(mac.warnings.len(), 1);
    assert_eq!(
        reparse(&mac),
        lockfile,
        "the lockfile does not depend on the platform"
    );
}

#[tokio::test]
async fn partial_reuse_keeps_the_versions_of_unchanged_dependencies() {
    let source = MemorySource::new();
    publish_project_packages(&source);
    let graph = resolve(&project(), &options(), None, &source)
        .await
        .unwrap();
    let lockfile = reparse(&graph);

    // New releases that a fresh resolution would pick.
    source.simple("c", "1.1.0");
    source.publish("a", "1.1.0", json!({"dependencies": {"c": "^1"}}));
    source.publish("plugin", "2.0.0", json!({"dependencies": {"c": "^1.1.0"}}));
    source.simple("f", "1.0.0");
    let before = source.total_requests();

    let changed = manifest(json!({
        "dependencies": {"a": "^1", "alias": "npm:b@^1", "plugin": "^2", "f": "^1"},
        "devDependencies": {"d": "^1"},
        "peerDependencies": {"ignored": "^9"}
    }));
    let graph = resolve(&changed, &options(), Some(&lockfile), &source)
        .await
        .unwrap();
    assert_eq!(direct(&graph, "a"), Some("a@1.0.0"), "unchanged: kept");
    assert_eq!(
        direct(&graph, "plugin"),
        Some("plugin@2.0.0"),
        "changed: resolved"
    );
    assert_eq!(direct(&graph, "f"), Some("f@1.0.0"), "added: resolved");
    assert_eq!(edge(&graph, "a@1.0.0", "c"), Some("c@1.0.0"));
    assert_eq!(edge(&graph, "plugin@2.0.0", "c"), Some("c@1.1.0"));
    assert!(
        !graph.packages.contains_key("host@2.0.0"),
        "what only the old plugin needed is gone"
    );
    assert_eq!(
        source.requests("a") + source.requests("b"),
        2,
        "only the first run"
    );
    assert_eq!(
        source.total_requests() - before,
        3,
        "plugin, f and c (for ^1.1.0), nothing else"
    );

    // A changed spec that the locked version still satisfies keeps it, like pnpm.
    let narrowed = manifest(json!({"dependencies": {"a": "~1.0.0"}}));
    let graph = resolve(&narrowed, &options(), Some(&lockfile), &source)
        .await
        .unwrap();
    assert_eq!(direct(&graph, "a"), Some("a@1.0.0"));
}

#[tokio::test]
async fn frozen_lockfile_mismatch_names_the_dependency() {
    let source = MemorySource::new();
    publish_project_packages(&source);
    let graph = resolve(&project(), &options(), None, &source)
        .await
        .unwrap();
    let lockfile = reparse(&graph);
    let mut frozen = options();
    frozen.frozen = true;

    let agrees = resolve(&project(), &frozen, Some(&lockfile), &MemorySource::new())
        .await
        .unwrap();
    assert_eq!(agrees.packages, graph.packages);

    let changed = manifest(json!({
        "dependencies": {"a": "^2.0.0", "alias": "npm:b@^1", "plugin": "^1", "new": "1"},
        "peerDependencies": {"ignored": "^9"}
    }));
    let error = resolve(&changed, &frozen, Some(&lockfile), &source)
        .await
        .unwrap_err();
    assert!(matches!(error, ResolveError::Frozen(_)));
    assert_eq!(
        error.to_string(),
        "the lockfile is frozen (--frozen-lockfile) and cannot be updated: package.json and \
         sandboxpm-lock.json disagree:\n  \
         dependencies.a: package.json has \"^2.0.0\", the lockfile has \"^1\"\n  \
         dependencies.new: \"1\" is in package.json but not in the lockfile\n  \
         devDependencies.d: \"^1\" is in the lockfile but not in package.json"
    );

    let error = resolve(&project(), &frozen, None, &source)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the lockfile is frozen (--frozen-lockfile) but there is no sandboxpm-lock.json"
    );
}

#[tokio::test]
async fn an_inconsistent_lockfile_is_an_error() {
    let source = MemorySource::new();
    publish_project_packages(&source);
    let graph = resolve(&project(), &options(), None, &source)
        .await
        .unwrap();
    let mut lockfile = reparse(&graph);
    lockfile.packages.remove("c@1.0.0");
    let error = resolve(&project(), &options(), Some(&lockfile), &source)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "sandboxpm-lock.json is inconsistent: a@1.0.0: depends on c@1.0.0, which the lockfile \
         does not list"
    );
}
