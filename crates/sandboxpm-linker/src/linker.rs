//! One link run: compare, decide, then change `node_modules` in an order that keeps it usable.
//!
//! 1. Compute the wanted state from the plan (no I/O) and read `lock.json`.
//! 2. Decide per package: keep (same contents and links), relink (same contents, other links), or
//!    build (new, or other contents). Without a trustworthy lock, a package whose directory
//!    exists is checked on disk first, and kept if its files are all there.
//! 3. Inspect the root; stop here if a foreign entry is in the way (unless moving it aside).
//!    A run with nothing to do ends here, having read `lock.json` and one link per direct
//!    dependency and root bin.
//! 4. Write `lock.json` marked incomplete, listing only the packages kept.
//! 5. Build package directories in parallel (each staged, then renamed into place; a shared one
//!    then linked from `.sandboxpm/<dir>` at once), then create their links in parallel, then the
//!    root links: every symlink after its target exists.
//! 6. Remove what is no longer wanted, then write the complete `lock.json`.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use sandboxpm_store::{LinkStats, PackageIndex, Store};

use crate::desired::{Desired, DesiredPackage, PROJECT};
use crate::error::{ForeignEntry, LinkError, Result, io_error};
use crate::fsops::{describe, force_symlink, remove_tree};
use crate::lockfile::{self, LOCK_VERSION, LinkLock, Previous};
use crate::package_dir::{self, Built};
use crate::plan::LinkPlan;
use crate::report::{ForeignEntries, LinkOptions, LinkReport, LockStatus};
use crate::root;
use crate::sys;

/// The lock file's name inside `node_modules/.sandboxpm`.
pub const LOCK_FILE: &str = "lock.json";

/// What happens to one package.
enum Action {
    /// Nothing.
    Keep,
    /// Its files stay; its links change. `None`: the links on disk are unknown (scan them).
    Links(Option<BTreeSet<String>>),
    /// Its directory is (re)built, from this index if already loaded.
    Build(Option<Arc<PackageIndex>>),
    /// It is shared: `<dir>` becomes a link to its shared directory, which is built first if
    /// this says so.
    Share(Option<SharedBuild>),
}

/// A shared directory to build.
struct SharedBuild {
    /// The index, if already loaded.
    index: Option<Arc<PackageIndex>>,
    /// A broken directory is there: move it aside.
    replace: bool,
}

