//! The native Linux translation of a resolved policy, as data.
//!
//! This is a pure function of the [`ResolvedPolicy`]: the ordered mount plan that builds the new
//! root, the Landlock rules, and the seccomp rules. The Linux backend executes exactly this plan,
//! and `policy show` prints it, so what a reviewer reads is what runs. It compiles and is tested on
//! every platform.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::policy::Network;
use crate::resolve::{Access, EntryKind, Grant, ResolvedPolicy, depth};
use crate::seccomp;

/// The device nodes bound from the host into the minimal `/dev`.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// One step of building the sandbox's root file system. Paths are where things appear inside,
/// which is where they are on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum MountOp {
    /// An empty, private tmpfs.
    Tmpfs {
        /// Mount point.
        path: PathBuf,
    },
    /// A bind mount of the host path at the same place.
    Bind {
        /// Host path.
        path: PathBuf,
        /// File or directory.
        kind: EntryKind,
        /// Read-write (else read-only, recursively, with nosuid and nodev).
        writable: bool,
    },
    /// A small read-only configuration file under `/etc`, copied into the root instead of bound:
    /// a bind costs two mount calls on the way in and a teardown on the way out, and `/etc` alone
    /// contributes twenty of them.
    CopyFile {
        /// Host path.
        path: PathBuf,
    },
    /// A fresh procfs for the new pid namespace.
    Proc {
        /// Mount point.
        path: PathBuf,
    },
    /// A tmpfs with only the [`DEVICES`] bound in, `/dev/shm` and the `/dev/fd` links.
    Dev {
        /// Mount point.
        path: PathBuf,
    },
    /// A symlink, as on the host.
    Symlink {
        /// Where the link is created.
        path: PathBuf,
        /// Its target.
        target: PathBuf,
    },
    /// A denied file: an empty read-only file bound over it.
    HideFile {
        /// The hidden path.
        path: PathBuf,
    },
    /// A denied directory: an empty read-only tmpfs over it.
    HideDir {
        /// The hidden path.
        path: PathBuf,
    },
    /// An ancestor of a write-denied path, between it and its writable grant: bound onto itself
    /// (still writable) so that it is a mount point, which cannot be renamed or removed. Without
    /// it, `mv .git .git-old` would carry the read-only `.git/config` away and let a script create
    /// a fresh, writable `.git/config` in its place.
    Pin {
        /// The pinned directory.
        path: PathBuf,
    },
    /// A write-denied path: bound onto itself read-only, recursively.
    ReadOnly {
        /// The protected path.
        path: PathBuf,
    },
    /// A directory created inside a private tmpfs (`HOME`, `/tmp`) only to hold mount points
    /// below it (a project under `/tmp/x/`): bound onto itself, submounts included, and made
    /// read-only, so that writes there fail instead of "succeeding" in a throwaway tmpfs.
    SealScaffold {
        /// The top-most such directory.
        path: PathBuf,
    },
    /// A file created in the private home (decoy credentials).
    HomeFile {
        /// Where, inside the home.
        path: PathBuf,
        /// Its content.
        content: String,
    },
    /// A decoy file of the private home bound read-only from a directory that a long-lived
    /// process watches (see [`crate::tripwire::Slots`]), instead of written there.
    Tripwire {
        /// Where, inside the home.
        path: PathBuf,
        /// The watched file on the host.
        source: PathBuf,
    },
    /// The root tmpfs is made read-only once everything is in place.
    ReadOnlyRoot,
}

/// The rights of one Landlock rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LandlockAccess {
    /// Read files, list directories, execute.
    Read,
    /// Every file-system right of the kernel's ABI.
    Write,
    /// Read and write existing files only (device nodes).
    ReadWriteFile,
    /// List directories only (the root, so that `ls /` works; every file is still governed by
    /// the rules above).
    ListDir,
}

/// One Landlock rule: rights beneath a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandlockRule {
    /// The hierarchy.
    pub path: PathBuf,
    /// The rights.
    pub access: LandlockAccess,
}

/// The whole native translation.
#[derive(Debug, Clone, Serialize)]
pub struct NativePlan {
    /// Namespaces unshared.
    pub namespaces: Vec<&'static str>,
    /// Mount steps in order.
    pub mounts: Vec<MountOp>,
    /// Landlock rules (the allowlist again, enforced by a second, independent mechanism).
    pub landlock: Vec<LandlockRule>,
    /// Landlock scopes (ABI 6): no abstract unix sockets or signals outside the sandbox.
    pub landlock_scopes: Vec<&'static str>,
    /// Seccomp rules.
    pub seccomp: Vec<seccomp::Rule>,
}

