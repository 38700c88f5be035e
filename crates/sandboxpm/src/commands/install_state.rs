//! The up-to-date check: `node_modules/.sandboxpm/.install-state.json` records a digest of
//! everything a finished install was computed from, so the next install with the same inputs
//! returns after reading three small files instead of re-resolving and re-checking the tree.
//!
//! The inputs are the bytes of `package.json` and `sandboxpm-lock.json`, the merged
//! `.sandboxpmrc` (it decides which scripts run), whether dev dependencies were installed, and
//! sandboxpm's version. An install whose scripts are not settled (some were skipped with
//! `--ignore-scripts` or still wait for consent) records that, and only a later
//! `--ignore-scripts` install may take the shortcut. The root symlinks of the direct
//! dependencies are checked too, so that deleting one is noticed; deeper damage (an edited file in
//! the store) is `sandboxpm store verify`'s job, as it is pnpm's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const FILE: &str = ".install-state.json";

/// What one install was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallState {
    /// Hex SHA-256 of the inputs.
    pub inputs: String,
    /// Every install script ran, or was refused by `.sandboxpmrc` (which is part of the inputs).
    pub scripts_settled: bool,
    /// The entries of `node_modules` the install created for direct dependencies.
    pub root_links: Vec<String>,
}

/// The digest of an install's inputs.
pub fn inputs_digest(
    manifest: &[u8],
    lockfile: &[u8],
    sandboxpmrc: &str,
    production: bool,
) -> String {
    let mut h = Sha256::new();
    for part in [
        env!("CARGO_PKG_VERSION").as_bytes(),
        manifest,
        lockfile,
        sandboxpmrc.as_bytes(),
        if production { b"prod" } else { b"dev" },
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn path(project: &Path) -> PathBuf {
    project.join("node_modules").join(".sandboxpm").join(FILE)
}

/// Whether the recorded install still stands for these inputs.
pub fn is_up_to_date(project: &Path, inputs: &str, ignore_scripts: bool) -> bool {
    let Ok(text) = std::fs::read(path(project)) else {
        return false;
    };
    let Ok(state) = serde_json::from_slice::<InstallState>(&text) else {
        return false;
    };
    let modules = project.join("node_modules");
    state.inputs == inputs
        && (state.scripts_settled || ignore_scripts)
        && state
            .root_links
            .iter()
            .all(|name| std::fs::metadata(modules.join(name)).is_ok())
}

/// Forgets the recorded state: called before anything in `node_modules` changes, so an
/// interrupted install is never mistaken for a finished one.
pub fn clear(project: &Path) {
    let _ = std::fs::remove_file(path(project));
}

/// Records a finished install. Failing to write only costs the next install its shortcut.
pub fn record(project: &Path, state: &InstallState) {
    let target = path(project);
    let Some(dir) = target.parent() else { return };
    let tmp = dir.join(format!("{FILE}.tmp-{}", std::process::id()));
    let Ok(text) = serde_json::to_vec(state) else {
        return;
    };
    if std::fs::write(&tmp, text).is_err() || std::fs::rename(&tmp, &target).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_input_changes_the_digest() {
        let base = inputs_digest(b"{}", b"lock", "rc", false);
        assert_ne!(base, inputs_digest(b"{ }", b"lock", "rc", false));
        assert_ne!(base, inputs_digest(b"{}", b"lock2", "rc", false));
        assert_ne!(base, inputs_digest(b"{}", b"lock", "rc2", false));
        assert_ne!(base, inputs_digest(b"{}", b"lock", "rc", true));
        // Moving bytes between inputs is a different input.
        assert_ne!(
            inputs_digest(b"ab", b"c", "", false),
            inputs_digest(b"a", b"bc", "", false)
        );
        assert_eq!(base, inputs_digest(b"{}", b"lock", "rc", false));
    }

    #[test]
    fn state_round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path();
        std::fs::create_dir_all(project.join("node_modules/.sandboxpm")).unwrap();
        std::os::unix::fs::symlink(
            ".sandboxpm/a@1.0.0/node_modules/a",
            project.join("node_modules/a"),
        )
        .unwrap();
        std::fs::create_dir_all(project.join("node_modules/.sandboxpm/a@1.0.0/node_modules/a"))
            .unwrap();
        let state = InstallState {
            inputs: "x".into(),
            scripts_settled: false,
            root_links: vec!["a".into()],
        };
        assert!(!is_up_to_date(project, "x", true), "nothing recorded yet");
        record(project, &state);
        assert!(is_up_to_date(project, "x", true));
        assert!(!is_up_to_date(project, "y", true), "other inputs");
        assert!(
            !is_up_to_date(project, "x", false),
            "unsettled scripts need a full install"
        );
        std::fs::remove_dir_all(project.join("node_modules/.sandboxpm/a@1.0.0")).unwrap();
        assert!(!is_up_to_date(project, "x", true), "dangling root link");
        clear(project);
        assert!(!path(project).exists());
    }
}
