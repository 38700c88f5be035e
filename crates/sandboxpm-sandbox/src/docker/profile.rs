//! The seccomp profile of the docker backend: an explicit **allowlist**, as Docker's JSON format.
//!
//! The native backend uses a deny-list ([`crate::seccomp::rules`]) because its namespaces and
//! Landlock already decide what exists. Docker's own default profile is an allowlist too, but a
//! generous one that changes with the daemon's version; this one is ours, so that what a
//! container may call is part of `sandboxpm`'s policy and reviewed with it.
//!
//! Everything not listed fails with `EPERM` (`defaultAction: SCMP_ACT_ERRNO`). The list is what
//! `sh`, coreutils, `node`, `python3`, `cc`/`ld` and `git` call; it leaves out, among others,
//! `ptrace`, `process_vm_*`, `kcmp`, `pidfd_getfd`, `keyctl`/`add_key`/`request_key`, `bpf`,
//! `perf_event_open`, `userfaultfd`, `io_uring_*`, the mount family (old and new API),
//! `pivot_root`, `chroot`, `setns`, `open_by_handle_at`, `fanotify_init`, kernel modules, kexec,
//! reboot, swap, clock setting, `personality`, NUMA policy calls and `vhangup` (see the test that
//! compares this list with the native deny table).
//!
//! Three syscalls are allowed only with some arguments. libseccomp lets an unconditional rule
//! override conditional ones for the same syscall, so each of them is allowed **only** through
//! conditional rules:
//! - `clone` and `unshare` without namespace flags (nested namespaces give a fresh set of
//!   capabilities over a new mount tree); `clone3` fails with `ENOSYS` because its flags live in
//!   memory seccomp cannot read, and libc then falls back to `clone`;
//! - `socket` for unix, inet, inet6 and netlink only (rare families carry most socket CVEs);
//! - `ioctl` for every request except `TIOCSTI` and `TIOCLINUX` (keystroke injection into a
//!   terminal), compared on the low 32 bits, as the kernel truncates the request to an
//!   `unsigned int`. Seccomp has no "masked not-equal", so the complement is written as masked
//!   equalities (see [`ioctl_rules`]).
//!
//! Only the native architecture is listed: 32-bit and x32 calls match nothing and are refused.

use serde_json::{Value, json};

/// Syscalls allowed with any arguments.
#[rustfmt::skip]
pub const ALLOWED: &[&str] = &[
    // Files and directories.
    "access", "chdir", "chmod", "chown", "close", "close_range", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir",
    "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "flock",
    "fstat", "fstatfs", "fsync", "ftruncate", "futimesat", "getcwd", "getdents", "getdents64",
    "lchown", "link", "linkat", "lseek", "lstat", "mkdir", "mkdirat", "mknod", "mknodat",
    "newfstatat", "open", "openat", "openat2", "pread64", "preadv", "preadv2", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "rename",
    "renameat", "renameat2", "rmdir", "sendfile", "splice", "stat", "statfs", "statx", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate", "umask", "unlink",
    "unlinkat", "utime", "utimensat", "utimes", "write", "writev",
    // Extended attributes.
    "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "lgetxattr",
    "listxattr", "llistxattr", "lremovexattr", "lsetxattr", "removexattr", "setxattr",
    // Waiting for events.
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
    "eventfd", "eventfd2", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "pause", "poll", "ppoll", "pselect6", "select", "signalfd", "signalfd4",
    "timerfd_create", "timerfd_gettime", "timerfd_settime",
    // Asynchronous I/O (the old interface; io_uring is refused).
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
    // Memory.
    "brk", "cachestat", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "mincore",
    "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mremap", "mseal", "msync", "munlock",
    "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
    // Processes and threads (clone and unshare: see the conditional rules).
    "arch_prctl", "execve", "execveat", "exit", "exit_group", "fork", "get_robust_list",
    "getcpu", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrusage", "getsid",
    "gettid", "ioprio_get", "ioprio_set", "prctl", "prlimit64", "rseq", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "set_robust_list", "set_thread_area",
    "set_tid_address", "setpgid", "setpriority", "setsid", "vfork", "wait4", "waitid",
    // A process may confine itself further (Chromium, systemd-run, sandboxpm itself).
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    // Credentials (no capabilities are held, so only the unprivileged transitions succeed).
    "capget", "capset", "getegid", "geteuid", "getgid", "getgroups", "getresgid", "getresuid",
    "getuid", "setfsgid", "setfsuid", "setgid", "setgroups", "setregid", "setresgid",
    "setresuid", "setreuid", "setuid",
    // Signals (the container's pid namespace holds only the command's own processes).
    "kill", "pidfd_open", "pidfd_send_signal", "restart_syscall", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_tgsigqueueinfo", "sigaltstack", "tgkill", "tkill",
    // Time.
    "alarm", "clock_getres", "clock_gettime", "clock_nanosleep", "getitimer", "gettimeofday",
    "nanosleep", "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_settime", "times",
    // Synchronisation and System V IPC (private IPC namespace).
    "futex", "futex_waitv", "msgctl", "msgget", "msgrcv", "msgsnd", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "semctl", "semget",
    "semop", "semtimedop", "shmat", "shmctl", "shmdt", "shmget",
    // Sockets (socket itself: see the conditional rules).
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
    "recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown",
    "socketpair",
    // Pipes, limits, system information, randomness.
    "getrandom", "getrlimit", "pipe", "pipe2", "setrlimit", "sysinfo", "uname",
];

