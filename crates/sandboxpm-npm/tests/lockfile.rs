//! Snapshot tests of the lockfile text, and the rules for reading it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use sandboxpm_npm::{
    DependencySection, Importer, ImporterDependency, ImporterMismatch, Integrity, LockedPackage,
    LockedPeerMeta, Lockfile, LockfileError, PackageJson, Version, absolute_tarball_url,
    package_key, relative_tarball_url, split_package_key,
};

const REGISTRY: &str = "http://127.0.0.1:4873/";
const SHA512: &str = "sha512-z6FXYHDJlFOzVEhuoCn1aBAGOHEXxo7Lmos/IfGJsK+F5WiuoyoLLhtdyOkMbQE8U4VTt9LPa8d/u/BHnJeKNA==";

fn version(text: &str) -> Version {
    Version::parse(text).unwrap()
}

fn sample() -> Lockfile {
    let mut lock = Lockfile::default();
    let mut root = Importer::default();
    // Inserted out of order on purpose: the output must be sorted anyway.
    root.section_mut(DependencySection::Dependencies).insert(
        "react".into(),
        ImporterDependency {
            specifier: "^18.2.0".into(),
            package: Some("react@18.2.0".into()),
        },
    );
    root.section_mut(DependencySection::DevDependencies).insert(
        "esbuild".into(),
        ImporterDependency {
            specifier: "~0.19.4".into(),
            package: Some("esbuild@0.19.4".into()),
        },
    );
    lock.importers.insert(".".into(), root);

    let mut react = LockedPackage::new(version("18.2.0"));
    react.resolved = Some(relative_tarball_url(
        &format!("{REGISTRY}react/-/react-18.2.0.tgz"),
        REGISTRY,
    ));
    react.integrity = Some(Integrity::parse(SHA512).unwrap());
    react
        .dependencies
        .insert("loose-envify".into(), "loose-envify@1.4.0".into());
    lock.packages
        .insert(package_key("react", &react.version), react);

    let mut envify = LockedPackage::new(version("1.4.0"));
    envify.bin = BTreeMap::from([("loose-envify".into(), "cli.js".into())]);
    envify
        .peer_dependencies
        .insert("react".into(), ">=16".into());
    envify
        .peer_dependencies_meta
        .insert("react".into(), LockedPeerMeta { optional: true });
    lock.packages.insert("loose-envify@1.4.0".into(), envify);

    let mut esbuild = LockedPackage::new(version("0.19.4"));
    esbuild.dev = true;
    esbuild.has_install_script = true;
    esbuild.deprecated = Some("use a newer version".into());
    esbuild.optional_dependencies.insert(
        "@esbuild/linux-x64".into(),
        "@esbuild/linux-x64@0.19.4".into(),
    );
    lock.packages.insert("esbuild@0.19.4".into(), esbuild);

    let mut native = LockedPackage::new(version("0.19.4"));
    native.optional = true;
    native.dev = true;
    native.os = vec!["linux".into()];
    native.cpu = vec!["x64".into()];
    native.libc = vec!["glibc".into()];
    native.resolved = Some("https://elsewhere.invalid/x.tgz".into());
    lock.packages
        .insert("@esbuild/linux-x64@0.19.4".into(), native);
    lock
}

const SAMPLE_TEXT: &str = r#"{
  "importers": {
    ".": {
      "dependencies": {
        "react": {
          "package": "react@18.2.0",
          "specifier": "^18.2.0"
        }
      },
      "devDependencies": {
        "esbuild": {
          "package": "esbuild@0.19.4",
          "specifier": "~0.19.4"
        }
      }
    }
  },
  "lockfileVersion": 1,
  "packages": {
    "@esbuild/linux-x64@0.19.4": {
      "cpu": [
        "x64"
      ],
      "dev": true,
      "libc": [
        "glibc"
      ],
      "optional": true,
      "os": [
        "linux"
      ],
      "resolved": "https://elsewhere.invalid/x.tgz",
      "version": "0.19.4"
    },
    "esbuild@0.19.4": {
      "deprecated": "use a newer version",
      "dev": true,
      "hasInstallScript": true,
      "optionalDependencies": {
        "@esbuild/linux-x64": "@esbuild/linux-x64@0.19.4"
      },
      "version": "0.19.4"
    },
    "loose-envify@1.4.0": {
      "bin": {
        "loose-envify": "cli.js"
      },
      "peerDependencies": {
        "react": ">=16"
      },
      "peerDependenciesMeta": {
        "react": {
          "optional": true
        }
      },
      "version": "1.4.0"
    },
    "react@18.2.0": {
      "dependencies": {
        "loose-envify": "loose-envify@1.4.0"
      },
      "integrity": "sha512-z6FXYHDJlFOzVEhuoCn1aBAGOHEXxo7Lmos/IfGJsK+F5WiuoyoLLhtdyOkMbQE8U4VTt9LPa8d/u/BHnJeKNA==",
      "resolved": "/react/-/react-18.2.0.tgz",
      "version": "18.2.0"
    }
  }
}
"#;

#[test]
fn lockfile_text_snapshot() {
    assert_eq!(sample().to_text(), SAMPLE_TEXT);
}

#[test]
fn lockfile_round_trips_byte_for_byte() {
    let lock = Lockfile::from_text(SAMPLE_TEXT, Path::new("sandboxpm-lock.json")).unwrap();
    assert_eq!(lock, sample());
    assert_eq!(lock.to_text(), SAMPLE_TEXT);
}

#[test]
fn empty_lockfile_snapshot() {
    assert_eq!(
        Lockfile::default().to_text(),
        "{\n  \"importers\": {},\n  \"lockfileVersion\": 1,\n  \"packages\": {}\n}\n"
    );
}