/// Translates `policy` for the native backend (namespaces + Landlock + seccomp).
pub fn plan(policy: &ResolvedPolicy) -> NativePlan {
    let mut namespaces = vec!["user", "mount", "pid", "ipc", "uts", "cgroup"];
    if policy.network != Network::Host {
        namespaces.push("net");
    }

    // Everything that creates a mount, sorted by depth so that parents come before children.
    let mut base: Vec<MountOp> = vec![
        MountOp::Tmpfs {
            path: policy.home.clone(),
        },
        MountOp::Tmpfs {
            path: "/tmp".into(),
        },
        MountOp::Proc {
            path: "/proc".into(),
        },
        MountOp::Dev {
            path: "/dev".into(),
        },
    ];
    for grant in &policy.grants {
        if is_copied(grant) {
            base.push(MountOp::CopyFile {
                path: grant.path.clone(),
            });
            continue;
        }
        base.push(MountOp::Bind {
            path: grant.path.clone(),
            kind: grant.kind,
            writable: grant.access == Access::Write,
        });
    }
    base.sort_by(|a, b| {
        let (pa, pb) = (op_path(a), op_path(b));
        depth(pa)
            .cmp(&depth(pb))
            .then_with(|| rank(a).cmp(&rank(b)))
            .then_with(|| pa.cmp(pb))
    });

    let mut mounts = base;
    // Right after the mounts, before symlinks and denies: the home is a plain tmpfs by then.
    for (path, content) in &policy.home_files {
        let path_in_home = policy.home.join(path);
        match &policy.tripwire_dir {
            Some(dir) if policy.tripwires.contains(path) => mounts.push(MountOp::Tripwire {
                path: path_in_home,
                source: dir.join(path),
            }),
            _ => mounts.push(MountOp::HomeFile {
                path: path_in_home,
                content: content.clone(),
            }),
        }
    }
    // Symlinks outside every bind are recreated; those inside a bind exist there already.
    for link in &policy.symlinks {
        let inside_bind = policy
            .grants
            .iter()
            .any(|g| link.path.starts_with(&g.path) && link.path != g.path);
        if !inside_bind {
            mounts.push(MountOp::Symlink {
                path: link.path.clone(),
                target: link.target.clone(),
            });
        }
    }
    // Denies last, shallow first, so that nothing mounted later uncovers them.
    let mut denies: Vec<MountOp> = Vec::new();
    for deny in &policy.deny_read {
        denies.push(match deny.kind {
            EntryKind::Dir => MountOp::HideDir {
                path: deny.path.clone(),
            },
            EntryKind::File => MountOp::HideFile {
                path: deny.path.clone(),
            },
        });
    }
    let mut pins: Vec<PathBuf> = Vec::new();
    for deny in &policy.deny_write {
        if policy
            .deny_read
            .iter()
            .any(|d| deny.path.starts_with(&d.path))
        {
            continue;
        }
        denies.push(MountOp::ReadOnly {
            path: deny.path.clone(),
        });
        if let Some(grant) = policy.covering_grant(&deny.path) {
            for ancestor in deny.path.ancestors().skip(1) {
                if ancestor == grant.path || !ancestor.starts_with(&grant.path) {
                    break;
                }
                if !pins.iter().any(|p| p == ancestor) {
                    pins.push(ancestor.to_path_buf());
                }
            }
        }
    }
    denies.extend(pins.into_iter().map(|path| MountOp::Pin { path }));
    // Shallow first; at equal depth a pin before a deny, since both mount on the same place.
    denies.sort_by(|a, b| {
        depth(op_path(a))
            .cmp(&depth(op_path(b)))
            .then_with(|| rank(a).cmp(&rank(b)))
            .then_with(|| op_path(a).cmp(op_path(b)))
    });
    mounts.extend(denies);
    // Last, once every mount point below them exists.
    mounts.extend(
        scaffolds(policy)
            .into_iter()
            .map(|path| MountOp::SealScaffold { path }),
    );
    mounts.push(MountOp::ReadOnlyRoot);

    NativePlan {
        namespaces,
        mounts,
        landlock: landlock_rules(policy),
        landlock_scopes: vec!["abstract_unix_socket", "signal"],
        seccomp: seccomp::rules(false),
    }
}

