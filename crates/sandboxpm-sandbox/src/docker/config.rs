//! The docker translation: a resolved policy as the JSON body of `POST /containers/create`.
//!
//! It starts from the native mount plan ([`native::plan`]), so that every backend enforces the
//! same list of grants, denies, pins and seals, and maps each step onto what a container offers:
//!
//! | native step | in the container |
//! | --- | --- |
//! | `tmpfs` (HOME, /tmp) | a tmpfs owned by the command's uid/gid (`HostConfig.Tmpfs`) |
//! | `bind`, `copy_file` | a bind mount of the host path at the same place, read-only unless written |
//! | `symlink` (`/bin -> usr/bin`) | a bind of the link (the daemon follows it) at the link's place |
//! | `hide_file` | an empty read-only file bound over it |
//! | `hide_dir` | an empty read-only tmpfs over it |
//! | `pin`, `read_only` | the path bound onto itself, read-write (a mount point cannot be renamed) or read-only |
//! | `seal_scaffold` | a read-only bind of a skeleton holding only the mount points below it |
//! | `home_file` | the decoy, as a read-only file bound into the private home |
//! | `read_only_root` | `ReadonlyRootfs` |
//! | `proc`, `dev` | the daemon's own (a private `/proc` with masked paths, a minimal `/dev`) |
//!
//! The daemon mounts in order of depth, so the plan's order only matters between two steps on the
//! same path, where the later one wins here as it covers the earlier one natively.
//!
//! Host files that the daemon must bind (the empty file, decoys, skeletons) are described as
//! [`ScratchEntry`]s under a scratch directory that the caller names and creates; the function
//! itself touches nothing, which is what lets it be snapshot-tested.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use crate::Command;
use crate::native::{self, MountOp};
use crate::policy::Network;
use crate::resolve::{EntryKind, ResolvedPolicy};

/// The `PidsLimit` when the policy sets no process limit.
pub const DEFAULT_PIDS_LIMIT: u64 = 1024;
/// The memory limit (bytes) when the policy sets none.
pub const DEFAULT_MEMORY: u64 = 4 << 30;
/// The label every sandbox container carries.
pub const LABEL: &str = "io.sandboxpm.sandbox";

/// One mount of the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Mount {
    /// A host path bound at `target`.
    Bind {
        /// The host path (a symlink is followed by the daemon).
        source: PathBuf,
        /// Where it appears inside.
        target: PathBuf,
        /// Read-only (non-recursively: host mounts below it are not carried in).
        read_only: bool,
        /// File or directory, for skeletons.
        kind: EntryKind,
    },
    /// A private, writable tmpfs owned by the command's user (HOME, /tmp).
    Tmpfs {
        /// Mount point.
        target: PathBuf,
    },
    /// An empty, read-only tmpfs (a hidden directory).
    EmptyDir {
        /// Mount point.
        target: PathBuf,
    },
}

impl Mount {
    /// Where the mount appears inside.
    pub fn target(&self) -> &Path {
        match self {
            Mount::Bind { target, .. } | Mount::Tmpfs { target } | Mount::EmptyDir { target } => {
                target
            }
        }
    }

    fn kind(&self) -> EntryKind {
        match self {
            Mount::Bind { kind, .. } => *kind,
            _ => EntryKind::Dir,
        }
    }
}

/// Something the runner creates under the scratch directory before creating the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ScratchEntry {
    /// A directory (skeletons).
    Dir {
        /// Path under the scratch directory.
        path: PathBuf,
    },
    /// A read-only file with this content.
    File {
        /// Path under the scratch directory.
        path: PathBuf,
        /// Its content.
        content: String,
    },
}

/// The complete translation.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The body of `POST /containers/create`.
    pub config: Value,
    /// The mounts it contains, in plan order (for checks and display).
    pub mounts: Vec<Mount>,
    /// What must exist under the scratch directory.
    pub scratch: Vec<ScratchEntry>,
}

/// Why a policy cannot be translated for Docker.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// A path or argument cannot be written in the API's JSON.
    #[error("the docker backend cannot pass {what}: it is not valid UTF-8")]
    NotUtf8 {
        /// Which value.
        what: String,
    },
    /// A grant that a container cannot receive.
    #[error("the docker backend cannot grant {}: {why}", path.display())]
    Target {
        /// The path.
        path: PathBuf,
        /// Why not.
        why: &'static str,
    },
    /// A network allowlist: not built for this backend.
    #[error(
        "a network allowlist (allow-net) is not supported by the docker backend; use the native backend, or network none or host"
    )]
    NetworkAllow,
}

