//! `sandboxpm store path|status|verify|prune`: looking after the store every project shares.
//!
//! The store's own crate does the work and the reporting data; this module finds the store the
//! way `install` does (`storeDir` from the user's `.sandboxpmrc`, else `$SANDBOXPM_HOME/store`),
//! prints, and decides exit codes. None of these commands needs a registry, so none loads the npm
//! configuration.
//!
//! `prune` needs to know what is still in use, and there is no registry of projects yet. Rather
//! than guess, it keeps exactly what the projects it is shown refer to: the current project and
//! each `--keep-project DIR`, through their `sandboxpm-lock.json` (the integrity of every locked
//! package) and their `node_modules/.sandboxpm/lock.json` (the tarball actually linked, which is
//! the only record for packages whose metadata had no sha512, and the shared package directories
//! it links). A file it cannot read is an error, not an empty keep-list: pruning on a misread would
//! delete what a project uses. Another project whose shared directories were pruned notices on its
//! next install (its direct dependencies' links dangle) and rebuilds them from the store, or
//! downloads what was pruned from the store too.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sandboxpm_config::{LoadOptions, Paths, SandboxpmSettings, find_project_dir};
use sandboxpm_npm::{LOCKFILE_NAME, Lockfile};
use sandboxpm_store::{Sha512Digest, Store};

/// The linker's record of what a project links, below the project directory.
const LINK_LOCK: [&str; 3] = ["node_modules", ".sandboxpm", sandboxpm_linker::LOCK_FILE];
/// The format of that record this command understands.
const LINK_LOCK_VERSION: u64 = 1;

/// The store, located like `install` locates it.
fn open_store() -> anyhow::Result<Store> {
    let load = LoadOptions::from_process().context("reading the current directory")?;
    let project = find_project_dir(&load.cwd);
    let settings = SandboxpmSettings::load(project.as_deref(), load.home.as_deref())?;
    let paths = Paths::resolve(
        &load.env,
        load.home.as_deref(),
        &load.cwd,
        settings.store_dir.as_deref(),
    )?;
    Store::open(&paths.store_dir)
        .with_context(|| format!("opening the store at {}", paths.store_dir.display()))
}

/// The store's versioned directory (`<store dir>/v2`), as the store lays it out: the parent of its
/// index directory.
fn versioned_dir(store: &Store) -> PathBuf {
    index_dir(store)
        .parent()
        .map_or_else(|| store.path().to_path_buf(), Path::to_path_buf)
}

fn index_dir(store: &Store) -> PathBuf {
    let any_index = store.index_path(&[0; 64]);
    any_index
        .parent()
        .map_or_else(|| store.path().to_path_buf(), Path::to_path_buf)
}

pub fn path() -> anyhow::Result<u8> {
    let store = open_store()?;
    println!("{}", versioned_dir(&store).display());
    Ok(0)
}

pub fn status() -> anyhow::Result<u8> {
    let store = open_store()?;
    let status = store.status()?;
    println!("store:    {}", versioned_dir(&store).display());
    println!("packages: {}", status.indexes);
    println!("files:    {}", status.blobs);
    println!(
        "size:     {} bytes ({})",
        status.blob_bytes,
        human_bytes(status.blob_bytes)
    );
    println!(
        "shared:   {} package directories (linked from projects' node_modules/.sandboxpm)",
        status.shared
    );
    if status.tmp_entries > 0 {
        println!(
            "tmp:      {} entries (work in progress, or leftovers that `store prune` removes)",
            status.tmp_entries
        );
    }
    Ok(0)
}

