//! Reading `package.json`: the fields sandboxpm acts on, normalised the way npm does.
//!
//! The same type reads the user's project manifest and the manifests inside downloaded tarballs,
//! so strictness is chosen per field. Fields whose meaning we would otherwise guess (name, version,
//! the dependency maps) are errors when malformed, naming the file and the JSON path. Fields npm
//! itself silently drops when malformed (a non-string script, a `bin` that is a number, an `engines`
//! array from 2011) are dropped here too, so that we install what npm installs and run no script
//! npm would not run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::manifest_path::{ManifestPath, ManifestPathError, normalize_manifest_path};

/// A dependency section of `package.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DependencySection {
    /// `dependencies`
    Dependencies,
    /// `devDependencies`
    DevDependencies,
    /// `optionalDependencies`
    OptionalDependencies,
    /// `peerDependencies`
    PeerDependencies,
}

impl DependencySection {
    /// Every section, in the order npm lists them.
    pub const ALL: [DependencySection; 4] = [
        DependencySection::Dependencies,
        DependencySection::DevDependencies,
        DependencySection::OptionalDependencies,
        DependencySection::PeerDependencies,
    ];

    /// The JSON key of the section.
    pub fn key(self) -> &'static str {
        match self {
            DependencySection::Dependencies => "dependencies",
            DependencySection::DevDependencies => "devDependencies",
            DependencySection::OptionalDependencies => "optionalDependencies",
            DependencySection::PeerDependencies => "peerDependencies",
        }
    }
}

impl std::fmt::Display for DependencySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// A `package.json` that could not be read, parsed or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: invalid JSON", path.display())]
    Syntax {
        /// The manifest.
        path: PathBuf,
        /// Where and why parsing failed.
        #[source]
        source: serde_json::Error,
    },
    /// A field has the wrong shape.
    #[error("{}: {field}: {message}", path.display())]
    Field {
        /// The manifest.
        path: PathBuf,
        /// The JSON path of the field, like `dependencies.react`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What `bundleDependencies` (or `bundledDependencies`) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BundledDependencies {
    /// Nothing is bundled.
    #[default]
    None,
    /// `true`: every dependency is bundled.
    All,
    /// These dependencies are bundled.
    Names(Vec<String>),
}

/// `peerDependenciesMeta.<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerDependencyMeta {
    /// The peer may be absent.
    pub optional: bool,
}

/// A lifecycle event that runs when a package is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstallEvent {
    /// `preinstall`
    Preinstall,
    /// `install` (also the implicit `node-gyp rebuild`)
    Install,
    /// `postinstall`
    Postinstall,
}

impl InstallEvent {
    /// The script name.
    pub fn name(self) -> &'static str {
        match self {
            InstallEvent::Preinstall => "preinstall",
            InstallEvent::Install => "install",
            InstallEvent::Postinstall => "postinstall",
        }
    }
}

/// The implicit install script npm adds for a package with a `binding.gyp`.
pub const IMPLICIT_GYP_SCRIPT: &str = "node-gyp rebuild";

/// The fields of a `package.json` that sandboxpm reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageJson {
    /// `name`
    pub name: Option<String>,
    /// `version`, as written.
    pub version: Option<String>,
    /// `dependencies`
    pub dependencies: BTreeMap<String, String>,
    /// `devDependencies`
    pub dev_dependencies: BTreeMap<String, String>,
    /// `optionalDependencies`
    pub optional_dependencies: BTreeMap<String, String>,
    /// `peerDependencies`
    pub peer_dependencies: BTreeMap<String, String>,
    /// `peerDependenciesMeta`
    pub peer_dependencies_meta: BTreeMap<String, PeerDependencyMeta>,
    /// `bundleDependencies` / `bundledDependencies`
    pub bundled_dependencies: BundledDependencies,
    /// `scripts` (non-string entries dropped, as npm does)
    pub scripts: BTreeMap<String, String>,
    /// `bin`, normalised: command name -> path as written. A string `bin` is named after the
    /// unscoped package name; command names are reduced to their last path segment.
    pub bin: BTreeMap<String, String>,
    /// `directories.bin`, as written (used only when `bin` is absent).
    pub directories_bin: Option<String>,
    /// `os`
    pub os: Vec<String>,
    /// `cpu`
    pub cpu: Vec<String>,
    /// `libc`
    pub libc: Vec<String>,
    /// `engines`
    pub engines: BTreeMap<String, String>,
    /// `gypfile`
    pub gypfile: Option<bool>,
}