/// The top-most directories that exist only as scaffolding for grants inside a private tmpfs:
/// for a grant `/tmp/a/b/proj` (no grant at `/tmp/a` or `/tmp/a/b`), `/tmp/a`.
fn scaffolds(policy: &ResolvedPolicy) -> Vec<PathBuf> {
    let tmpfs_roots = [policy.home.as_path(), Path::new("/tmp")];
    let mut out: Vec<PathBuf> = Vec::new();
    for grant in &policy.grants {
        // The private tmpfs the grant sits in, if no other grant lies between them.
        let Some(root) = tmpfs_roots
            .iter()
            .filter(|r| grant.path.starts_with(r) && grant.path != **r)
            .max_by_key(|r| depth(r))
        else {
            continue;
        };
        let between_granted = policy.grants.iter().any(|g| {
            g.path != grant.path && grant.path.starts_with(&g.path) && g.path.starts_with(root)
        });
        if between_granted {
            continue;
        }
        let Some(top) = grant.path.ancestors().find(|a| a.parent() == Some(*root)) else {
            continue;
        };
        if top != grant.path && !out.iter().any(|o| o == top) {
            out.push(top.to_path_buf());
        }
    }
    out
}

/// Whether a grant is copied rather than bound: small read-only regular files under `/etc`.
fn is_copied(grant: &Grant) -> bool {
    grant.access == Access::Read
        && grant.kind == EntryKind::File
        && grant.path.starts_with("/etc")
        && std::fs::metadata(&grant.path).is_ok_and(|m| m.is_file() && m.len() <= 1 << 20)
}

/// The Landlock allowlist for a sandbox whose root was built by [`plan`]: every grant, the
/// private home and `/tmp`, `/proc` read-only and the device nodes read-write. The read grants
/// under `/etc` become one rule on `/etc`: the mount plan already decides which of its entries
/// exist, and one rule instead of thirty keeps the per-spawn cost down.
pub fn landlock_rules(policy: &ResolvedPolicy) -> Vec<LandlockRule> {
    let etc_read = policy
        .grants
        .iter()
        .any(|g| g.access == Access::Read && g.path.starts_with("/etc"));
    let mut rules: Vec<LandlockRule> = policy
        .grants
        .iter()
        .filter(|g| !(g.access == Access::Read && g.path.starts_with("/etc")))
        .map(|g| LandlockRule {
            path: g.path.clone(),
            access: match g.access {
                Access::Read => LandlockAccess::Read,
                Access::Write => LandlockAccess::Write,
            },
        })
        .collect();
    if etc_read {
        rules.push(LandlockRule {
            path: "/etc".into(),
            access: LandlockAccess::Read,
        });
    }
    rules.push(LandlockRule {
        path: "/".into(),
        access: LandlockAccess::ListDir,
    });
    rules.push(LandlockRule {
        path: policy.home.clone(),
        access: LandlockAccess::Write,
    });
    rules.push(LandlockRule {
        path: "/tmp".into(),
        access: LandlockAccess::Write,
    });
    rules.push(LandlockRule {
        path: "/proc".into(),
        access: LandlockAccess::Read,
    });
    rules.push(LandlockRule {
        path: "/dev".into(),
        access: LandlockAccess::Read,
    });
    rules.push(LandlockRule {
        path: "/dev/shm".into(),
        access: LandlockAccess::Write,
    });
    for dev in DEVICES {
        rules.push(LandlockRule {
            path: Path::new("/dev").join(dev),
            access: LandlockAccess::ReadWriteFile,
        });
    }
    rules
}

fn op_path(op: &MountOp) -> &Path {
    match op {
        MountOp::Tmpfs { path }
        | MountOp::Bind { path, .. }
        | MountOp::CopyFile { path }
        | MountOp::Proc { path }
        | MountOp::Dev { path }
        | MountOp::Symlink { path, .. }
        | MountOp::HideFile { path }
        | MountOp::HideDir { path }
        | MountOp::Pin { path }
        | MountOp::ReadOnly { path } => path,
        MountOp::HomeFile { path, .. }
        | MountOp::Tripwire { path, .. }
        | MountOp::SealScaffold { path } => path,
        MountOp::ReadOnlyRoot => Path::new("/"),
    }
}

