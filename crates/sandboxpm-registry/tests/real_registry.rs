//! One request pair against the real registry configured on this machine.
//!
//! The registry URL comes from `npm config get registry` (never from this source), and no CA
//! file is passed: success proves the client trusts the system certificate store, which is
//! what machines behind TLS-intercepting proxies need.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sandboxpm_registry::{ClientOptions, RegistryClient};
use sandboxpm_test_support::sri_sha512;
use url::Url;

fn configured_registry() -> Option<Url> {
    let output = match Command::new("npm")
        .args(["config", "get", "registry"])
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            eprintln!("skipping real_registry_smoke: cannot run npm ({e})");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "npm config get registry failed: {output:?}"
    );
    let text = String::from_utf8(output.stdout).unwrap();
    Some(Url::parse(text.trim()).unwrap())
}

#[tokio::test]
async fn real_registry_smoke() {
    let Some(registry) = configured_registry() else {
        return;
    };
    let client = RegistryClient::new(ClientOptions::new(registry)).unwrap();
    let packument = client.packument("is-number").await.unwrap();
    assert_eq!(packument.name, "is-number");
    let latest = &packument.dist_tags["latest"];
    let dist = &packument.versions[latest].manifest().unwrap().dist;
    let integrity = dist.integrity.as_deref().unwrap();
    assert!(integrity.starts_with("sha512-"), "{integrity}");

    let bytes = client.tarball(&dist.tarball).await.unwrap();
    assert!(bytes.starts_with(&[0x1f, 0x8b]), "a gzip tarball");
    assert_eq!(sri_sha512(&bytes), integrity);
}