impl PackageJson {
    /// Reads and parses the manifest at `path`.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_slice(&bytes, path)
    }

    /// Parses manifest bytes; `origin` names the manifest in errors (a path, or a label such as
    /// `react@18.2.0/package.json` for a tarball entry).
    pub fn from_slice(bytes: &[u8], origin: &Path) -> Result<Self, ManifestError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|source| ManifestError::Syntax {
                path: origin.to_owned(),
                source,
            })?;
        Self::from_value(&value, origin)
    }

    /// Reads the fields from an already parsed manifest.
    pub fn from_value(value: &Value, origin: &Path) -> Result<Self, ManifestError> {
        let fields = Fields { origin };
        let Value::Object(root) = value else {
            return Err(fields.error(
                "(root)",
                format!("expected an object, found {}", kind(value)),
            ));
        };
        let name = fields.optional_string(root, "name")?;
        let bin = normalize_bin(root.get("bin"), name.as_deref());
        Ok(PackageJson {
            name,
            bin,
            version: fields.optional_string(root, "version")?,
            dependencies: fields.dependency_map(root, DependencySection::Dependencies)?,
            dev_dependencies: fields.dependency_map(root, DependencySection::DevDependencies)?,
            optional_dependencies: fields
                .dependency_map(root, DependencySection::OptionalDependencies)?,
            peer_dependencies: fields.dependency_map(root, DependencySection::PeerDependencies)?,
            peer_dependencies_meta: peer_meta(root.get("peerDependenciesMeta")),
            bundled_dependencies: bundled(root),
            scripts: string_entries(root.get("scripts")),
            directories_bin: root
                .get("directories")
                .and_then(|d| d.get("bin"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            os: string_list(root.get("os")),
            cpu: string_list(root.get("cpu")),
            libc: string_list(root.get("libc")),
            engines: string_entries(root.get("engines")),
            gypfile: root.get("gypfile").and_then(Value::as_bool),
        })
    }

    /// The dependencies declared in `section`.
    pub fn section(&self, section: DependencySection) -> &BTreeMap<String, String> {
        match section {
            DependencySection::Dependencies => &self.dependencies,
            DependencySection::DevDependencies => &self.dev_dependencies,
            DependencySection::OptionalDependencies => &self.optional_dependencies,
            DependencySection::PeerDependencies => &self.peer_dependencies,
        }
    }

    /// The `bin` entries with their paths made safe: each target must stay inside the package.
    pub fn bins(&self) -> Result<BTreeMap<String, ManifestPath>, ManifestPathError> {
        self.bin
            .iter()
            .map(|(name, target)| {
                let path = normalize_manifest_path(target)
                    .map_err(|e| e.in_field(format!("bin.{name}")))?;
                if path.is_root() {
                    return Err(ManifestPathError::NotAFile {
                        field: format!("bin.{name}"),
                        path: target.clone(),
                    });
                }
                Ok((name.clone(), path))
            })
            .collect()
    }

    /// `directories.bin` made safe, when `bin` is absent (npm ignores it otherwise).
    pub fn bin_directory(&self) -> Result<Option<ManifestPath>, ManifestPathError> {
        if !self.bin.is_empty() {
            return Ok(None);
        }
        self.directories_bin
            .as_deref()
            .map(|dir| {
                normalize_manifest_path(dir).map_err(|e| e.in_field("directories.bin".to_owned()))
            })
            .transpose()
    }

    /// The install-time lifecycle scripts in the order npm runs them, including the implicit
    /// `node-gyp rebuild` npm adds when the package has a `binding.gyp`, no `install` or
    /// `preinstall` script, and `gypfile` is not `false`.
    pub fn install_scripts(&self, has_binding_gyp: bool) -> Vec<(InstallEvent, String)> {
        let implicit_gyp = has_binding_gyp
            && self.gypfile != Some(false)
            && !self.scripts.contains_key("install")
            && !self.scripts.contains_key("preinstall");
        let mut scripts = Vec::new();
        for event in [
            InstallEvent::Preinstall,
            InstallEvent::Install,
            InstallEvent::Postinstall,
        ] {
            if let Some(script) = self.scripts.get(event.name()) {
                scripts.push((event, script.clone()));
            } else if event == InstallEvent::Install && implicit_gyp {
                scripts.push((event, IMPLICIT_GYP_SCRIPT.to_owned()));
            }
        }
        scripts
    }

    /// Whether installing the package runs any script (see [`PackageJson::install_scripts`]).
    pub fn has_install_script(&self, has_binding_gyp: bool) -> bool {
        !self.install_scripts(has_binding_gyp).is_empty()
    }
}

struct Fields<'a> {
    origin: &'a Path,
}