/// At equal depth a private tmpfs goes first, so that a grant of the same path replaces it.
fn rank(op: &MountOp) -> u8 {
    match op {
        MountOp::Tmpfs { .. } | MountOp::Pin { .. } => 0,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::Limits;
    use crate::resolve::fixtures::grant;
    use crate::resolve::{Deny, Symlink};

    fn policy() -> ResolvedPolicy {
        ResolvedPolicy {
            cwd: "/home/u/proj".into(),
            home: "/home/u".into(),
            grants: vec![
                grant("/home/u/proj", Access::Write, EntryKind::Dir),
                grant("/usr", Access::Read, EntryKind::Dir),
                grant("/nonexistent-etc/x", Access::Read, EntryKind::File),
            ],
            symlinks: vec![Symlink {
                path: "/bin".into(),
                target: "usr/bin".into(),
            }],
            deny_read: vec![Deny {
                path: "/home/u/proj/.env".into(),
                kind: EntryKind::File,
                origin: "**/.env*".into(),
            }],
            deny_write: vec![Deny {
                path: "/home/u/proj/.git/hooks".into(),
                kind: EntryKind::Dir,
                origin: ".git/hooks".into(),
            }],
            unenforced: vec![],
            notes: vec![],
            home_files: vec![],
            tripwires: Vec::new(),
            tripwire_dir: None,
            network: Network::None,
            env: BTreeMap::new(),
            limits: Limits::default(),
        }
    }

    /// The plan as one line per step, the form reviewers read.
    fn render(plan: &NativePlan) -> String {
        plan.mounts
            .iter()
            .map(|op| serde_json::to_string(op).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn mount_plan_snapshot() {
        let plan = plan(&policy());
        let expected = r#"{"op":"tmpfs","path":"/tmp"}
{"op":"dev","path":"/dev"}
{"op":"proc","path":"/proc"}
{"op":"bind","path":"/usr","kind":"dir","writable":false}
{"op":"tmpfs","path":"/home/u"}
{"op":"bind","path":"/nonexistent-etc/x","kind":"file","writable":false}
{"op":"bind","path":"/home/u/proj","kind":"dir","writable":true}
{"op":"symlink","path":"/bin","target":"usr/bin"}
{"op":"pin","path":"/home/u/proj/.git"}
{"op":"hide_file","path":"/home/u/proj/.env"}
{"op":"read_only","path":"/home/u/proj/.git/hooks"}
{"op":"read_only_root"}"#;
        assert_eq!(render(&plan), expected);
        assert_eq!(
            plan.namespaces,
            vec!["user", "mount", "pid", "ipc", "uts", "cgroup", "net"]
        );
    }

    #[test]
    fn scaffolding_in_private_tmpfs_is_sealed() {
        let mut p = policy();
        p.grants
            .push(grant("/tmp/a/b/proj", Access::Write, EntryKind::Dir));
        p.grants
            .push(grant("/tmp/a/c", Access::Read, EntryKind::Dir));
        let plan = plan(&p);
        let seals: Vec<_> = plan
            .mounts
            .iter()
            .filter_map(|op| match op {
                MountOp::SealScaffold { path } => Some(path.clone()),
                _ => None,
            })
            .collect();
        // One seal for both grants; none for `/home/u/proj`, a direct child of the home.
        assert_eq!(seals, vec![PathBuf::from("/tmp/a")]);
    }

    #[test]
    fn host_network_keeps_the_network_namespace_out() {
        let mut p = policy();
        p.network = Network::Host;
        assert!(!plan(&p).namespaces.contains(&"net"));
    }

    #[test]
    fn landlock_rules_mirror_the_grants() {
        let rules = landlock_rules(&policy());
        let find = |p: &str| {
            rules
                .iter()
                .find(|r| r.path == Path::new(p))
                .map(|r| r.access)
        };
        assert_eq!(find("/home/u/proj"), Some(LandlockAccess::Write));
        assert_eq!(find("/usr"), Some(LandlockAccess::Read));
        assert_eq!(find("/home/u"), Some(LandlockAccess::Write));
        assert_eq!(find("/"), Some(LandlockAccess::ListDir));
        assert_eq!(find("/dev/null"), Some(LandlockAccess::ReadWriteFile));
        assert_eq!(find("/etc/shadow"), None);
    }
}