/// `CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET`.
const NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// `CLONE_NEWTIME`, which only `unshare` accepts (for `clone` the bit is part of the exit signal).
const CLONE_NEWTIME: u64 = 0x80;
/// `AF_UNIX`, `AF_INET`, `AF_INET6`, `AF_NETLINK`.
pub const SOCKET_FAMILIES: &[u64] = &[1, 2, 10, 16];
/// `TIOCSTI`, `TIOCLINUX`.
pub const TERMINAL_INJECTION: &[u64] = &[0x5412, 0x541C];
/// `ENOSYS`.
const ENOSYS: u64 = 38;

/// The profile, as the JSON Docker takes in `SecurityOpt: ["seccomp=<json>"]`.
pub fn profile() -> Value {
    let mut syscalls = vec![json!({ "names": ALLOWED, "action": "SCMP_ACT_ALLOW" })];
    syscalls.push(json!({
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [masked_eq(0, NAMESPACE_FLAGS, 0)],
    }));
    syscalls.push(json!({
        "names": ["unshare"],
        "action": "SCMP_ACT_ALLOW",
        "args": [masked_eq(0, NAMESPACE_FLAGS | CLONE_NEWTIME, 0)],
    }));
    syscalls.push(json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS }));
    for family in SOCKET_FAMILIES {
        syscalls.push(json!({
            "names": ["socket"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": family, "valueTwo": 0, "op": "SCMP_CMP_EQ" }],
        }));
    }
    for (mask, value) in ioctl_rules(TERMINAL_INJECTION) {
        syscalls.push(json!({
            "names": ["ioctl"],
            "action": "SCMP_ACT_ALLOW",
            "args": [masked_eq(1, mask, value)],
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": [native_arch()],
        "syscalls": syscalls,
    })
}

fn masked_eq(index: u32, mask: u64, value: u64) -> Value {
    json!({ "index": index, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ" })
}

fn native_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "SCMP_ARCH_AARCH64"
    } else {
        "SCMP_ARCH_X86_64"
    }
}

/// `(mask, value)` pairs whose union, as `arg & mask == value`, is every 32-bit request except
/// `denied` (and only those): one rule per bit on which all denied values agree ("this bit
/// differs"), plus one rule per combination of the remaining bits that no denied value has.
/// The remaining bits must be few (3 for `TIOCSTI`/`TIOCLINUX`).
pub fn ioctl_rules(denied: &[u64]) -> Vec<(u64, u64)> {
    let Some(first) = denied.first() else {
        return vec![(0, 0)];
    };
    let mut rules = Vec::new();
    let mut varying = Vec::new();
    for bit in 0..32 {
        let b = 1u64 << bit;
        if denied.iter().all(|v| v & b == first & b) {
            rules.push((b, !first & b));
        } else {
            varying.push(b);
        }
    }
    let mask: u64 = varying.iter().sum();
    for pattern in 0u64..(1 << varying.len()) {
        let value: u64 = varying
            .iter()
            .enumerate()
            .filter(|(i, _)| pattern >> i & 1 == 1)
            .map(|(_, b)| b)
            .sum();
        if !denied.iter().any(|v| v & mask == value) {
            rules.push((mask, value));
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::seccomp::{Condition, rules};

    /// What the profile does with `name(args)`, evaluated like libseccomp: a matching rule
    /// allows or returns its errno, otherwise the default action (EPERM).
    fn decide(profile: &Value, name: &str, args: &[u64]) -> Result<(), u64> {
        let mut errno = None;
        for rule in profile["syscalls"].as_array().unwrap() {
            if !rule["names"].as_array().unwrap().iter().any(|n| n == name) {
                continue;
            }
            let matches = rule["args"].as_array().is_none_or(|conds| {
                conds.iter().all(|c| {
                    let arg = args[c["index"].as_u64().unwrap() as usize];
                    let (v, v2) = (
                        c["value"].as_u64().unwrap(),
                        c["valueTwo"].as_u64().unwrap(),
                    );
                    match c["op"].as_str().unwrap() {
                        "SCMP_CMP_MASKED_EQ" => arg & v == v2,
                        "SCMP_CMP_EQ" => arg == v,
                        op => panic!("{op}"),
                    }
                })
            });
            if matches {
                match rule["action"].as_str().unwrap() {
                    "SCMP_ACT_ALLOW" => return Ok(()),
                    _ => errno = Some(rule["errnoRet"].as_u64().unwrap_or(1)),
                }
            }
        }
        Err(errno.unwrap_or(1))
    }

    #[test]
    fn terminal_injection_is_refused_on_the_low_32_bits_and_nothing_else_is() {
        let p = profile();
        for request in [0x5412u64, 0x541C, 0x1_0000_5412, 0xFFFF_FFFF_0000_541C] {
            assert_eq!(decide(&p, "ioctl", &[0, request]), Err(1), "{request:#x}");
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut probes = vec![
            0u64,
            0x5401,
            0x5410,
            0x5413,
            0x541B,
            0x541D,
            0x5416,
            0x5496,
            0xFFFF_FFFF,
        ];
        for _ in 0..20_000 {
            // xorshift: arbitrary requests, plus ones close to the denied values.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            probes.push(state);
            probes.push(0x5400 | (state & 0xFF));
        }
        for request in probes {
            let denied = TERMINAL_INJECTION.contains(&(request & 0xFFFF_FFFF));
            assert_eq!(
                decide(&p, "ioctl", &[0, request]).is_err(),
                denied,
                "{request:#x}"
            );
        }
    }

    #[test]
    fn namespaces_and_clone3_are_refused() {
        let p = profile();
        let sigchld = 17;
        assert_eq!(decide(&p, "clone", &[sigchld]), Ok(()));
        // A thread: CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | ...
        assert_eq!(decide(&p, "clone", &[0x003D_0F00]), Ok(()));
        for flag in [0x1000_0000u64, 0x0002_0000, 0x4000_0000, 0x2000_0000] {
            assert_eq!(decide(&p, "clone", &[flag | sigchld]), Err(1));
            assert_eq!(decide(&p, "unshare", &[flag]), Err(1));
        }
        assert_eq!(decide(&p, "unshare", &[0x80]), Err(1), "CLONE_NEWTIME");
        assert_eq!(decide(&p, "unshare", &[0x400]), Ok(()), "CLONE_FILES");
        assert_eq!(decide(&p, "clone3", &[0, 0]), Err(38));
    }

    #[test]
    fn only_common_socket_families() {
        let p = profile();
        for family in [1, 2, 10, 16] {
            assert_eq!(decide(&p, "socket", &[family]), Ok(()));
        }
        for family in [
            17, /* packet */
            38, /* alg */
            40, /* vsock */
            4,  /* ipx */
        ] {
            assert_eq!(decide(&p, "socket", &[family]), Err(1));
        }
    }

    #[test]
    fn nothing_the_native_filter_denies_is_allowed() {
        let p = profile();
        for rule in rules(true) {
            if rule.condition != Condition::Always {
                continue;
            }
            for name in rule.syscalls {
                assert!(decide(&p, name, &[0; 6]).is_err(), "{name} is allowed");
            }
        }
        for name in [
            "pidfd_getfd",
            "kcmp",
            "process_madvise",
            "fanotify_init",
            "personality",
            "settimeofday",
            "clock_settime",
            "adjtimex",
            "sethostname",
            "vhangup",
            "set_mempolicy",
            "move_pages",
            "migrate_pages",
            "statmount",
            "listmount",
        ] {
            assert!(decide(&p, name, &[0; 6]).is_err(), "{name} is allowed");
        }
    }

    #[test]
    fn conditional_syscalls_have_no_unconditional_rule() {
        let listed: Vec<&&str> = ALLOWED
            .iter()
            .filter(|n| ["clone", "clone3", "unshare", "socket", "ioctl"].contains(n))
            .collect();
        assert!(listed.is_empty(), "{listed:?}");
        let mut sorted = ALLOWED.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALLOWED.len(), "duplicates in the allowlist");
    }
}