impl Fields<'_> {
    fn error(&self, field: &str, message: String) -> ManifestError {
        ManifestError::Field {
            path: self.origin.to_owned(),
            field: field.to_owned(),
            message,
        }
    }

    fn optional_string(
        &self,
        root: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<String>, ManifestError> {
        match root.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => {
                Err(self.error(key, format!("expected a string, found {}", kind(other))))
            }
        }
    }

    fn dependency_map(
        &self,
        root: &Map<String, Value>,
        section: DependencySection,
    ) -> Result<BTreeMap<String, String>, ManifestError> {
        let key = section.key();
        match root.get(key) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(name, spec)| match spec {
                    Value::String(spec) => Ok((name.clone(), spec.clone())),
                    other => Err(self.error(
                        &format!("{key}.{name}"),
                        format!("expected a version string, found {}", kind(other)),
                    )),
                })
                .collect(),
            Some(other) => {
                Err(self.error(key, format!("expected an object, found {}", kind(other))))
            }
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_entries(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn peer_meta(value: Option<&Value>) -> BTreeMap<String, PeerDependencyMeta> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(name, meta)| {
                    let optional = meta
                        .get("optional")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    (name.clone(), PeerDependencyMeta { optional })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn bundled(root: &Map<String, Value>) -> BundledDependencies {
    // npm renames `bundledDependencies` to `bundleDependencies` unless the latter is present.
    let value = root
        .get("bundleDependencies")
        .or_else(|| root.get("bundledDependencies"));
    match value {
        Some(Value::Bool(true)) => BundledDependencies::All,
        Some(Value::Array(items)) => {
            let names: Vec<String> = items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                BundledDependencies::None
            } else {
                BundledDependencies::Names(names)
            }
        }
        _ => BundledDependencies::None,
    }
}

/// The command name npm derives from a `bin` key: its last segment after `/`, `\` or `:`.
fn bin_command_name(key: &str) -> Option<String> {
    let last = key.rsplit(['/', '\\', ':']).next().unwrap_or_default();
    (!matches!(last, "" | "." | "..")).then(|| last.to_owned())
}

fn normalize_bin(value: Option<&Value>, package_name: Option<&str>) -> BTreeMap<String, String> {
    match value {
        Some(Value::String(target)) => package_name
            .and_then(|name| bin_command_name(name.rsplit('/').next().unwrap_or(name)))
            .map(|name| BTreeMap::from([(name, target.clone())]))
            .unwrap_or_default(),
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(key, target)| Some((bin_command_name(key)?, target.as_str()?.to_owned())))
            .filter(|(_, target)| !target.is_empty())
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse(text: &str) -> Result<PackageJson, ManifestError> {
        PackageJson::from_slice(text.as_bytes(), Path::new("pkg/package.json"))
    }

    #[test]
    fn reads_all_fields() {
        let m = parse(
            r#"{
              "name": "@scope/tool", "version": "1.0.0",
              "dependencies": {"a": "^1"}, "devDependencies": {"b": "~2"},
              "optionalDependencies": {"c": "3"}, "peerDependencies": {"react": ">=17"},
              "peerDependenciesMeta": {"react": {"optional": true}},
              "bundledDependencies": ["a"],
              "scripts": {"postinstall": "node x.js", "bad": 1},
              "bin": "cli.js", "directories": {"bin": "bin"},
              "os": ["linux", "!win32"], "cpu": "x64", "libc": ["glibc"],
              "engines": {"node": ">=18"}, "gypfile": false
            }"#,
        )
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("@scope/tool"));
        assert_eq!(m.dependencies["a"], "^1");
        assert_eq!(m.dev_dependencies["b"], "~2");
        assert_eq!(m.optional_dependencies["c"], "3");
        assert!(m.peer_dependencies_meta["react"].optional);
        assert_eq!(
            m.bundled_dependencies,
            BundledDependencies::Names(vec!["a".into()])
        );
        assert_eq!(m.scripts.len(), 1);
        assert_eq!(m.bin["tool"], "cli.js");
        assert_eq!(m.os, ["linux", "!win32"]);
        assert_eq!(m.cpu, ["x64"]);
        assert_eq!(m.engines["node"], ">=18");
        assert_eq!(m.gypfile, Some(false));
        assert_eq!(
            m.bin_directory().unwrap(),
            None,
            "bin wins over directories.bin"
        );
    }

    #[test]
    fn bin_map_names_are_reduced_to_a_file_name() {
        let m = parse(r#"{"name":"x","bin":{"../../evil":"a.js","ok":"b.js","..":"c.js","n":5}}"#)
            .unwrap();
        assert_eq!(m.bin.keys().collect::<Vec<_>>(), ["evil", "ok"]);
    }

    #[test]
    fn bin_paths_escaping_the_package_are_rejected() {
        let m = parse(r#"{"name":"x","bin":{"x":"../../../etc/passwd"}}"#).unwrap();
        let err = m.bins().unwrap_err();
        assert_eq!(
            err.to_string(),
            "bin.x: path \"../../../etc/passwd\" escapes the package directory"
        );
        let m = parse(r#"{"name":"x","bin":{"x":"./bin//x.js"}}"#).unwrap();
        assert_eq!(m.bins().unwrap()["x"].as_str(), "bin/x.js");
    }

    #[test]
    fn errors_name_file_and_json_path() {
        let err = parse(r#"{"dependencies": {"react": 18}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pkg/package.json: dependencies.react: expected a version string, found a number"
        );
        let err = parse(r#"{"devDependencies": ["a"]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pkg/package.json: devDependencies: expected an object, found an array"
        );
        let err = parse(r#"{"name": 1}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pkg/package.json: name: expected a string, found a number"
        );
        let err = parse("[]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "pkg/package.json: (root): expected an object, found an array"
        );
        let err = parse("{").unwrap_err();
        assert_eq!(err.to_string(), "pkg/package.json: invalid JSON");
    }

    #[test]
    fn implicit_node_gyp_install_script() {
        let m = parse(r#"{"name":"native"}"#).unwrap();
        assert!(!m.has_install_script(false));
        assert_eq!(
            m.install_scripts(true),
            [(InstallEvent::Install, IMPLICIT_GYP_SCRIPT.to_owned())]
        );
        let m = parse(r#"{"name":"native","gypfile":false}"#).unwrap();
        assert!(!m.has_install_script(true));
        let m =
            parse(r#"{"name":"native","scripts":{"preinstall":"a","postinstall":"b"}}"#).unwrap();
        let events: Vec<_> = m
            .install_scripts(true)
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        assert_eq!(
            events,
            [InstallEvent::Preinstall, InstallEvent::Postinstall]
        );
    }

    #[test]
    fn bundle_dependencies_true_means_all() {
        let m = parse(r#"{"bundleDependencies": true, "bundledDependencies": ["x"]}"#).unwrap();
        assert_eq!(m.bundled_dependencies, BundledDependencies::All);
    }
}
