//! `sandboxpm add` and `sandboxpm remove`: change package.json, then install.
//!
//! package.json is the user's file, so both commands treat it as such: the change goes through
//! [`ManifestEditor`] (key order, indentation, line endings and the final newline stay as they
//! were; the file is replaced atomically), and if the install that follows fails, package.json and
//! sandboxpm-lock.json are put back byte for byte. A failed `add` must not leave a dependency
//! declared that was never installed, nor a `remove` one that is still linked.
//!
//! `add` resolves every spec against the registry before touching anything, so a typo in a name
//! or a range that matches nothing is reported with package.json unchanged. What is saved follows
//! npm: a bare name or a dist-tag becomes `^<version>` (`latest` by default), as does an exact
//! version; a range is saved as written; `--save-exact` saves the resolved version in every case.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sandboxpm_config::{Config, LoadOptions, RegistryFallback};
use sandboxpm_npm::{
    DependencySection, LOCKFILE_NAME, ManifestEditor, PackageSpec, SpecSource, Version,
    VersionRequest,
};
use sandboxpm_registry::{Packument, RegistryClient};

use super::install::{self, InstallOptions};

/// The sections `add` moves a package between. `peerDependencies` is not one of them: a peer
/// declaration says something about the project's consumers, and stays as the user wrote it.
const SAVE_SECTIONS: [DependencySection; 3] = [
    DependencySection::Dependencies,
    DependencySection::DevDependencies,
    DependencySection::OptionalDependencies,
];

/// What `add` was asked to do.
#[derive(Debug, Clone)]
pub struct AddOptions {
    /// The specs as typed.
    pub specs: Vec<String>,
    /// Where to save them.
    pub section: DependencySection,
    /// Save the resolved version, not a range.
    pub exact: bool,
}

/// One spec, resolved, and the text it is saved as.
#[derive(Debug)]
struct Addition {
    name: String,
    saved: String,
}

pub fn add(options: &AddOptions) -> anyhow::Result<u8> {
    let specs = parse_specs(&options.specs)?;
    let mut load = LoadOptions::from_process().context("reading the current directory")?;
    if let Some(registry) = install::cached_npm_registry() {
        load.registry_fallback = RegistryFallback::Fixed(registry);
    }
    let config = Config::load(&load)?;
    let project = install::find_project(&load.cwd)?;
    let manifest_path = project.join("package.json");
    // Read before resolving: a broken package.json is reported before any request.
    let mut editor = ManifestEditor::open(&manifest_path)?;
    let snapshot = Snapshot::take(&[manifest_path.clone(), project.join(LOCKFILE_NAME)])?;

    let versions = resolve_versions(&config, &specs)?;
    let mut additions = Vec::with_capacity(specs.len());
    for ((raw, spec), version) in specs.iter().zip(&versions) {
        let addition = Addition {
            name: spec.name.to_string(),
            saved: saved_spec(spec, version, options.exact)
                .with_context(|| format!("cannot add `{raw}`"))?,
        };
        for other in SAVE_SECTIONS.into_iter().filter(|s| *s != options.section) {
            editor.remove_dependency(other, &addition.name);
        }
        editor.add_dependency(options.section, &addition.name, &addition.saved)?;
        additions.push(addition);
    }
    editor.save()?;

    let code = install_or_restore(&snapshot, &manifest_path)?;
    if code == 0 {
        for a in &additions {
            println!("{}: + {} {}", options.section, a.name, a.saved);
        }
    }
    Ok(code)
}

pub fn remove(names: &[String]) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let project = install::find_project(&cwd)?;
    let manifest_path = project.join("package.json");
    let mut editor = ManifestEditor::open(&manifest_path)?;
    let snapshot = Snapshot::take(&[manifest_path.clone(), project.join(LOCKFILE_NAME)])?;

    let mut missing = Vec::new();
    let mut removed = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            continue;
        }
        let sections: Vec<DependencySection> = DependencySection::ALL
            .into_iter()
            .filter(|s| editor.remove_dependency(*s, name))
            .collect();
        if sections.is_empty() {
            missing.push(format!("`{name}`"));
        }
        removed.push((name, sections));
    }
    if !missing.is_empty() {
        // The editor is dropped unsaved: nothing changes.
        bail!(
            "not a dependency in {}: {}; nothing was removed",
            manifest_path.display(),
            missing.join(", ")
        );
    }
    editor.save()?;

    let code = install_or_restore(&snapshot, &manifest_path)?;
    if code == 0 {
        for (name, sections) in &removed {
            for section in sections {
                println!("{section}: - {name}");
            }
        }
    }
    Ok(code)
}

