//! The seccomp rules, as data.
//!
//! One table describes what the filter denies; the Linux backend compiles it to a BPF program
//! (`linux/bpf.rs`) and `policy show` prints it. The filter is a deny-list on top of the other
//! layers: namespaces and Landlock decide what exists and what may be touched, seccomp removes the
//! kernel interfaces that have been used to break out of such boxes or to reach the host anyway.

use serde::Serialize;

/// What the filter does with a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Fail with `EPERM`.
    Eperm,
    /// Fail with `ENOSYS`, so that libc falls back to an older call.
    Enosys,
    /// Fail with `EAFNOSUPPORT`.
    Eafnosupport,
    /// Fail with `EACCES`.
    Eacces,
}

/// An argument condition on a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Always.
    Always,
    /// When the flags argument (`args[0]`, low 32 bits) has any namespace flag.
    NamespaceFlags,
    /// When the request argument (`args[1]`, compared on its low 32 bits, because the kernel
    /// truncates it to an `unsigned int`) is `TIOCSTI` or `TIOCLINUX`.
    TerminalInjection,
    /// When the address family (`args[0]`) is not unix, inet, inet6 or netlink.
    ExoticSocketFamily,
    /// When the address family is inet or inet6 (used without a network namespace).
    InetSocketFamily,
    /// Any syscall number of the x32 ABI (bit 30 set), which would bypass every rule by number.
    X32Abi,
    /// When the mode argument (`args[N]`, low 32 bits) sets the setuid or setgid bit.
    SetidMode(u8),
}

/// One rule of the filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Syscall names this rule applies to (empty for [`Condition::X32Abi`]).
    pub syscalls: Vec<&'static str>,
    /// When it applies.
    pub condition: Condition,
    /// What happens.
    pub action: Action,
    /// Why.
    pub why: &'static str,
}

/// Extra rules where the command shares the host's file system (the `landlock` backend, which
/// has no mount namespace). Landlock has no access right for metadata, so a command could change
/// the mode or extended attributes of any file its uid owns, outside every grant: setuid and
/// setgid bits and extended attributes are refused here. Plain mode bits and timestamps stay
/// allowed (compilers and archivers set them on their own output), a documented gap of that
/// backend.
pub fn shared_filesystem_rules() -> Vec<Rule> {
    vec![
        Rule {
            syscalls: vec!["chmod", "fchmod"],
            condition: Condition::SetidMode(1),
            action: Action::Eperm,
            why: "no mount namespace: a setuid or setgid bit on a file the uid owns, anywhere",
        },
        Rule {
            syscalls: vec!["fchmodat", "fchmodat2"],
            condition: Condition::SetidMode(2),
            action: Action::Eperm,
            why: "no mount namespace: a setuid or setgid bit on a file the uid owns, anywhere",
        },
        Rule {
            syscalls: vec![
                "setxattr",
                "lsetxattr",
                "fsetxattr",
                "setxattrat",
                "removexattr",
                "lremovexattr",
                "fremovexattr",
                "removexattrat",
            ],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "no mount namespace: extended attributes of files outside the grants",
        },
    ]
}

/// The rules for one sandbox. `deny_inet` adds the inet socket rule, used when there is no
/// network namespace to take the network away.
pub fn rules(deny_inet: bool) -> Vec<Rule> {
    let mut rules = vec![
        Rule {
            syscalls: vec![],
            condition: Condition::X32Abi,
            action: Action::Eperm,
            why: "x32 syscall numbers alias the x86_64 ones and would bypass this filter",
        },
        Rule {
            syscalls: vec!["ptrace", "process_vm_readv", "process_vm_writev"],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "reading or steering another process's memory",
        },
        Rule {
            syscalls: vec!["keyctl", "add_key", "request_key"],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "the kernel keyring is not namespaced and may hold credentials",
        },
        Rule {
            syscalls: vec!["bpf", "perf_event_open", "userfaultfd"],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "large kernel attack surface, used by many privilege escalations",
        },
        Rule {
            syscalls: vec!["io_uring_setup", "io_uring_enter", "io_uring_register"],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "io_uring operations are not seen by seccomp and have a long CVE history",
        },
        Rule {
            syscalls: vec![
                "mount",
                "umount2",
                "pivot_root",
                "chroot",
                "move_mount",
                "open_tree",
                "fsopen",
                "fsconfig",
                "fsmount",
                "fspick",
                "mount_setattr",
            ],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "changing the mount tree could undo the hidden paths",
        },
        Rule {
            syscalls: vec!["setns"],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "joining another namespace",
        },
        Rule {
            syscalls: vec!["unshare", "clone"],
            condition: Condition::NamespaceFlags,
            action: Action::Eperm,
            why: "nested namespaces give back capabilities over a new mount tree",
        },
        Rule {
            syscalls: vec!["clone3"],
            condition: Condition::Always,
            action: Action::Enosys,
            why: "its flags live in memory seccomp cannot inspect; ENOSYS makes libc use clone",
        },
        Rule {
            syscalls: vec!["ioctl"],
            condition: Condition::TerminalInjection,
            action: Action::Eperm,
            why: "TIOCSTI/TIOCLINUX push keystrokes into the user's terminal",
        },
        Rule {
            syscalls: vec![
                "init_module",
                "finit_module",
                "delete_module",
                "kexec_load",
                "kexec_file_load",
                "reboot",
                "swapon",
                "swapoff",
                "acct",
                "quotactl",
                "syslog",
                "iopl",
                "ioperm",
                "open_by_handle_at",
                "name_to_handle_at",
                "lookup_dcookie",
                "uselib",
            ],
            condition: Condition::Always,
            action: Action::Eperm,
            why: "system administration and file-handle escapes",
        },
        Rule {
            syscalls: vec!["socket"],
            condition: Condition::ExoticSocketFamily,
            action: Action::Eafnosupport,
            why: "rarely used socket families carry most socket CVEs",
        },
    ];
    if deny_inet {
        rules.push(Rule {
            syscalls: vec!["socket"],
            condition: Condition::InetSocketFamily,
            action: Action::Eacces,
            why: "no network namespace: network `none` is enforced by refusing inet sockets",
        });
    }
    rules
}