pub fn verify(repair: bool) -> anyhow::Result<u8> {
    let store = open_store()?;
    let report = store.verify()?;
    println!(
        "checked {} file(s) ({}) and {} package index(es) in {}",
        report.blobs_checked,
        human_bytes(report.bytes_checked),
        report.indexes_checked,
        versioned_dir(&store).display()
    );
    for corrupt in &report.corrupt {
        println!(
            "corrupt file: {}: {}",
            corrupt.path.display(),
            corrupt.problem
        );
    }
    for missing in &report.missing {
        println!(
            "missing file: {} (`{}` of {}, index {})",
            missing.blob.display(),
            missing.entry,
            missing.package,
            missing.index.display()
        );
    }
    for damaged in &report.damaged_indexes {
        println!(
            "damaged index: {}: {}",
            damaged.path.display(),
            damaged.problem
        );
    }
    for stray in &report.stray_files {
        println!("note: not a store entry, left alone: {}", stray.display());
    }
    if report.is_clean() {
        println!("the store is intact");
        return Ok(0);
    }
    let problems = report.corrupt.len() + report.missing.len() + report.damaged_indexes.len();
    if !repair {
        println!(
            "{problems} problem(s) found; `sandboxpm store verify --repair` removes the damaged \
             entries so the next install downloads those packages again"
        );
        return Ok(1);
    }
    let repaired = store.repair(&report)?;
    println!(
        "repaired: removed {} corrupt file(s), {} package index(es) and {} shared package \
         director(ies); the next install downloads those packages again",
        repaired.removed_blobs, repaired.removed_indexes, repaired.removed_shared
    );
    // A project's node_modules shares the corrupt files' inodes; repairing the store does not
    // mend those copies.
    println!(
        "hint: projects that linked a corrupt file still hold it; remove their node_modules and \
         install again"
    );
    Ok(0)
}

pub fn prune(keep_projects: &[PathBuf]) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut keep = Referenced::default();
    let mut projects = 0;
    if let Some(current) = find_project_dir(&cwd) {
        // The current project may have installed nothing yet: then it keeps nothing.
        keep.extend(referenced(&current)?.unwrap_or_default());
        projects += 1;
    }
    for dir in keep_projects {
        let dir = cwd.join(dir);
        if !dir.is_dir() {
            bail!("--keep-project {}: not a directory", dir.display());
        }
        // A project named on purpose with nothing to keep is most likely the wrong directory.
        let Some(found) = referenced(&dir)? else {
            bail!(
                "--keep-project {}: neither {LOCKFILE_NAME} nor node_modules/.sandboxpm/{} \
                 exists there",
                dir.display(),
                sandboxpm_linker::LOCK_FILE
            );
        };
        keep.extend(found);
        projects += 1;
    }
    if projects == 0 {
        bail!(
            "no project to keep: {} has no package.json, and no --keep-project was given; \
             refusing to empty the store",
            cwd.display()
        );
    }

    let store = open_store()?;
    let before = list_indexes(&index_dir(&store))?;
    let total = before.len();
    // Names come from the indexes, which prune is about to delete.
    let doomed: Vec<(Sha512Digest, String)> = before
        .into_iter()
        .filter(|digest| !keep.tarballs.contains(digest))
        .map(|digest| {
            let name = store.index(&digest.0).ok().flatten().map_or_else(
                || format!("tarball {digest}"),
                |i| i.package_ref().to_string(),
            );
            (digest, name)
        })
        .collect();
    let report = store.prune(keep.tarballs.iter().map(|d| d.0), &keep.shared)?;
    for (digest, name) in &doomed {
        if !store.index_path(&digest.0).exists() {
            println!("removed {name}");
        }
    }
    println!(
        "removed {} package(s), {} file(s) and {} shared package director(ies), freeing {}{}; \
         kept {} package(s) of {} project(s)",
        report.removed_indexes,
        report.removed_blobs,
        report.removed_shared,
        human_bytes(report.freed_bytes),
        match report.removed_tmp_entries {
            0 => String::new(),
            n => format!(", and {n} leftover(s) of interrupted work"),
        },
        total - doomed.len(),
        projects
    );
    Ok(0)
}

/// What a project keeps in the store.
#[derive(Debug, Default)]
struct Referenced {
    tarballs: BTreeSet<Sha512Digest>,
    /// Names of the shared package directories it links.
    shared: HashSet<String>,
}

impl Referenced {
    fn extend(&mut self, other: Referenced) {
        self.tarballs.extend(other.tarballs);
        self.shared.extend(other.shared);
    }
}