/// Parses the specs, refusing what `add` cannot save: non-registry specs and a name given twice.
fn parse_specs(raw: &[String]) -> anyhow::Result<Vec<(String, PackageSpec)>> {
    let mut specs: Vec<(String, PackageSpec)> = Vec::with_capacity(raw.len());
    for arg in raw {
        let spec = PackageSpec::parse(arg).with_context(|| format!("cannot add `{arg}`"))?;
        if let SpecSource::Unsupported { kind, .. } = &spec.source {
            bail!("cannot add `{arg}`: {kind} specs are not supported, only registry packages");
        }
        if let Some((first, _)) = specs.iter().find(|(_, s)| s.name == spec.name) {
            bail!(
                "`{}` is given twice (`{first}` and `{arg}`)",
                spec.name.as_str()
            );
        }
        specs.push((arg.clone(), spec));
    }
    Ok(specs)
}

/// The version each spec gets, fetching the packuments concurrently.
fn resolve_versions(
    config: &Config,
    specs: &[(String, PackageSpec)],
) -> anyhow::Result<Vec<Version>> {
    let client = RegistryClient::new(install::client_options(config, &InstallOptions::default())?)
        .context("creating the registry client")?;
    let runtime = install::runtime()?;
    let client = &client;
    runtime.block_on(futures_util::future::try_join_all(specs.iter().map(
        |(raw, spec)| async move {
            let resolve = async {
                let (name, request) = registry_request(spec)?;
                let packument = client.packument(name).await?;
                pick(&packument, name, request)
            };
            resolve.await.with_context(|| format!("cannot add `{raw}`"))
        },
    )))
}

/// The registry package and what is asked of it.
fn registry_request(spec: &PackageSpec) -> anyhow::Result<(&str, &VersionRequest)> {
    match (spec.registry_name(), spec.request()) {
        (Some(name), Some(request)) => Ok((name.as_str(), request)),
        _ => bail!("not a registry package"),
    }
}

/// The version `request` gets: a tag's target, an exact version itself, and for a range the
/// `latest` dist-tag when it satisfies the range, else the highest version that does.
fn pick(packument: &Packument, name: &str, request: &VersionRequest) -> anyhow::Result<Version> {
    let versions: Vec<Version> = packument
        .versions
        .keys()
        .filter_map(|v| Version::parse(v).ok())
        .collect();
    let tagged = |tag: &str| {
        packument
            .dist_tags
            .get(tag)
            .and_then(|v| Version::parse(v).ok())
            .filter(|v| versions.contains(v))
    };
    match request {
        VersionRequest::Version(wanted) => {
            if versions.contains(wanted) {
                Ok(wanted.clone())
            } else {
                bail!("`{name}` has no version {wanted}")
            }
        }
        VersionRequest::Tag(tag) => tagged(tag).with_context(|| {
            let tags: Vec<&str> = packument.dist_tags.keys().map(String::as_str).collect();
            format!(
                "`{name}` has no dist-tag `{tag}` (its tags: {})",
                tags.join(", ")
            )
        }),
        VersionRequest::Range(range) => {
            if let Some(latest) = tagged("latest").filter(|v| range.is_any() || range.satisfies(v))
            {
                return Ok(latest);
            }
            range
                .max_satisfying(&versions)
                .cloned()
                .with_context(|| format!("no version of `{name}` matches `{range}`"))
        }
    }
}

