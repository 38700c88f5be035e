//! Shared helpers: an in-memory packument source with request counting and optional random
//! delays, platforms, options and manifests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandboxpm_npm::{Libc, PackageJson, Platform, Version};
use sandboxpm_registry::Packument;
use sandboxpm_resolver::{Graph, PackumentSource, ResolveOptions};
use sandboxpm_test_support::sri_sha512;
use serde_json::{Value, json};

/// Where the in-memory packuments say their tarballs are (never contacted).
pub const REGISTRY: &str = "http://127.0.0.1:9/";

#[derive(Debug, Default)]
struct Published {
    versions: serde_json::Map<String, Value>,
    tags: BTreeMap<String, String>,
}

/// A 404 from the in-memory source.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "package `{}` not found (404)", self.0)
    }
}

impl std::error::Error for NotFound {}

/// Packuments built from JSON manifests, served from memory.
#[derive(Debug, Default)]
pub struct MemorySource {
    packages: Mutex<BTreeMap<String, Published>>,
    requests: Mutex<Vec<String>>,
    completions: Mutex<Vec<String>>,
    /// xorshift state; 0 means no delays.
    seed: Mutex<u64>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    fixed_delay: Mutex<Option<Duration>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes `name@version` with extra manifest fields; it becomes `latest` (like a real
    /// `npm publish`).
    pub fn publish(&self, name: &str, version: &str, fields: Value) -> &Self {
        let bare = name.rsplit('/').next().unwrap();
        let mut manifest = json!({
            "name": name,
            "version": version,
            "dist": {
                "tarball": format!("{REGISTRY}{name}/-/{bare}-{version}.tgz"),
                "integrity": sri_sha512(format!("{name}@{version}").as_bytes()),
            },
        });
        for (k, v) in fields.as_object().cloned().unwrap_or_default() {
            manifest[k] = v;
        }
        let mut packages = self.packages.lock().unwrap();
        let package = packages.entry(name.to_owned()).or_default();
        package.versions.insert(version.to_owned(), manifest);
        package.tags.insert("latest".into(), version.to_owned());
        drop(packages);
        self
    }

    /// Shorthand: publish with no extra fields.
    pub fn simple(&self, name: &str, version: &str) -> &Self {
        self.publish(name, version, json!({}))
    }

    pub fn tag(&self, name: &str, tag: &str, version: &str) {
        let mut packages = self.packages.lock().unwrap();
        packages
            .get_mut(name)
            .unwrap()
            .tags
            .insert(tag.into(), version.into());
    }

    /// Delay every answer by a pseudo-random 0..10 ms derived from `seed`.
    pub fn random_delays(&self, seed: u64) {
        *self.seed.lock().unwrap() = seed.max(1);
    }

    /// Delay every answer by `delay`.
    pub fn fixed_delay(&self, delay: Duration) {
        *self.fixed_delay.lock().unwrap() = Some(delay);
    }

    pub fn requests(&self, name: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|n| *n == name)
            .count()
    }

    pub fn total_requests(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn completion_order(&self) -> Vec<String> {
        self.completions.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    fn next_delay(&self) -> Option<Duration> {
        if let Some(delay) = *self.fixed_delay.lock().unwrap() {
            return Some(delay);
        }
        let mut seed = self.seed.lock().unwrap();
        if *seed == 0 {
            return None;
        }
        let mut x = *seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *seed = x;
        Some(Duration::from_micros(x % 10_000))
    }

    fn packument_now(&self, name: &str) -> Option<Packument> {
        let packages = self.packages.lock().unwrap();
        let package = packages.get(name)?;
        let doc = json!({
            "name": name,
            "dist-tags": package.tags,
            "versions": package.versions,
        });
        Some(serde_json::from_value(doc).unwrap())
    }
}

impl PackumentSource for MemorySource {
    type Error = NotFound;

    fn packument(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Arc<Packument>, NotFound>> + Send {
        let name = name.to_owned();
        async move {
            self.requests.lock().unwrap().push(name.clone());
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            if let Some(delay) = self.next_delay() {
                tokio::time::sleep(delay).await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.completions.lock().unwrap().push(name.clone());
            self.packument_now(&name)
                .map(Arc::new)
                .ok_or(NotFound(name))
        }
    }
}

pub fn linux_x64_glibc() -> Platform {
    Platform {
        os: "linux".into(),
        cpu: "x64".into(),
        libc: Some(Libc::Glibc),
    }
}

pub fn linux_x64_musl() -> Platform {
    Platform {
        os: "linux".into(),
        cpu: "x64".into(),
        libc: Some(Libc::Musl),
    }
}

pub fn darwin_arm64() -> Platform {
    Platform {
        os: "darwin".into(),
        cpu: "arm64".into(),
        libc: None,
    }
}

pub fn options() -> ResolveOptions {
    ResolveOptions::new(linux_x64_glibc(), REGISTRY)
}

pub fn options_for(platform: Platform) -> ResolveOptions {
    ResolveOptions::new(platform, REGISTRY)
}

pub fn node(version: &str) -> Option<Version> {
    Some(Version::parse(version).unwrap())
}

pub fn manifest(value: Value) -> PackageJson {
    PackageJson::from_value(&value, Path::new("package.json")).unwrap()
}

/// The keys of the installed packages.
pub fn keys(graph: &Graph) -> Vec<&str> {
    graph.packages.keys().map(String::as_str).collect()
}

/// The package a direct dependency resolved to.
pub fn direct<'g>(graph: &'g Graph, name: &str) -> Option<&'g str> {
    graph
        .root
        .dependencies
        .get(name)
        .or_else(|| graph.root.dev_dependencies.get(name))
        .or_else(|| graph.root.optional_dependencies.get(name))
        .and_then(|d| d.package.as_deref())
}

/// The warnings as text.
pub fn warnings(graph: &Graph) -> Vec<String> {
    graph.warnings.iter().map(ToString::to_string).collect()
}

/// The edge `name` of package `key` (regular, peer or optional).
pub fn edge<'g>(graph: &'g Graph, key: &str, name: &str) -> Option<&'g str> {
    let package = graph.packages.get(key)?;
    package
        .dependencies
        .get(name)
        .or_else(|| package.optional_dependencies.get(name))
        .map(String::as_str)
}

/// The error and its sources, joined with ": ".
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