/// What `project` refers to; `None` when it has neither record.
fn referenced(project: &Path) -> anyhow::Result<Option<Referenced>> {
    let mut found: Option<Referenced> = None;
    let lock_path = project.join(LOCKFILE_NAME);
    if lock_path.exists() {
        let lockfile = Lockfile::read(&lock_path)?;
        let set = &mut found.get_or_insert_default().tarballs;
        set.extend(
            lockfile
                .packages
                .values()
                .filter_map(|p| p.integrity.as_ref()?.sha512())
                .map(Sha512Digest),
        );
    }
    let link_lock: PathBuf = LINK_LOCK
        .iter()
        .fold(project.to_path_buf(), |p, c| p.join(c));
    let bytes = match fs::read(&link_lock) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", link_lock.display())),
    };
    if let Some(bytes) = bytes {
        let (tarballs, shared) = linked(&bytes)
            .with_context(|| format!("{}: cannot tell what it links", link_lock.display()))?;
        let found = found.get_or_insert_default();
        found.tarballs.extend(tarballs);
        found.shared.extend(shared);
    }
    Ok(found)
}

/// The tarballs listed in a linker `lock.json` (`packages.<key>.tarball`, hex), and the shared
/// directories (`packages.<key>.shared`).
fn linked(bytes: &[u8]) -> anyhow::Result<(Vec<Sha512Digest>, Vec<String>)> {
    let value: serde_json::Value = serde_json::from_slice(bytes).context("not JSON")?;
    match value.get("lockVersion").and_then(serde_json::Value::as_u64) {
        Some(LINK_LOCK_VERSION) => {}
        Some(other) => bail!("format version {other}, this sandboxpm reads {LINK_LOCK_VERSION}"),
        None => bail!("no lockVersion"),
    }
    let Some(packages) = value.get("packages") else {
        return Ok((Vec::new(), Vec::new()));
    };
    let Some(packages) = packages.as_object() else {
        bail!("`packages` is not an object");
    };
    let tarballs = packages
        .iter()
        .map(|(key, package)| {
            package
                .get("tarball")
                .and_then(serde_json::Value::as_str)
                .and_then(Sha512Digest::from_hex)
                .with_context(|| format!("`{key}` has no valid tarball digest"))
        })
        .collect::<anyhow::Result<_>>()?;
    let shared = packages
        .values()
        .filter_map(|package| package.get("shared")?.as_str().map(str::to_owned))
        .collect();
    Ok((tarballs, shared))
}

/// The tarball digests of the indexes in `dir` (named `<128 hex>.json`).
fn list_indexes(dir: &Path) -> anyhow::Result<Vec<Sha512Digest>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name();
        if let Some(digest) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(Sha512Digest::from_hex)
        {
            out.push(digest);
        }
    }
    out.sort();
    Ok(out)
}

/// `1.5 KiB`-style sizes for people; exact byte counts are printed beside them where they matter.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn linked_tarballs_and_shared_directories_are_read_and_unknown_formats_refused() {
        let hex = "ab".repeat(64);
        let text = format!(
            r#"{{"lockVersion":1,"complete":true,"packages":{{"a@1.0.0":{{"dir":"a@1.0.0","name":"a","tarball":"{hex}","shared":"a@1.0.0-x"}},"b@1.0.0":{{"dir":"b@1.0.0","name":"b","tarball":"{hex}"}}}}}}"#
        );
        let (tarballs, shared) = linked(text.as_bytes()).unwrap();
        assert_eq!(tarballs, vec![Sha512Digest([0xab; 64]); 2]);
        assert_eq!(shared, ["a@1.0.0-x"]);
        let err = linked(br#"{"lockVersion":2}"#).unwrap_err();
        assert_eq!(err.to_string(), "format version 2, this sandboxpm reads 1");
        let err =
            linked(br#"{"lockVersion":1,"packages":{"a@1.0.0":{"tarball":"zz"}}}"#).unwrap_err();
        assert_eq!(err.to_string(), "`a@1.0.0` has no valid tarball digest");
    }
}
