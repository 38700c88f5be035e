//! Resolution semantics against an in-memory source: versions, dedupe, aliases, platforms,
//! optional dependencies, peers, bundled dependencies, warnings, errors and determinism.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use sandboxpm_npm::DependencySection;
use sandboxpm_resolver::{EdgeKind, ResolveError, SkipReason, Warning, resolve};
use serde_json::json;
use support::*;

#[tokio::test]
async fn latest_tag_is_preferred_when_it_satisfies_the_range() {
    let source = MemorySource::new();
    for name in ["a", "b", "c", "d"] {
        source
            .simple(name, "1.0.0")
            .simple(name, "1.2.0")
            .simple(name, "2.0.0-beta.1")
            // Published last: `latest`, although 1.2.0 is higher.
            .simple(name, "1.1.0");
        source.tag(name, "next", "2.0.0-beta.1");
    }
    let project = manifest(json!({"dependencies": {
        "a": "^1", "b": "~1.2", "c": "next", "d": "1.0.0"
    }}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(direct(&graph, "a"), Some("a@1.1.0"), "latest satisfies ^1");
    assert_eq!(
        direct(&graph, "b"),
        Some("b@1.2.0"),
        "latest is outside ~1.2"
    );
    assert_eq!(direct(&graph, "c"), Some("c@2.0.0-beta.1"), "dist-tag");
    assert_eq!(direct(&graph, "d"), Some("d@1.0.0"), "exact version");
    assert_eq!(
        keys(&graph),
        ["a@1.1.0", "b@1.2.0", "c@2.0.0-beta.1", "d@1.0.0"]
    );
    let a = &graph.packages["a@1.1.0"];
    assert_eq!(a.tarball, format!("{REGISTRY}a/-/a-1.1.0.tgz"));
    assert!(a.integrity.as_ref().unwrap().sha512().is_some());
    assert_eq!(graph.root.dependencies["c"].specifier, "next");
}

#[tokio::test]
async fn no_matching_version_names_the_chain() {
    let source = MemorySource::new();
    source.publish("a", "1.0.0", json!({"dependencies": {"b": "^5"}}));
    source.simple("b", "1.0.0");
    let project = manifest(json!({"dependencies": {"a": "^1"}}));
    let error = resolve(&project, &options(), None, &source)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot resolve a@1.0.0 -> b@^5: no version of `b` matches `^5` (latest is 1.0.0)"
    );
    let missing_tag = manifest(json!({"dependencies": {"b": "canary"}}));
    let error = resolve(&missing_tag, &options(), None, &source)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot resolve b@canary: no version of `b` matches `canary` (latest is 1.0.0)"
    );
}