/// The text saved in package.json for `spec` resolved to `version`.
fn saved_spec(spec: &PackageSpec, version: &Version, exact: bool) -> anyhow::Result<String> {
    let (target, request) = match &spec.source {
        SpecSource::Registry(request) => (None, request),
        SpecSource::Alias { target, request } => (Some(target), request),
        SpecSource::Unsupported { .. } => bail!("not a registry package"),
    };
    let range = match request {
        _ if exact => version.to_string(),
        VersionRequest::Range(range) if !range.is_any() => range.as_str().to_owned(),
        _ => format!("^{version}"),
    };
    Ok(match target {
        Some(target) => format!("npm:{target}@{range}"),
        None => range,
    })
}

/// Runs the install; if it fails, puts the snapshot back.
fn install_or_restore(snapshot: &Snapshot, manifest_path: &Path) -> anyhow::Result<u8> {
    let result = install::install(&InstallOptions::default());
    let failed = !matches!(result, Ok(0));
    if failed {
        if let Err(restore) = snapshot.restore() {
            let context = format!(
                "the install failed, and restoring {} failed too: {restore:#}",
                manifest_path.display()
            );
            return match result {
                Err(err) => Err(err.context(context)),
                Ok(_) => Err(anyhow::anyhow!(context)),
            };
        }
        if let Err(err) = result {
            return Err(err.context(format!(
                "the install failed; {} is back as it was",
                manifest_path.display()
            )));
        }
        eprintln!(
            "sandboxpm: the install failed; {} is back as it was",
            manifest_path.display()
        );
    }
    result
}

/// Files as they were before a command changed them, to put back byte for byte.
#[derive(Debug)]
struct Snapshot {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl Snapshot {
    /// Reads `paths`; a missing file is remembered as missing.
    fn take(paths: &[PathBuf]) -> anyhow::Result<Snapshot> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let content = match fs::read(path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            files.push((path.clone(), content));
        }
        Ok(Snapshot { files })
    }

    /// Puts back every file that changed (removing the ones that did not exist).
    fn restore(&self) -> anyhow::Result<()> {
        for (path, content) in &self.files {
            let current = match fs::read(path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            if current == *content {
                continue;
            }
            match content {
                Some(bytes) => write_atomic(path, bytes),
                None => fs::remove_file(path),
            }
            .with_context(|| format!("restoring {}", path.display()))?;
        }
        Ok(())
    }
}

/// Replaces `path` with `bytes` through a temporary file in the same directory and a rename,
/// keeping the permissions of the file it replaces.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.sandboxpm-{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        if let Ok(metadata) = fs::metadata(path) {
            file.set_permissions(metadata.permissions())?;
        }
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn saved(arg: &str, version: &str, exact: bool) -> String {
        let spec = PackageSpec::parse(arg).unwrap();
        saved_spec(&spec, &Version::parse(version).unwrap(), exact).unwrap()
    }

    #[test]
    fn saved_specs_follow_npm() {
        assert_eq!(saved("a", "1.2.3", false), "^1.2.3");
        assert_eq!(saved("a@next", "2.0.0-rc.1", false), "^2.0.0-rc.1");
        assert_eq!(saved("a@1.2.3", "1.2.3", false), "^1.2.3");
        assert_eq!(saved("a@~1.2", "1.2.9", false), "~1.2");
        assert_eq!(saved("a@~1.2", "1.2.9", true), "1.2.9");
        assert_eq!(saved("a", "1.2.3", true), "1.2.3");
        assert_eq!(saved("@s/a@>=1 <3", "2.0.0", false), ">=1 <3");
        assert_eq!(saved("x@npm:@s/a", "1.0.0", false), "npm:@s/a@^1.0.0");
        assert_eq!(saved("x@npm:a@^1.1", "1.4.0", false), "npm:a@^1.1");
        assert_eq!(saved("x@npm:a@latest", "1.4.0", true), "npm:a@1.4.0");
    }

    #[test]
    fn twice_and_unsupported_specs_are_refused() {
        let err = parse_specs(&["a@1".into(), "a@2".into()]).unwrap_err();
        assert_eq!(err.to_string(), "`a` is given twice (`a@1` and `a@2`)");
        let err = parse_specs(&["a@github:u/r".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot add `a@github:u/r`: git specs are not supported, only registry packages"
        );
    }
}