#[test]
fn write_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandboxpm-lock.json");
    sample().write(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), SAMPLE_TEXT);
    assert_eq!(Lockfile::read(&path).unwrap(), sample());
}

#[test]
fn unknown_lockfile_version_is_rejected() {
    let err = Lockfile::from_text(
        r#"{"lockfileVersion": 2, "packages": {"x": 1}}"#,
        Path::new("/p/sandboxpm-lock.json"),
    )
    .unwrap_err();
    assert!(matches!(err, LockfileError::UnsupportedVersion { .. }));
    assert_eq!(
        err.to_string(),
        "/p/sandboxpm-lock.json: lockfileVersion 2 is not supported (this sandboxpm reads version 1)"
    );
    let err = Lockfile::from_text(r#"{"lockfileVersion": "1"}"#, Path::new("l.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "l.json: lockfileVersion \"1\" is not supported (this sandboxpm reads version 1)"
    );
    let err = Lockfile::from_text(r#"{"packages": {}}"#, Path::new("l.json")).unwrap_err();
    assert_eq!(err.to_string(), "l.json: lockfileVersion is missing");
}

#[test]
fn unknown_fields_and_bad_values_are_errors() {
    let err = Lockfile::from_text(
        r#"{"lockfileVersion": 1, "extra": true}"#,
        Path::new("l.json"),
    )
    .unwrap_err();
    let LockfileError::Parse { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        source.to_string().contains("unknown field `extra`"),
        "{source}"
    );
    let bad_integrity = r#"{"lockfileVersion": 1, "packages": {"a@1.0.0": {"version": "1.0.0", "integrity": "sha512-xx"}}}"#;
    assert!(Lockfile::from_text(bad_integrity, Path::new("l.json")).is_err());
    let bad_version = r#"{"lockfileVersion": 1, "packages": {"a@1": {"version": "1"}}}"#;
    assert!(Lockfile::from_text(bad_version, Path::new("l.json")).is_err());
}

#[test]
fn tarball_urls_are_relative_to_the_registry() {
    let url = format!("{REGISTRY}@types/node/-/node-20.1.0.tgz");
    let rel = relative_tarball_url(&url, REGISTRY);
    assert_eq!(rel, "/@types/node/-/node-20.1.0.tgz");
    assert_eq!(absolute_tarball_url(&rel, REGISTRY), url);
    // A registry configured without the trailing slash, and one with a path.
    assert_eq!(relative_tarball_url(&url, "http://127.0.0.1:4873"), rel);
    let mirror = "http://127.0.0.1:9/api/npm/";
    assert_eq!(
        absolute_tarball_url(&rel, mirror),
        "http://127.0.0.1:9/api/npm/@types/node/-/node-20.1.0.tgz"
    );
    // Tarballs elsewhere keep their full URL both ways.
    let other = "http://127.0.0.2:4873/x/-/x-1.0.0.tgz";
    assert_eq!(relative_tarball_url(other, REGISTRY), other);
    assert_eq!(absolute_tarball_url(other, REGISTRY), other);
    // A prefix that is not a path boundary is not "under" the registry.
    assert_eq!(
        relative_tarball_url("http://127.0.0.1:48730/x.tgz", "http://127.0.0.1:4873"),
        "http://127.0.0.1:48730/x.tgz"
    );
}

#[test]
fn package_keys() {
    assert_eq!(split_package_key("react@18.2.0"), Some(("react", "18.2.0")));
    assert_eq!(
        split_package_key("@types/node@20.1.0"),
        Some(("@types/node", "20.1.0"))
    );
    assert_eq!(split_package_key("@types/node"), None);
    assert_eq!(split_package_key("x"), None);
}

fn manifest(json: &str) -> PackageJson {
    PackageJson::from_slice(json.as_bytes(), Path::new("package.json")).unwrap()
}

#[test]
fn frozen_lockfile_accepts_matching_manifest() {
    let m = manifest(
        r#"{"dependencies": {"react": "^18.2.0"}, "devDependencies": {"esbuild": "~0.19.4"}}"#,
    );
    sample().check_manifest(&m).unwrap();
}

#[test]
fn frozen_lockfile_reports_which_dependency_differs() {
    let m = manifest(
        r#"{"dependencies": {"react": "^18.3.0", "lodash": "^4"}, "optionalDependencies": {}}"#,
    );
    let err = sample().check_manifest(&m).unwrap_err();
    assert_eq!(
        err.mismatches,
        [
            ImporterMismatch::Added {
                section: DependencySection::Dependencies,
                name: "lodash".into(),
                specifier: "^4".into(),
            },
            ImporterMismatch::Changed {
                section: DependencySection::Dependencies,
                name: "react".into(),
                manifest: "^18.3.0".into(),
                lockfile: "^18.2.0".into(),
            },
            ImporterMismatch::Removed {
                section: DependencySection::DevDependencies,
                name: "esbuild".into(),
                specifier: "~0.19.4".into(),
            },
        ]
    );
    assert_eq!(
        err.to_string(),
        "package.json and sandboxpm-lock.json disagree:\n  \
         dependencies.lodash: \"^4\" is in package.json but not in the lockfile\n  \
         dependencies.react: package.json has \"^18.3.0\", the lockfile has \"^18.2.0\"\n  \
         devDependencies.esbuild: \"~0.19.4\" is in the lockfile but not in package.json"
    );
}

#[test]
fn frozen_lockfile_notices_a_section_move() {
    let m = manifest(r#"{"dependencies": {"react": "^18.2.0", "esbuild": "~0.19.4"}}"#);
    let err = sample().check_manifest(&m).unwrap_err();
    assert_eq!(err.mismatches.len(), 2, "{err}");
}