/// Materialises `plan` in `<plan.root>/node_modules`, changing only what differs from the last
/// run (see `DESIGN.md`, "node_modules layout" and "Performance model").
pub fn link(store: &Store, plan: &LinkPlan, options: &LinkOptions) -> Result<LinkReport> {
    let mut warnings = Vec::new();
    let shared_dir = if options.shared {
        let dir = store.links_dir();
        Some(std::path::absolute(dir).map_err(io_error(None, "resolve", dir))?)
    } else {
        None
    };
    // `prune` takes the lock exclusively before deleting shared directories.
    let _guard = match &shared_dir {
        Some(_) => Some(store.hold_shared().map_err(|source| LinkError::Store {
            key: PROJECT.to_owned(),
            source,
        })?),
        None => None,
    };
    let desired = Desired::compute(plan, shared_dir.as_deref(), &mut warnings)?;
    let modules = plan.root.join("node_modules");
    let internal = modules.join(".sandboxpm");
    let lock_path = internal.join(LOCK_FILE);

    let previous = if options.verify {
        None
    } else {
        Some(lockfile::read(&lock_path))
    };
    let (status, known, trusted) = match previous {
        None => (LockStatus::Ignored, LinkLock::default(), false),
        Some(Previous::Valid(lock)) => (LockStatus::Valid, lock, true),
        Some(Previous::Interrupted(lock)) => (LockStatus::Interrupted, lock, false),
        Some(Previous::Missing) => (LockStatus::Missing, LinkLock::default(), false),
        Some(Previous::Unreadable(reason)) => (
            LockStatus::Unreadable { reason },
            LinkLock::default(),
            false,
        ),
    };
    let mut report = LinkReport::new(status);
    report.warnings = warnings;
    if !trusted {
        check_own_dirs(&modules, &internal)?;
    }

    let packages: Vec<&DesiredPackage<'_>> = desired.packages.values().collect();
    let actions: Vec<Action> = packages
        .par_iter()
        .map(|package| match &package.shared {
            Some(entry_dir) => decide_shared(
                store, &internal, entry_dir, package, &known, trusted, options,
            ),
            None => decide(store, &internal, package, &known, trusted),
        })
        .collect::<Result<_>>()?;

    let wanted_dirs: HashSet<&str> = packages.iter().map(|p| p.locked.dir.as_str()).collect();
    let mut removed: BTreeSet<String> = known
        .packages
        .iter()
        .filter(|(key, p)| {
            !desired.packages.contains_key(key.as_str()) && !wanted_dirs.contains(p.dir.as_str())
        })
        .map(|(_, p)| p.dir.clone())
        .collect();
    let mut leftovers = Vec::new();
    if !trusted {
        sweep(&internal, &wanted_dirs, &mut removed, &mut leftovers)?;
    }

    let root_previous = trusted.then(|| known.root_paths());
    let root_work = root::inspect(&modules, &desired.root_links, root_previous.as_ref())?;
    if !root_work.foreign.is_empty() && options.foreign == ForeignEntries::Fail {
        return Err(LinkError::ForeignEntries {
            entries: root_work.foreign,
        });
    }

    let unchanged = actions.iter().filter(|a| matches!(a, Action::Keep)).count();
    report.unchanged = unchanged;
    let nothing_to_do = trusted
        && unchanged == packages.len()
        && removed.is_empty()
        && root_work.is_empty()
        && known.direct == desired.direct
        && known.bins == desired.root_bins;
    if nothing_to_do {
        return Ok(report);
    }

    fs::create_dir_all(&internal).map_err(io_error(None, "create", &internal))?;
    let mut lock = LinkLock {
        lock_version: LOCK_VERSION,
        complete: false,
        packages: packages
            .iter()
            .zip(&actions)
            .filter(|(_, action)| matches!(action, Action::Keep))
            .map(|(p, _)| (p.planned.key.clone(), p.locked.clone()))
            .collect(),
        ..LinkLock::default()
    };
    lockfile::write(&lock_path, &lock)?;

    if !root_work.foreign.is_empty() {
        report.displaced = root::move_aside(&modules, &internal, &root_work.foreign)?;
    }

    if let Some(dir) = &shared_dir
        && actions.iter().any(|a| matches!(a, Action::Share(Some(_))))
    {
        fs::create_dir_all(dir).map_err(io_error(None, "create", dir))?;
    }
    // A shared package's link in the project is made by the build of its directory, right after
    // the directory is renamed into place: made in a pass of their own afterwards, all of them
    // queued on the lock of the one directory they go into, with little else to do meanwhile.
    let builds: Vec<(Built, Option<PathBuf>)> = packages
        .par_iter()
        .zip(&actions)
        .filter_map(|(package, action)| match (action, &package.shared) {
            (Action::Build(index), _) => Some((package, index, None)),
            (Action::Share(Some(build)), Some(entry_dir)) => {
                Some((package, &build.index, Some((entry_dir, build.replace))))
            }
            _ => None,
        })
        .map(|(package, index, shared)| {
            let index = match index {
                Some(index) => Arc::clone(index),
                None => package_dir::load_index(store, package.planned)?,
            };
            match shared {
                Some((entry_dir, replace)) => {
                    let built =
                        package_dir::build_shared(store, entry_dir, package, &index, replace)?;
                    Ok((built, link_shared(&internal, entry_dir, package)?))
                }
                None => Ok((package_dir::build(store, &internal, package, &index)?, None)),
            }
        })
        .collect::<Result<_>>()?;

    let empty = BTreeSet::new();
    let moved: Vec<PathBuf> = packages
        .par_iter()
        .zip(&actions)
        .map(|(package, action)| match (action, &package.shared) {
            (Action::Share(None), Some(entry_dir)) => link_shared(&internal, entry_dir, package),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    packages
        .par_iter()
        .zip(&actions)
        .try_for_each(|(package, action)| match action {
            Action::Keep | Action::Share(_) => Ok(()),
            Action::Build(_) => package_dir::apply_links(&internal, package, Some(&empty)),
            Action::Links(previous) => {
                package_dir::apply_links(&internal, package, previous.as_ref())
            }
        })?;

    root::apply(&modules, &root_work)?;

    let mut trash: Vec<PathBuf> = removed.iter().map(|dir| internal.join(dir)).collect();
    trash.extend(leftovers);
    trash.extend(moved);
    for (built, moved) in &builds {
        trash.extend(built.trash.clone());
        trash.extend(moved.clone());
    }
    trash
        .par_iter()
        .try_for_each(|path| remove_tree(path).map_err(io_error(None, "remove", path.clone())))?;

    for (built, _) in builds {
        report.files = add_stats(report.files, built.stats);
        report.warnings.extend(built.warnings);
    }
    // Packages come in key order.
    report.linked = packages
        .iter()
        .zip(&actions)
        .filter(|(_, a)| matches!(a, Action::Build(_) | Action::Share(_)))
        .map(|(p, _)| p.planned.key.clone())
        .collect();
    report.relinked = packages
        .iter()
        .zip(&actions)
        .filter(|(_, a)| matches!(a, Action::Links(_)))
        .map(|(p, _)| p.planned.key.clone())
        .collect();
    report.removed = removed.into_iter().collect();

    lock.complete = true;
    lock.packages = packages
        .iter()
        .map(|p| (p.planned.key.clone(), p.locked.clone()))
        .collect();
    lock.direct = desired.direct.clone();
    lock.bins = desired.root_bins.clone();
    lockfile::write(&lock_path, &lock)?;
    Ok(report)
}

fn decide(
    store: &Store,
    internal: &Path,
    package: &DesiredPackage<'_>,
    known: &LinkLock,
    trusted: bool,
) -> Result<Action> {
    if let Some(previous) = known.packages.get(&package.planned.key) {
        return Ok(if !previous.same_contents(&package.locked) {
            Action::Build(None)
        } else if previous.same_links(&package.locked) {
            Action::Keep
        } else {
            Action::Links(Some(previous.link_paths()))
        });
    }
    if trusted {
        return Ok(Action::Build(None));
    }
    // Not vouched for: check the directory, if there is one.
    match fs::symlink_metadata(internal.join(&package.locked.dir)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Action::Build(None)),
        _ => {}
    }
    let index = package_dir::load_index(store, package.planned)?;
    Ok(
        if package_dir::verify(store, &internal.join(&package.locked.dir), package, &index) {
            Action::Links(None)
        } else {
            Action::Build(Some(index))
        },
    )
}

/// What to do with a shared package: nothing when its shared directory is there (and, when
/// verifying, complete) and `<dir>` already links to it; otherwise link it, building it first
/// if it is missing or broken.
fn decide_shared(
    store: &Store,
    internal: &Path,
    entry_dir: &Path,
    package: &DesiredPackage<'_>,
    known: &LinkLock,
    trusted: bool,
    options: &LinkOptions,
) -> Result<Action> {
    match fs::symlink_metadata(entry_dir) {
        Ok(m) if m.is_dir() => {}
        found => {
            return Ok(Action::Share(Some(SharedBuild {
                index: None,
                replace: found.is_ok(),
            })));
        }
    }
    if options.verify {
        let index = package_dir::load_index(store, package.planned)?;
        if !package_dir::verify_shared(store, entry_dir, package, &index) {
            return Ok(Action::Share(Some(SharedBuild {
                index: Some(index),
                replace: true,
            })));
        }
    }
    let linked = if trusted {
        known
            .packages
            .get(&package.planned.key)
            .is_some_and(|previous| *previous == package.locked)
    } else {
        fs::read_link(internal.join(&package.locked.dir)).is_ok_and(|text| text == entry_dir)
    };
    Ok(if linked {
        Action::Keep
    } else {
        Action::Share(None)
    })
}

/// Makes `internal/<dir>` a link to the shared directory, moving aside a directory that is there
/// (the package was not shared before); returns where it went.
fn link_shared(
    internal: &Path,
    entry_dir: &Path,
    package: &DesiredPackage<'_>,
) -> Result<Option<PathBuf>> {
    let key = package.planned.key.as_str();
    let path = internal.join(&package.locked.dir);
    let text = entry_dir.to_string_lossy();
    // Nothing there, as on a first install: one system call.
    match sys::symlink(&text, &path) {
        Ok(()) => return Ok(None),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::NotFound
            ) => {}
        Err(e) => return Err(io_error(Some(key), "create symlink", path)(e)),
    }
    let moved = match fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => package_dir::move_aside(internal, &path, key)?,
        _ => None,
    };
    force_symlink(&text, &path).map_err(io_error(Some(key), "create symlink", path))?;
    Ok(moved)
}