#[tokio::test]
async fn dedupe_reuses_a_version_already_chosen() {
    let source = MemorySource::new();
    source.simple("a", "1.1.0").simple("a", "1.2.0");
    source.publish("b", "1.0.0", json!({"dependencies": {"a": "^1.0.0"}}));
    source.publish("c", "1.0.0", json!({"dependencies": {"a": "^1.2.0"}}));
    let project = manifest(json!({"dependencies": {"a": "1.1.0", "b": "^1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["a@1.1.0", "b@1.0.0"]);
    assert_eq!(edge(&graph, "b@1.0.0", "a"), Some("a@1.1.0"));

    // A range the chosen version does not satisfy gets its own version.
    let project = manifest(json!({"dependencies": {"a": "1.1.0", "b": "^1", "c": "^1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["a@1.1.0", "a@1.2.0", "b@1.0.0", "c@1.0.0"]);
    assert_eq!(edge(&graph, "c@1.0.0", "a"), Some("a@1.2.0"));
}

#[tokio::test]
async fn diamond_with_incompatible_ranges_gives_two_versions() {
    let source = MemorySource::new();
    for version in ["1.0.0", "1.5.0", "2.0.0", "2.1.0"] {
        source.simple("shared", version);
    }
    source.publish("left", "1.0.0", json!({"dependencies": {"shared": "^1"}}));
    source.publish("right", "1.0.0", json!({"dependencies": {"shared": "^2"}}));
    source.publish(
        "top",
        "1.0.0",
        json!({"dependencies": {"left": "1", "right": "1"}}),
    );
    let project = manifest(json!({"dependencies": {"top": "*"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(
        keys(&graph),
        [
            "left@1.0.0",
            "right@1.0.0",
            "shared@1.5.0",
            "shared@2.1.0",
            "top@1.0.0"
        ]
    );
    assert_eq!(edge(&graph, "left@1.0.0", "shared"), Some("shared@1.5.0"));
    assert_eq!(edge(&graph, "right@1.0.0", "shared"), Some("shared@2.1.0"));
}

#[tokio::test]
async fn aliases_keep_the_edge_name() {
    let source = MemorySource::new();
    source.simple("bar", "1.0.0").simple("bar", "2.0.0");
    source.publish(
        "user",
        "1.0.0",
        json!({"dependencies": {"old-bar": "npm:bar@~1.0.0"}}),
    );
    let project = manifest(json!({"dependencies": {
        "foo": "npm:bar@^1", "bar": "^2", "user": "1"
    }}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(direct(&graph, "foo"), Some("bar@1.0.0"));
    assert_eq!(direct(&graph, "bar"), Some("bar@2.0.0"));
    assert_eq!(edge(&graph, "user@1.0.0", "old-bar"), Some("bar@1.0.0"));
    assert_eq!(graph.packages["bar@1.0.0"].name, "bar");
    assert_eq!(graph.root.dependencies["foo"].specifier, "npm:bar@^1");
    let names: Vec<String> = graph
        .direct_dependencies()
        .into_iter()
        .map(|d| format!("{}={}", d.name, d.package))
        .collect();
    assert_eq!(names, ["bar=bar@2.0.0", "foo=bar@1.0.0", "user=user@1.0.0"]);
}

/// An esbuild-like package: one binary package per platform, all optional.
fn publish_esbuild(source: &MemorySource) {
    let platforms = [
        ("linux-x64", "linux", "x64", Some("glibc")),
        ("linux-arm64", "linux", "arm64", Some("glibc")),
        ("darwin-arm64", "darwin", "arm64", None),
        ("darwin-x64", "darwin", "x64", None),
        ("win32-x64", "win32", "x64", None),
    ];
    let mut optional = serde_json::Map::new();
    for (suffix, os, cpu, libc) in platforms {
        let name = format!("@esbuild/{suffix}");
        let mut fields = json!({"os": [os], "cpu": [cpu]});
        if let Some(libc) = libc {
            fields["libc"] = json!([libc]);
        }
        source.publish(&name, "0.19.4", fields);
        optional.insert(name, json!("0.19.4"));
    }
    source.publish(
        "esbuild",
        "0.19.4",
        json!({
            "optionalDependencies": optional,
            "bin": {"esbuild": "bin/esbuild"},
            "scripts": {"postinstall": "node install.js"},
            "hasInstallScript": true,
        }),
    );
}

async fn esbuild_graph(platform: sandboxpm_npm::Platform) -> sandboxpm_resolver::Graph {
    let source = MemorySource::new();
    publish_esbuild(&source);
    let project = manifest(json!({"devDependencies": {"esbuild": "^0.19.0"}}));
    resolve(&project, &options_for(platform), None, &source)
        .await
        .unwrap()
}

fn installed_binaries(graph: &sandboxpm_resolver::Graph) -> Vec<&str> {
    keys(graph)
        .into_iter()
        .filter(|k| k.starts_with("@esbuild/"))
        .collect()
}

#[tokio::test]
async fn esbuild_keeps_only_the_linux_x64_glibc_binary() {
    let graph = esbuild_graph(linux_x64_glibc()).await;
    assert_eq!(installed_binaries(&graph), ["@esbuild/linux-x64@0.19.4"]);
    let esbuild = &graph.packages["esbuild@0.19.4"];
    assert_eq!(
        esbuild.optional_dependencies.keys().collect::<Vec<_>>(),
        ["@esbuild/linux-x64"]
    );
    assert_eq!(esbuild.lock_only_dependencies.len(), 4);
    assert!(esbuild.has_install_script);
    assert_eq!(esbuild.bin["esbuild"], "bin/esbuild");
    let binary = &graph.packages["@esbuild/linux-x64@0.19.4"];
    assert!(binary.optional && binary.dev);
    assert_eq!(
        (binary.os.as_slice(), binary.libc.as_slice()),
        (&["linux".to_owned()][..], &["glibc".to_owned()][..])
    );
    assert_eq!(graph.lock_only.len(), 4);
    let skipped: Vec<String> = graph
        .warnings
        .iter()
        .map(|w| match w {
            Warning::SkippedOptional {
                name,
                reason: SkipReason::Platform { .. },
                ..
            } => name.clone(),
            other => panic!("unexpected warning {other}"),
        })
        .collect();
    assert_eq!(
        skipped,
        [
            "@esbuild/darwin-arm64",
            "@esbuild/darwin-x64",
            "@esbuild/linux-arm64",
            "@esbuild/win32-x64"
        ]
    );
    assert_eq!(
        graph.warnings[0].to_string(),
        "skipped optional dependency `@esbuild/darwin-arm64` of esbuild@0.19.4: \
         @esbuild/darwin-arm64@0.19.4 does not support this platform \
         (os linux is not in the package's os list [darwin])"
    );
    // The lockfile keeps every platform, so it works on the other machines too.
    let lockfile = graph.to_lockfile(REGISTRY);
    assert_eq!(lockfile.packages.len(), 6);
    assert_eq!(
        lockfile.packages["esbuild@0.19.4"]
            .optional_dependencies
            .len(),
        5
    );
    assert!(lockfile.packages["@esbuild/win32-x64@0.19.4"].optional);
}

#[tokio::test]
async fn esbuild_keeps_only_the_darwin_arm64_binary() {
    let graph = esbuild_graph(darwin_arm64()).await;
    assert_eq!(installed_binaries(&graph), ["@esbuild/darwin-arm64@0.19.4"]);
    assert!(graph.lock_only.contains_key("@esbuild/linux-x64@0.19.4"));
    assert_eq!(graph.warnings.len(), 4);
    let linux = graph
        .warnings
        .iter()
        .map(ToString::to_string)
        .find(|w| w.contains("`@esbuild/linux-x64`"))
        .unwrap();
    assert!(
        linux.contains("os darwin is not in the package's os list [linux]"),
        "{linux}"
    );
}

#[tokio::test]
async fn musl_rejects_the_glibc_binary() {
    let graph = esbuild_graph(linux_x64_musl()).await;
    assert!(installed_binaries(&graph).is_empty());
    let linux = warnings(&graph)
        .into_iter()
        .find(|w| w.contains("`@esbuild/linux-x64`"))
        .unwrap();
    assert!(
        linux.contains("libc musl is not in the package's libc list [glibc]"),
        "{linux}"
    );
}

#[tokio::test]
async fn required_package_for_another_platform_is_an_error() {
    let source = MemorySource::new();
    source.publish("fsevents", "2.3.3", json!({"os": ["darwin"]}));
    source.publish(
        "watcher",
        "1.0.0",
        json!({"dependencies": {"fsevents": "^2"}}),
    );
    let project = manifest(json!({"dependencies": {"watcher": "1"}}));
    let error = resolve(&project, &options(), None, &source)
        .await
        .unwrap_err();
    assert!(matches!(error, ResolveError::UnsupportedPlatform { .. }));
    assert_eq!(
        error.to_string(),
        "fsevents@2.3.3 does not support this platform: os linux is not in the package's os \
         list [darwin] (required by watcher@1.0.0)"
    );
    // The same package as an optional dependency is skipped instead.
    source.publish(
        "watcher",
        "1.1.0",
        json!({"optionalDependencies": {"fsevents": "^2"}}),
    );
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["watcher@1.1.0"]);
    assert_eq!(
        graph.lock_only.keys().collect::<Vec<_>>(),
        ["fsevents@2.3.3"]
    );
}

#[tokio::test]
async fn optional_dependencies_that_fail_are_skipped_with_the_reason() {
    let source = MemorySource::new();
    source.publish("broken", "1.0.0", json!({"dependencies": {"gone": "^1"}}));
    source.publish(
        "a",
        "1.0.0",
        json!({"optionalDependencies": {"missing": "^1", "broken": "^1"}}),
    );
    let project = manifest(json!({
        "dependencies": {"a": "^1"},
        "optionalDependencies": {"nope": "^3"}
    }));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["a@1.0.0"]);
    assert!(graph.lock_only.is_empty(), "failed packages are not locked");
    assert_eq!(graph.root.optional_dependencies["nope"].package, None);
    let texts = warnings(&graph);
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert_eq!(
        texts[0],
        "skipped optional dependency `nope` of package.json: cannot resolve nope@^3: \
         the metadata of `nope` could not be fetched"
    );
    assert!(
        texts.contains(
            &"skipped optional dependency `missing` of a@1.0.0: cannot resolve a@1.0.0 -> \
              missing@^1: the metadata of `missing` could not be fetched"
                .to_owned()
        ),
        "{texts:#?}"
    );
    assert!(
        texts.contains(
            &"skipped optional dependency `broken` of a@1.0.0: cannot resolve a@1.0.0 -> \
              broken@1.0.0 -> gone@^1: the metadata of `gone` could not be fetched"
                .to_owned()
        ),
        "{texts:#?}"
    );
}

#[tokio::test]
async fn a_failure_under_an_optional_edge_is_fatal_when_also_required() {
    let source = MemorySource::new();
    source.publish("x", "1.0.0", json!({"dependencies": {"gone": "^1"}}));
    source.publish("a", "1.0.0", json!({"optionalDependencies": {"x": "^1"}}));
    source.publish("b", "1.0.0", json!({"dependencies": {"x": "^1"}}));
    let project = manifest(json!({"dependencies": {"a": "1", "b": "1"}}));
    let error = resolve(&project, &options(), None, &source)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot resolve a@1.0.0 -> x@1.0.0 -> gone@^1"),
        "{error}"
    );
}

fn publish_host_and_plugin(source: &MemorySource, peer_meta: serde_json::Value) {
    source
        .simple("host", "1.0.0")
        .simple("host", "2.0.0")
        .simple("host", "2.1.0");
    source.publish(
        "plugin",
        "1.0.0",
        json!({"peerDependencies": {"host": "^2"}, "peerDependenciesMeta": peer_meta}),
    );
}

#[tokio::test]
async fn missing_peers_are_auto_installed() {
    let source = MemorySource::new();
    publish_host_and_plugin(&source, json!({}));
    let project = manifest(json!({"dependencies": {"plugin": "^1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["host@2.1.0", "plugin@1.0.0"]);
    let plugin = &graph.packages["plugin@1.0.0"];
    assert_eq!(plugin.dependencies["host"], "host@2.1.0");
    assert_eq!(plugin.edge_kind("host"), EdgeKind::Peer { optional: false });
    assert!(graph.packages["host@2.1.0"].peer, "only there for the peer");
    assert!(!plugin.peer);
    assert!(graph.warnings.is_empty(), "{:?}", warnings(&graph));
}

#[tokio::test]
async fn a_peer_provided_by_the_parent_is_used() {
    let source = MemorySource::new();
    publish_host_and_plugin(&source, json!({}));
    let project = manifest(json!({"dependencies": {"plugin": "^1", "host": "2.0.0"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["host@2.0.0", "plugin@1.0.0"]);
    assert_eq!(edge(&graph, "plugin@1.0.0", "host"), Some("host@2.0.0"));
    assert!(!graph.packages["host@2.0.0"].peer);

    // From a grandparent too: app -> plugin, with host next to app.
    source.publish("app", "1.0.0", json!({"dependencies": {"plugin": "^1"}}));
    let project = manifest(json!({"dependencies": {"app": "1", "host": "2.0.0"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(edge(&graph, "plugin@1.0.0", "host"), Some("host@2.0.0"));
    assert!(!graph.packages.contains_key("host@2.1.0"));
}

#[tokio::test]
async fn a_peer_satisfied_by_a_version_in_the_graph_is_reused() {
    let source = MemorySource::new();
    publish_host_and_plugin(&source, json!({}));
    source.publish("a", "1.0.0", json!({"dependencies": {"host": "2.0.0"}}));
    let project = manifest(json!({"dependencies": {"a": "1", "plugin": "1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["a@1.0.0", "host@2.0.0", "plugin@1.0.0"]);
    assert_eq!(edge(&graph, "plugin@1.0.0", "host"), Some("host@2.0.0"));
}

#[tokio::test]
async fn a_peer_conflict_is_a_warning() {
    let source = MemorySource::new();
    publish_host_and_plugin(&source, json!({}));
    let project = manifest(json!({"dependencies": {"plugin": "^1", "host": "^1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["host@1.0.0", "plugin@1.0.0"]);
    assert_eq!(edge(&graph, "plugin@1.0.0", "host"), Some("host@1.0.0"));
    assert_eq!(
        warnings(&graph),
        ["plugin@1.0.0 wants peer host@^2 but is linked to host@1.0.0"]
    );
}

#[tokio::test]
async fn an_optional_peer_is_only_linked_when_provided() {
    let source = MemorySource::new();
    publish_host_and_plugin(&source, json!({"host": {"optional": true}}));
    let project = manifest(json!({"dependencies": {"plugin": "^1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["plugin@1.0.0"]);
    assert_eq!(
        source.requests("host"),
        0,
        "an optional peer is not even fetched"
    );
    assert!(graph.warnings.is_empty());

    let project = manifest(json!({"dependencies": {"plugin": "^1", "host": "2.0.0"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(edge(&graph, "plugin@1.0.0", "host"), Some("host@2.0.0"));
    assert_eq!(
        graph.packages["plugin@1.0.0"].edge_kind("host"),
        EdgeKind::Peer { optional: true }
    );
}

#[tokio::test]
async fn a_missing_peer_that_cannot_be_resolved_is_a_warning() {
    let source = MemorySource::new();
    source.publish(
        "plugin",
        "1.0.0",
        json!({"peerDependencies": {"ghost": "^1"}}),
    );
    let project = manifest(json!({"dependencies": {"plugin": "^1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["plugin@1.0.0"]);
    assert_eq!(
        warnings(&graph),
        [
            "plugin@1.0.0 wants peer ghost@^1, which could not be installed: cannot resolve \
          plugin@1.0.0 -> ghost@^1: the metadata of `ghost` could not be fetched"
        ]
    );
}

#[tokio::test]
async fn a_shared_package_with_different_peer_providers_warns() {
    let source = MemorySource::new();
    publish_host_and_plugin(&source, json!({}));
    source.publish(
        "x",
        "1.0.0",
        json!({"dependencies": {"host": "2.1.0", "plugin": "^1"}}),
    );
    let project = manifest(json!({"dependencies": {"host": "2.0.0", "plugin": "1", "x": "1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(edge(&graph, "plugin@1.0.0", "host"), Some("host@2.0.0"));
    assert_eq!(
        warnings(&graph),
        [
            "plugin@1.0.0 is shared, and its peer `host` is linked to host@2.0.0, although \
          x@1.0.0 provides host@2.1.0"
        ]
    );
}

#[tokio::test]
async fn bundled_dependencies_are_not_resolved() {
    let source = MemorySource::new();
    source.simple("other", "1.0.0");
    source.publish(
        "a",
        "1.0.0",
        json!({
            "dependencies": {"inner": "^1", "other": "^1"},
            "bundleDependencies": ["inner"]
        }),
    );
    source.publish(
        "all",
        "1.0.0",
        json!({"dependencies": {"inner": "^1"}, "bundledDependencies": true}),
    );
    let project = manifest(json!({"dependencies": {"a": "1", "all": "1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["a@1.0.0", "all@1.0.0", "other@1.0.0"]);
    assert_eq!(graph.packages["a@1.0.0"].bundled_dependencies, ["inner"]);
    assert_eq!(graph.packages["all@1.0.0"].bundled_dependencies, ["inner"]);
    assert_eq!(
        graph.packages["a@1.0.0"]
            .dependencies
            .keys()
            .collect::<Vec<_>>(),
        ["other"]
    );
    assert_eq!(source.requests("inner"), 0);
}

#[tokio::test]
async fn deprecations_and_engines_are_warnings() {
    let source = MemorySource::new();
    source.publish(
        "old",
        "1.0.0",
        json!({"deprecated": "use new instead", "engines": {"node": ">=99"}}),
    );
    source.publish("quiet", "1.0.0", json!({"engines": {"node": ">=18"}}));
    let project = manifest(json!({"dependencies": {"old": "1", "quiet": "1"}}));
    let mut opts = options();
    opts.node_version = node("20.11.0").into();
    let graph = resolve(&project, &opts, None, &source).await.unwrap();
    assert_eq!(
        warnings(&graph),
        [
            "old@1.0.0 is deprecated: use new instead",
            "old@1.0.0 requires node >=99, but node is 20.11.0"
        ]
    );
    assert_eq!(
        graph.packages["old@1.0.0"].deprecated.as_deref(),
        Some("use new instead")
    );
    assert_eq!(graph.packages["quiet@1.0.0"].engines["node"], ">=18");
    // Without a node version there is nothing to compare.
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(
        warnings(&graph),
        ["old@1.0.0 is deprecated: use new instead"]
    );
}

#[tokio::test]
async fn unsupported_specs_name_the_dependent_and_the_spec() {
    let source = MemorySource::new();
    source.publish(
        "a",
        "1.0.0",
        json!({"dependencies": {"lib": "github:someone/lib"}}),
    );
    let project = manifest(json!({"dependencies": {"a": "1"}}));
    let error = resolve(&project, &options(), None, &source)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "a@1.0.0 depends on `lib` through the git spec `github:someone/lib` \
         (a@1.0.0 -> lib@github:someone/lib); sandboxpm only installs packages from the registry"
    );
    for (spec, kind) in [
        ("file:../local", "file"),
        ("link:../local", "link"),
        ("https://example.invalid/x.tgz", "URL"),
    ] {
        let project = manifest(json!({"dependencies": {"local": spec}}));
        let error = resolve(&project, &options(), None, &source)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "package.json depends on `local` through the {kind} spec `{spec}` \
                 (local@{spec}); sandboxpm only installs packages from the registry"
            )
        );
    }
}

#[tokio::test]
async fn dev_flags_and_omit_dev() {
    let source = MemorySource::new();
    source.simple("shared", "1.0.0").simple("tool-dep", "1.0.0");
    source.publish("a", "1.0.0", json!({"dependencies": {"shared": "1"}}));
    source.publish(
        "tool",
        "1.0.0",
        json!({"dependencies": {"shared": "1", "tool-dep": "1"}}),
    );
    let project = manifest(json!({
        "dependencies": {"a": "1"},
        "devDependencies": {"tool": "1", "a": "1"}
    }));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    let dev: Vec<&str> = graph
        .packages
        .iter()
        .filter(|(_, p)| p.dev)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(dev, ["tool-dep@1.0.0", "tool@1.0.0"]);
    assert!(!graph.packages["a@1.0.0"].dev, "prod wins over dev");
    let direct = graph.direct_dependencies();
    assert_eq!(direct[0].section, DependencySection::Dependencies);

    let mut prod = options();
    prod.include_dev = false;
    let graph = resolve(&project, &prod, None, &source).await.unwrap();
    assert_eq!(keys(&graph), ["a@1.0.0", "shared@1.0.0"]);
    assert_eq!(
        graph.lock_only.keys().collect::<Vec<_>>(),
        ["tool-dep@1.0.0", "tool@1.0.0"]
    );
    assert!(graph.lock_only["tool@1.0.0"].dev);
    assert_eq!(
        graph
            .direct_dependencies()
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    let lockfile = graph.to_lockfile(REGISTRY);
    assert!(lockfile.packages["tool@1.0.0"].dev);
    assert_eq!(lockfile.packages.len(), 4);
}

#[tokio::test]
async fn cycles_resolve() {
    let source = MemorySource::new();
    source.publish("a", "1.0.0", json!({"dependencies": {"b": "1"}}));
    source.publish("b", "1.0.0", json!({"dependencies": {"a": "1"}}));
    let project = manifest(json!({"dependencies": {"a": "1"}}));
    let graph = resolve(&project, &options(), None, &source).await.unwrap();
    assert_eq!(edge(&graph, "a@1.0.0", "b"), Some("b@1.0.0"));
    assert_eq!(edge(&graph, "b@1.0.0", "a"), Some("a@1.0.0"));
}

/// A graph with every feature that involves a choice: dedupe, diamonds, aliases, peers,
/// optional platform packages, dist-tags.
fn publish_busy_graph(source: &MemorySource) {
    publish_esbuild(source);
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        source.simple("util", version);
    }
    source.simple("react", "17.0.2").simple("react", "18.2.0");
    source.publish(
        "react-dom",
        "18.2.0",
        json!({"peerDependencies": {"react": "^18.2.0"}, "dependencies": {"scheduler": "^0.23"}}),
    );
    source.simple("scheduler", "0.23.0");
    source.publish(
        "ui",
        "3.0.0",
        json!({
            "peerDependencies": {"react": ">=17", "react-dom": ">=17"},
            "dependencies": {"util": "^1", "icons": "^1"}
        }),
    );
    source.publish(
        "icons",
        "1.0.0",
        json!({"peerDependencies": {"react": "*"}}),
    );
    for i in 0..6 {
        source.publish(
            &format!("lib{i}"),
            "1.0.0",
            json!({"dependencies": {
                "util": if i % 2 == 0 { "^1.0.0" } else { "^2" },
                format!("lib{}", (i + 1) % 6): "1",
                "u": "npm:util@1.0.0"
            }}),
        );
    }
}

#[tokio::test]
async fn the_graph_does_not_depend_on_fetch_order() {
    let project = manifest(json!({
        "dependencies": {"ui": "^3", "lib0": "1", "lib3": "1", "react-dom": "18"},
        "devDependencies": {"esbuild": "0.19"}
    }));
    let mut snapshots = Vec::new();
    let mut orders = Vec::new();
    for seed in [1, 7, 42, 1234, 99_991, 31_337] {
        let source = MemorySource::new();
        publish_busy_graph(&source);
        source.random_delays(seed);
        let mut opts = options();
        opts.concurrency = 8;
        let graph = resolve(&project, &opts, None, &source).await.unwrap();
        snapshots.push((
            graph.packages.clone(),
            graph.lock_only.clone(),
            graph.root.clone(),
            warnings(&graph),
            graph.to_lockfile(REGISTRY).to_text(),
        ));
        orders.push(source.completion_order());
    }
    assert!(
        orders.iter().any(|order| *order != orders[0]),
        "the delays should shuffle the arrival order"
    );
    for snapshot in &snapshots[1..] {
        assert!(*snapshot == snapshots[0], "graphs differ between runs");
    }
    let (packages, ..) = &snapshots[0];
    assert!(packages.contains_key("react@18.2.0"));
    assert!(!packages.contains_key("react@17.0.2"));
    assert_eq!(packages["ui@3.0.0"].dependencies["react"], "react@18.2.0");
    assert_eq!(
        packages["ui@3.0.0"].dependencies["react-dom"],
        "react-dom@18.2.0"
    );
    assert_eq!(packages["lib1@1.0.0"].dependencies["util"], "util@2.0.0");
    assert_eq!(packages["lib0@1.0.0"].dependencies["u"], "util@1.0.0");
}

#[tokio::test]
async fn fetches_run_concurrently_within_the_limit() {
    let source = MemorySource::new();
    let mut deps = serde_json::Map::new();
    for i in 0..8 {
        source.simple(&format!("p{i}"), "1.0.0");
        deps.insert(format!("p{i}"), json!("1"));
    }
    source.fixed_delay(Duration::from_millis(20));
    let project = manifest(json!({ "dependencies": deps }));
    let mut opts = options();
    opts.concurrency = 3;
    let graph = resolve(&project, &opts, None, &source).await.unwrap();
    assert_eq!(graph.packages.len(), 8);
    assert_eq!(source.max_in_flight(), 3);
    assert_eq!(
        source.total_requests(),
        8,
        "each packument is asked for once"
    );
}