/// What the translation needs besides the policy and the command.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The command's uid (the caller's).
    pub uid: u32,
    /// The command's gid (the caller's).
    pub gid: u32,
    /// The image.
    pub image: &'a str,
    /// The host directory holding the [`ScratchEntry`]s.
    pub scratch: &'a Path,
    /// A minimal init (tini) visible inside, run as pid 1 so that the command is not: pid 1
    /// ignores every signal it has no handler for, even a `SIGKILL` it sends itself. Docker's own
    /// `Init` cannot be used: it mounts the init at `/sbin/docker-init`, inside the read-only
    /// `/sbin` grant.
    pub init: Option<&'a Path>,
}

/// Translates `policy` and `cmd` into the body of `POST /containers/create`.
pub fn container_config(
    policy: &ResolvedPolicy,
    cmd: &Command,
    options: &Options<'_>,
) -> Result<Translation, TranslateError> {
    let Options {
        uid,
        gid,
        image,
        scratch,
        init,
    } = *options;
    let network = match &policy.network {
        Network::None => "none",
        Network::Host => "host",
        Network::Allow(_) => return Err(TranslateError::NetworkAllow),
    };
    let (mounts, entries) = mounts(policy, scratch)?;
    for mount in &mounts {
        check_target(mount.target())?;
    }

    let mut tmpfs = serde_json::Map::new();
    let mut docker_mounts = Vec::new();
    for mount in &mounts {
        match mount {
            Mount::Tmpfs { target } => {
                // The daemon defaults to noexec; scripts run binaries they build in /tmp.
                let mode = if target == Path::new("/tmp") {
                    "1777"
                } else {
                    "0700"
                };
                tmpfs.insert(
                    utf8(target, "a mount point")?.to_string(),
                    json!(format!(
                        "rw,nosuid,nodev,exec,uid={uid},gid={gid},mode={mode}"
                    )),
                );
            }
            Mount::EmptyDir { target } => docker_mounts.push(json!({
                "Type": "tmpfs",
                "Target": utf8(target, "a mount point")?,
                "ReadOnly": true,
                "TmpfsOptions": { "SizeBytes": 4096, "Mode": 0o555 },
            })),
            Mount::Bind {
                source,
                target,
                read_only,
                ..
            } => {
                let mut m = json!({
                    "Type": "bind",
                    "Source": utf8(source, "a bind source")?,
                    "Target": utf8(target, "a mount point")?,
                    "ReadOnly": read_only,
                });
                if *read_only {
                    // Docker before 25 makes only the top of a bind read-only: a host mount below
                    // it would stay writable, so none is carried in.
                    m["BindOptions"] = json!({ "NonRecursive": true });
                }
                docker_mounts.push(m);
            }
        }
    }

    let mut entrypoint = Vec::new();
    if let Some(init) = init {
        entrypoint.push(utf8(init, "the init path")?);
        entrypoint.push("--");
    }
    entrypoint.push(utf8(&cmd.program, "the program path")?);
    let args = cmd
        .argv
        .iter()
        .skip(1)
        .map(|a| {
            a.to_str().ok_or_else(|| TranslateError::NotUtf8 {
                what: "an argument".into(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let env: Vec<String> = policy.env.iter().map(|(k, v)| format!("{k}={v}")).collect();

    let limits = &policy.limits;
    let memory = limits.max_memory.unwrap_or(DEFAULT_MEMORY);
    let mut ulimits = vec![json!({ "Name": "core", "Soft": 0, "Hard": 0 })];
    if let Some(size) = limits.max_file_size {
        ulimits.push(json!({ "Name": "fsize", "Soft": size, "Hard": size }));
    }
    let seccomp = serde_json::to_string(&super::profile::profile()).unwrap_or_default();

    let config = json!({
        "Image": image,
        // The entrypoint is ours, so that an image's own entrypoint never runs first; argv[0]
        // becomes the program's path (the API has no separate argv[0]).
        "Entrypoint": entrypoint,
        "Cmd": args,
        "Env": env,
        "WorkingDir": utf8(&policy.cwd, "the working directory")?,
        "User": format!("{uid}:{gid}"),
        "Hostname": "sandboxpm",
        // No stdin: the container never holds the caller's terminal, output is relayed.
        "AttachStdin": false,
        "AttachStdout": true,
        "AttachStderr": true,
        "OpenStdin": false,
        "StdinOnce": false,
        "Tty": false,
        "Labels": { LABEL: "1" },
        "HostConfig": {
            "NetworkMode": network,
            "ReadonlyRootfs": true,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges", format!("seccomp={seccomp}")],
            "Privileged": false,
            // See `Options::init`.
            "Init": false,
            "IpcMode": "private",
            "CgroupnsMode": "private",
            "PidsLimit": limits.max_processes.unwrap_or(DEFAULT_PIDS_LIMIT),
            "Memory": memory,
            "MemorySwap": memory,
            "Ulimits": ulimits,
            // Output is relayed live through the attach stream; nothing is kept on the daemon.
            "LogConfig": { "Type": "none", "Config": {} },
            // Removed by the daemon when it exits, even if sandboxpm is gone by then.
            "AutoRemove": true,
            "Tmpfs": tmpfs,
            "Mounts": docker_mounts,
        },
    });
    Ok(Translation {
        config,
        mounts,
        scratch: entries,
    })
}

/// The container's mounts and the scratch files they need, from the native plan.
pub fn mounts(
    policy: &ResolvedPolicy,
    scratch: &Path,
) -> Result<(Vec<Mount>, Vec<ScratchEntry>), TranslateError> {
    let plan = native::plan(policy);
    let mut mounts: Vec<Mount> = Vec::new();
    let mut entries: BTreeSet<ScratchEntry> = BTreeSet::new();
    let mut seals: Vec<PathBuf> = Vec::new();
    let mut home_files = 0;
    let bind = |source: &Path, target: &Path, read_only: bool, kind: EntryKind| Mount::Bind {
        source: source.to_path_buf(),
        target: target.to_path_buf(),
        read_only,
        kind,
    };
    for op in &plan.mounts {
        let mount = match op {
            MountOp::Tmpfs { path } => Mount::Tmpfs {
                target: path.clone(),
            },
            MountOp::Bind {
                path,
                kind,
                writable,
            } => bind(path, path, !writable, *kind),
            MountOp::CopyFile { path } => bind(path, path, true, EntryKind::File),
            MountOp::Proc { .. } | MountOp::Dev { .. } | MountOp::ReadOnlyRoot => continue,
            MountOp::Symlink { path, target } => {
                let real = normalize(&path.parent().unwrap_or(Path::new("/")).join(target));
                let grant = policy.covering_grant(&real);
                let read_only = grant.is_none_or(|g| g.access != crate::resolve::Access::Write);
                let kind = grant
                    .filter(|g| g.path == real)
                    .map_or(EntryKind::Dir, |g| g.kind);
                bind(path, path, read_only, kind)
            }
            MountOp::HideFile { path } => {
                entries.insert(ScratchEntry::File {
                    path: "empty".into(),
                    content: String::new(),
                });
                bind(&scratch.join("empty"), path, true, EntryKind::File)
            }
            MountOp::HideDir { path } => Mount::EmptyDir {
                target: path.clone(),
            },
            MountOp::Pin { path } => bind(path, path, false, EntryKind::Dir),
            MountOp::ReadOnly { path } => {
                let kind = policy
                    .deny_write
                    .iter()
                    .find(|d| &d.path == path)
                    .map_or(EntryKind::Dir, |d| d.kind);
                bind(path, path, true, kind)
            }
            MountOp::SealScaffold { path } => {
                seals.push(path.clone());
                continue;
            }
            MountOp::HomeFile { path, content } => {
                let name = format!("home-{home_files}");
                home_files += 1;
                entries.insert(ScratchEntry::File {
                    path: name.clone().into(),
                    content: content.clone(),
                });
                bind(&scratch.join(name), path, true, EntryKind::File)
            }
            MountOp::Tripwire { path, source } => bind(source, path, true, EntryKind::File),
        };
        // A later step on the same path covers the earlier one.
        mounts.retain(|m| m.target() != mount.target());
        mounts.push(mount);
    }
    // Nothing can be mounted inside a hidden directory (its tmpfs is read-only), and nothing
    // needs to be: it is hidden.
    let hidden: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| matches!(m, Mount::EmptyDir { .. }))
        .map(|m| m.target().to_path_buf())
        .collect();
    mounts.retain(|m| {
        !hidden
            .iter()
            .any(|h| m.target() != h && m.target().starts_with(h))
    });

    // A seal is a read-only skeleton holding exactly the mount points directly below it.
    for (i, seal) in seals.iter().enumerate() {
        let name = PathBuf::from(format!("scaffold-{i}"));
        entries.insert(ScratchEntry::Dir { path: name.clone() });
        let below: Vec<&Mount> = mounts
            .iter()
            .filter(|m| m.target() != seal && m.target().starts_with(seal))
            .collect();
        for m in &below {
            let nested = below
                .iter()
                .any(|n| n.target() != m.target() && m.target().starts_with(n.target()));
            let Ok(rel) = m.target().strip_prefix(seal) else {
                continue;
            };
            if nested {
                continue;
            }
            let mut dir = name.clone();
            let components: Vec<_> = rel.components().collect();
            for (j, c) in components.iter().enumerate() {
                dir.push(c);
                if j + 1 < components.len() || m.kind() == EntryKind::Dir {
                    entries.insert(ScratchEntry::Dir { path: dir.clone() });
                } else {
                    entries.insert(ScratchEntry::File {
                        path: dir.clone(),
                        content: String::new(),
                    });
                }
            }
        }
        mounts.retain(|m| m.target() != seal);
        mounts.push(bind(&scratch.join(&name), seal, true, EntryKind::Dir));
    }
    Ok((mounts, entries.into_iter().collect()))
}

/// The first mount point the daemon would have to create on the host: a target missing inside
/// a bind (where `exists` says whether a host path exists). Docker creates a missing mount point,
/// and inside a bind that is the host's file system: a "ghost" file, or an error if read-only.
/// Docker's own mounts (`/etc/hosts`...) are checked too, unless the policy mounts them itself.
pub fn host_creation(mounts: &[Mount], exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let own: Vec<PathBuf> = [
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
        "/dev",
    ]
    .iter()
    .map(PathBuf::from)
    .filter(|p| !mounts.iter().any(|m| m.target() == p))
    .collect();
    let targets = mounts
        .iter()
        .map(Mount::target)
        .chain(own.iter().map(PathBuf::as_path));
    for target in targets {
        let enclosing = mounts
            .iter()
            .filter(|m| m.target() != target && target.starts_with(m.target()))
            .max_by_key(|m| m.target().components().count());
        if let Some(Mount::Bind {
            source,
            target: base,
            ..
        }) = enclosing
        {
            let Ok(rel) = target.strip_prefix(base) else {
                continue;
            };
            let host = source.join(rel);
            if !exists(&host) {
                return Some(target.to_path_buf());
            }
        }
    }
    None
}

/// Targets a container cannot take: the root, and the daemon's `/proc` (a host `/proc` would
/// show every host process).
fn check_target(target: &Path) -> Result<(), TranslateError> {
    if target == Path::new("/") {
        return Err(TranslateError::Target {
            path: target.into(),
            why: "a container cannot bind over its root",
        });
    }
    if target.starts_with("/proc") {
        return Err(TranslateError::Target {
            path: target.into(),
            why: "the container has its own /proc",
        });
    }
    Ok(())
}

fn utf8<'a>(path: &'a Path, what: &str) -> Result<&'a str, TranslateError> {
    path.to_str().ok_or_else(|| TranslateError::NotUtf8 {
        what: format!("{what} ({})", path.display()),
    })
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::Limits;
    use crate::resolve::fixtures::grant;
    use crate::resolve::{Access, Deny, Symlink};

    /// A project under /tmp (so its parent is scaffolding), a hidden file and directory, a
    /// missing `.git/hooks` (so `.git` is read-only and pinned), decoys, a symlinked `/bin`.
    fn policy() -> ResolvedPolicy {
        ResolvedPolicy {
            cwd: "/tmp/t/proj".into(),
            home: "/tmp/t/home".into(),
            grants: vec![
                grant("/nonexistent-etc/passwd", Access::Read, EntryKind::File),
                grant("/tmp/t/proj", Access::Write, EntryKind::Dir),
                grant("/usr", Access::Read, EntryKind::Dir),
            ],
            symlinks: vec![Symlink {
                path: "/bin".into(),
                target: "usr/bin".into(),
            }],
            deny_read: vec![
                Deny {
                    path: "/tmp/t/proj/.env".into(),
                    kind: EntryKind::File,
                    origin: "**/.env*".into(),
                },
                Deny {
                    path: "/tmp/t/proj/secrets".into(),
                    kind: EntryKind::Dir,
                    origin: "secrets".into(),
                },
            ],
            deny_write: vec![
                Deny {
                    path: "/tmp/t/proj/.git".into(),
                    kind: EntryKind::Dir,
                    origin: ".git/hooks".into(),
                },
                Deny {
                    path: "/tmp/t/proj/.git/config".into(),
                    kind: EntryKind::File,
                    origin: ".git/config".into(),
                },
            ],
            unenforced: vec![],
            notes: vec![],
            home_files: vec![(".ssh/id_rsa".into(), "decoy".into())],
            tripwires: Vec::new(),
            tripwire_dir: None,
            network: Network::None,
            env: BTreeMap::from([
                ("HOME".into(), "/tmp/t/home".into()),
                ("PATH".into(), "/usr/bin:/bin".into()),
            ]),
            limits: Limits {
                timeout_secs: Some(30),
                max_processes: Some(256),
                max_file_size: Some(1 << 20),
                max_memory: None,
            },
        }
    }

    fn command() -> Command {
        Command {
            program: "/usr/bin/sh".into(),
            argv: vec!["sh".into(), "-c".into(), "echo hi".into()],
        }
    }

    fn options() -> Options<'static> {
        Options {
            uid: 1000,
            gid: 1000,
            image: "sandboxpm-base:1",
            scratch: Path::new("/scratch"),
            init: Some(Path::new("/usr/bin/docker-init")),
        }
    }

    #[test]
    fn container_config_snapshot() {
        let t = container_config(&policy(), &command(), &options()).unwrap();
        let mut config = t.config.clone();
        // The profile has its own tests; here it only has to be the one passed.
        let profile = serde_json::to_string(&super::super::profile::profile()).unwrap();
        assert_eq!(
            config["HostConfig"]["SecurityOpt"][1],
            json!(format!("seccomp={profile}"))
        );
        config["HostConfig"]["SecurityOpt"][1] = json!("seccomp=<profile::profile()>");
        let rendered = format!(
            "{}\n{}\n",
            serde_json::to_string_pretty(&config).unwrap(),
            serde_json::to_string_pretty(&t.scratch).unwrap()
        );
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/docker/container_config.snap");
        if std::env::var_os("SANDBOXPM_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&file, &rendered).unwrap();
        }
        let expected = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(
            rendered,
            expected,
            "snapshot differs (SANDBOXPM_UPDATE_SNAPSHOTS=1 rewrites {})",
            file.display()
        );
    }

    #[test]
    fn an_allowlist_network_is_refused_and_host_is_passed() {
        let mut p = policy();
        p.network = Network::Allow(vec!["example.org:443".into()]);
        let err = container_config(&p, &command(), &options()).unwrap_err();
        assert!(err.to_string().contains("allow-net"), "{err}");
        p.network = Network::Host;
        let t = container_config(&p, &command(), &options()).unwrap();
        assert_eq!(t.config["HostConfig"]["NetworkMode"], "host");
    }

    #[test]
    fn grants_a_container_cannot_take_are_refused() {
        for path in ["/", "/proc", "/proc/1"] {
            let mut p = policy();
            p.grants.push(grant(path, Access::Read, EntryKind::Dir));
            let err = container_config(&p, &command(), &options()).unwrap_err();
            assert!(err.to_string().contains(path), "{err}");
        }
    }

    #[test]
    fn nothing_is_mounted_inside_a_hidden_directory() {
        let mut p = policy();
        p.deny_read.push(Deny {
            path: "/tmp/t/proj/secrets/key".into(),
            kind: EntryKind::File,
            origin: "secrets/key".into(),
        });
        let (mounts, _) = mounts(&p, Path::new("/scratch")).unwrap();
        let secrets = Path::new("/tmp/t/proj/secrets");
        let inside: Vec<_> = mounts
            .iter()
            .filter(|m| m.target().starts_with(secrets) && m.target() != secrets)
            .collect();
        assert_eq!(inside, Vec::<&Mount>::new());
        assert!(mounts.iter().any(|m| m.target() == secrets));
    }

    #[test]
    fn mount_points_missing_inside_a_bind_are_reported() {
        let (mounts, _) = mounts(&policy(), Path::new("/scratch")).unwrap();
        // The host has every granted and denied path, and the scratch entries exist.
        assert_eq!(host_creation(&mounts, |_| true), None);
        // A HOME inside the project that does not exist on the host would be created there.
        let mut p = policy();
        p.home = "/tmp/t/proj/home".into();
        let (mounts, _) = super::mounts(&p, Path::new("/scratch")).unwrap();
        let exists = |p: &Path| !p.starts_with("/tmp/t/proj/home");
        assert_eq!(
            host_creation(&mounts, exists),
            Some(PathBuf::from("/tmp/t/proj/home"))
        );
        // Docker's own /etc/hosts inside a granted /etc that lacks it.
        let mounts = vec![Mount::Bind {
            source: "/etc".into(),
            target: "/etc".into(),
            read_only: true,
            kind: EntryKind::Dir,
        }];
        assert_eq!(
            host_creation(&mounts, |p| p != Path::new("/etc/hostname")),
            Some(PathBuf::from("/etc/hostname"))
        );
    }
}