/// `node_modules` and `node_modules/.sandboxpm` must be directories (or not exist yet).
fn check_own_dirs(modules: &Path, internal: &Path) -> Result<()> {
    for dir in [modules, internal] {
        match fs::metadata(dir) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(metadata) => {
                return Err(LinkError::ForeignEntries {
                    entries: vec![ForeignEntry {
                        path: dir.to_path_buf(),
                        kind: describe(&metadata),
                    }],
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(None, "inspect", dir)(e)),
        }
    }
    Ok(())
}

/// Finds, in `node_modules/.sandboxpm`, package directories nobody wants and leftovers of an
/// interrupted run (`.tmp-*`, `.trash-*`). `lock.json`, `displaced/` and other dot-names are kept.
fn sweep(
    internal: &Path,
    wanted: &HashSet<&str>,
    removed: &mut BTreeSet<String>,
    leftovers: &mut Vec<PathBuf>,
) -> Result<()> {
    let entries = match fs::read_dir(internal) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(None, "read", internal)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(None, "read", internal))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if name.starts_with(".tmp-") || name.starts_with(".trash-") {
            leftovers.push(entry.path());
        } else if !name.starts_with('.')
            && name != LOCK_FILE
            && name != "displaced"
            && !wanted.contains(name)
        {
            removed.insert(name.to_owned());
        }
    }
    Ok(())
}

fn add_stats(a: LinkStats, b: LinkStats) -> LinkStats {
    LinkStats {
        hard_linked: a.hard_linked + b.hard_linked,
        reflinked: a.reflinked + b.reflinked,
        copied: a.copied + b.copied,
    }
}
