//! Compiles the seccomp rule table of [`crate::seccomp`] to a classic BPF program.
//!
//! The program is small enough to write by hand, and writing it ourselves keeps two subtle rules
//! explicit: the architecture check (with the x32 number range refused on x86_64), and argument
//! compares on the low 32 bits only, because the kernel truncates `ioctl` requests and flag
//! arguments to 32-bit integers while seccomp sees the full 64-bit register (CVE-2017-5226-style
//! bypasses set the upper bits).

use crate::seccomp::{Action, Condition, Rule};

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Offset of the low 32 bits of argument `i` in `struct seccomp_data`.
const fn arg_lo(i: u32) -> u32 {
    if cfg!(target_endian = "little") {
        16 + 8 * i
    } else {
        16 + 8 * i + 4
    }
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Namespace flags of clone(2)/unshare(2). `CLONE_NEWTIME` (0x80) shares its bit with the exit
/// signal of clone, so it is only checked for unshare.
const NS_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;
const CLONE_NEWTIME: u32 = 0x80;

const fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}
const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

fn errno(action: Action) -> u32 {
    let e = match action {
        Action::Eperm => libc::EPERM,
        Action::Enosys => libc::ENOSYS,
        Action::Eafnosupport => libc::EAFNOSUPPORT,
        Action::Eacces => libc::EACCES,
    };
    RET_ERRNO | (e as u32 & 0xffff)
}

/// The syscall number of `name` on this architecture; `None` for calls this architecture lacks.
pub fn syscall_number(name: &str) -> Option<u32> {
    let nr = match name {
        "ptrace" => libc::SYS_ptrace,
        "process_vm_readv" => libc::SYS_process_vm_readv,
        "process_vm_writev" => libc::SYS_process_vm_writev,
        "keyctl" => libc::SYS_keyctl,
        "add_key" => libc::SYS_add_key,
        "request_key" => libc::SYS_request_key,
        "bpf" => libc::SYS_bpf,
        "perf_event_open" => libc::SYS_perf_event_open,
        "userfaultfd" => libc::SYS_userfaultfd,
        "io_uring_setup" => libc::SYS_io_uring_setup,
        "io_uring_enter" => libc::SYS_io_uring_enter,
        "io_uring_register" => libc::SYS_io_uring_register,
        "mount" => libc::SYS_mount,
        "umount2" => libc::SYS_umount2,
        "pivot_root" => libc::SYS_pivot_root,
        "chroot" => libc::SYS_chroot,
        "move_mount" => libc::SYS_move_mount,
        "open_tree" => libc::SYS_open_tree,
        "fsopen" => libc::SYS_fsopen,
        "fsconfig" => libc::SYS_fsconfig,
        "fsmount" => libc::SYS_fsmount,
        "fspick" => libc::SYS_fspick,
        "mount_setattr" => libc::SYS_mount_setattr,
        "setns" => libc::SYS_setns,
        "unshare" => libc::SYS_unshare,
        "clone" => libc::SYS_clone,
        "clone3" => libc::SYS_clone3,
        "ioctl" => libc::SYS_ioctl,
        "init_module" => libc::SYS_init_module,
        "finit_module" => libc::SYS_finit_module,
        "delete_module" => libc::SYS_delete_module,
        "kexec_load" => libc::SYS_kexec_load,
        "kexec_file_load" => libc::SYS_kexec_file_load,
        "reboot" => libc::SYS_reboot,
        "swapon" => libc::SYS_swapon,
        "swapoff" => libc::SYS_swapoff,
        "acct" => libc::SYS_acct,
        "quotactl" => libc::SYS_quotactl,
        "syslog" => libc::SYS_syslog,
        "open_by_handle_at" => libc::SYS_open_by_handle_at,
        "name_to_handle_at" => libc::SYS_name_to_handle_at,
        "lookup_dcookie" => libc::SYS_lookup_dcookie,
        "socket" => libc::SYS_socket,
        "fchmod" => libc::SYS_fchmod,
        "fchmodat" => libc::SYS_fchmodat,
        "setxattr" => libc::SYS_setxattr,
        "lsetxattr" => libc::SYS_lsetxattr,
        "fsetxattr" => libc::SYS_fsetxattr,
        "removexattr" => libc::SYS_removexattr,
        "lremovexattr" => libc::SYS_lremovexattr,
        "fremovexattr" => libc::SYS_fremovexattr,
        // Newer than the libc crate's tables; one number on every architecture.
        "fchmodat2" => 452,
        "setxattrat" => 463,
        "removexattrat" => 466,
        #[cfg(target_arch = "x86_64")]
        "chmod" => libc::SYS_chmod,
        #[cfg(target_arch = "x86_64")]
        "iopl" => libc::SYS_iopl,
        #[cfg(target_arch = "x86_64")]
        "ioperm" => libc::SYS_ioperm,
        #[cfg(target_arch = "x86_64")]
        "uselib" => libc::SYS_uselib,
        _ => return None,
    };
    Some(nr as u32)
}

/// Compiles `rules` into a program: architecture check, x32 check, one block per rule, allow.
pub fn compile(rules: &[Rule]) -> Vec<Insn> {
    let ret_kill = stmt(RET_K, RET_KILL_PROCESS);
    let mut prog = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        // A foreign architecture's numbers mean other syscalls: kill rather than guess.
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        ret_kill,
        stmt(LD_W_ABS, OFF_NR),
    ];
    // Socket family rules are merged into one block: the first matching family decides.
    let mut socket_rules: Vec<&Rule> = Vec::new();
    for rule in rules {
        match rule.condition {
            Condition::X32Abi => {
                if cfg!(target_arch = "x86_64") {
                    prog.push(jump(JGE_K, X32_SYSCALL_BIT, 0, 1));
                    prog.push(stmt(RET_K, errno(rule.action)));
                }
            }
            Condition::ExoticSocketFamily | Condition::InetSocketFamily => socket_rules.push(rule),
            _ => {
                for name in &rule.syscalls {
                    let Some(nr) = syscall_number(name) else {
                        continue;
                    };
                    let block = block_for(rule, name);
                    prog.push(jump(JEQ_K, nr, 0, block.len() as u8));
                    prog.extend(block);
                }
            }
        }
    }
    if !socket_rules.is_empty() {
        let block = socket_block(&socket_rules);
        if let Some(nr) = syscall_number("socket") {
            prog.push(jump(JEQ_K, nr, 0, block.len() as u8));
            prog.extend(block);
        }
    }
    prog.push(stmt(RET_K, RET_ALLOW));
    prog
}

/// The instructions run once the syscall number matched. Each block ends in a return, so the
/// number never has to be reloaded.
fn block_for(rule: &Rule, name: &str) -> Vec<Insn> {
    let deny = stmt(RET_K, errno(rule.action));
    let allow = stmt(RET_K, RET_ALLOW);
    match rule.condition {
        Condition::NamespaceFlags => {
            let flags = if name == "unshare" {
                NS_FLAGS | CLONE_NEWTIME
            } else {
                NS_FLAGS
            };
            vec![
                stmt(LD_W_ABS, arg_lo(0)),
                jump(JSET_K, flags, 0, 1),
                deny,
                allow,
            ]
        }
        Condition::SetidMode(arg) => vec![
            stmt(LD_W_ABS, arg_lo(u32::from(arg))),
            jump(JSET_K, libc::S_ISUID | libc::S_ISGID, 0, 1),
            deny,
            allow,
        ],
        Condition::TerminalInjection => vec![
            stmt(LD_W_ABS, arg_lo(1)),
            jump(JEQ_K, libc::TIOCSTI as u32, 0, 1),
            deny,
            jump(JEQ_K, libc::TIOCLINUX as u32, 0, 1),
            deny,
            allow,
        ],
        _ => vec![deny],
    }
}

fn socket_block(rules: &[&Rule]) -> Vec<Insn> {
    let deny_inet = rules
        .iter()
        .find(|r| r.condition == Condition::InetSocketFamily);
    let exotic = rules
        .iter()
        .find(|r| r.condition == Condition::ExoticSocketFamily);
    let allow = stmt(RET_K, RET_ALLOW);
    let mut block = vec![stmt(LD_W_ABS, arg_lo(0))];
    // With the inet rule, unix sockets are refused as well: without a mount namespace the host's
    // named sockets (ssh-agent, docker.sock) are reachable by path, and Landlock below ABI 9
    // cannot restrict connecting to them. socketpair(2) stays allowed.
    let unix_action = deny_inet
        .map(|r| stmt(RET_K, errno(r.action)))
        .unwrap_or(allow);
    let inet_action = deny_inet
        .map(|r| stmt(RET_K, errno(r.action)))
        .unwrap_or(allow);
    for (family, action) in [
        (libc::AF_UNIX, unix_action),
        (libc::AF_INET, inet_action),
        (libc::AF_INET6, inet_action),
        (libc::AF_NETLINK, allow),
    ] {
        block.push(jump(JEQ_K, family as u32, 0, 1));
        block.push(action);
    }
    block.push(
        exotic
            .map(|r| stmt(RET_K, errno(r.action)))
            .unwrap_or(allow),
    );
    block
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::seccomp::rules;

    /// A tiny interpreter, enough to check what the program decides for a given call.
    fn run(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let insn = prog[pc];
            pc += 1;
            match insn.code {
                LD_W_ABS => {
                    let o = insn.k as usize;
                    acc = u32::from_ne_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
                }
                JEQ_K => pc += if acc == insn.k { insn.jt } else { insn.jf } as usize,
                JGE_K => pc += if acc >= insn.k { insn.jt } else { insn.jf } as usize,
                JSET_K => pc += if acc & insn.k != 0 { insn.jt } else { insn.jf } as usize,
                RET_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn nr(name: &str) -> u32 {
        syscall_number(name).unwrap_or_else(|| panic!("{name}"))
    }

    #[test]
    fn denies_and_allows_as_the_table_says() {
        let prog = compile(&rules(false));
        let eperm = RET_ERRNO | libc::EPERM as u32;
        assert_eq!(run(&prog, AUDIT_ARCH, nr("ptrace"), [0; 6]), eperm);
        assert_eq!(run(&prog, AUDIT_ARCH, nr("io_uring_setup"), [0; 6]), eperm);
        assert_eq!(run(&prog, AUDIT_ARCH, nr("keyctl"), [0; 6]), eperm);
        assert_eq!(
            run(&prog, AUDIT_ARCH, nr("clone3"), [0; 6]),
            RET_ERRNO | libc::ENOSYS as u32
        );
        assert_eq!(
            run(&prog, AUDIT_ARCH, libc::SYS_read as u32, [0; 6]),
            RET_ALLOW
        );
        assert_eq!(
            run(&prog, AUDIT_ARCH, libc::SYS_openat as u32, [0; 6]),
            RET_ALLOW
        );
    }

    #[test]
    fn foreign_architecture_is_killed() {
        let prog = compile(&rules(false));
        assert_eq!(
            run(&prog, 0x4000_0003, libc::SYS_read as u32, [0; 6]),
            RET_KILL_PROCESS
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_numbers_are_refused() {
        let prog = compile(&rules(false));
        let x32_read = X32_SYSCALL_BIT | libc::SYS_read as u32;
        assert_eq!(
            run(&prog, AUDIT_ARCH, x32_read, [0; 6]),
            RET_ERRNO | libc::EPERM as u32
        );
    }

    #[test]
    fn clone_with_namespace_flags_is_refused_but_threads_are_not() {
        let prog = compile(&rules(false));
        let eperm = RET_ERRNO | libc::EPERM as u32;
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(
            run(&prog, AUDIT_ARCH, nr("clone"), [thread, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        let userns = libc::CLONE_NEWUSER as u64;
        assert_eq!(
            run(&prog, AUDIT_ARCH, nr("clone"), [userns, 0, 0, 0, 0, 0]),
            eperm
        );
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                nr("unshare"),
                [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]
            ),
            eperm
        );
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                nr("unshare"),
                [libc::CLONE_FILES as u64, 0, 0, 0, 0, 0]
            ),
            RET_ALLOW
        );
    }

    #[test]
    fn tiocsti_is_compared_on_the_low_32_bits() {
        let prog = compile(&rules(false));
        let eperm = RET_ERRNO | libc::EPERM as u32;
        let sti = libc::TIOCSTI;
        assert_eq!(
            run(&prog, AUDIT_ARCH, nr("ioctl"), [0, sti, 0, 0, 0, 0]),
            eperm
        );
        // Upper bits set: the kernel still sees TIOCSTI, so must the filter.
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                nr("ioctl"),
                [0, sti | (1 << 40), 0, 0, 0, 0]
            ),
            eperm
        );
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                nr("ioctl"),
                [0, libc::TIOCLINUX, 0, 0, 0, 0]
            ),
            eperm
        );
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                nr("ioctl"),
                [0, libc::TCGETS, 0, 0, 0, 0]
            ),
            RET_ALLOW
        );
    }

    #[test]
    fn socket_families() {
        let strict = compile(&rules(false));
        let degraded = compile(&rules(true));
        let sock = |prog: &[Insn], family: i32| {
            run(
                prog,
                AUDIT_ARCH,
                nr("socket"),
                [family as u64, 1, 0, 0, 0, 0],
            )
        };
        assert_eq!(sock(&strict, libc::AF_INET), RET_ALLOW);
        assert_eq!(sock(&strict, libc::AF_UNIX), RET_ALLOW);
        assert_eq!(
            sock(&strict, libc::AF_PACKET),
            RET_ERRNO | libc::EAFNOSUPPORT as u32
        );
        assert_eq!(
            sock(&degraded, libc::AF_INET),
            RET_ERRNO | libc::EACCES as u32
        );
        assert_eq!(
            sock(&degraded, libc::AF_INET6),
            RET_ERRNO | libc::EACCES as u32
        );
        assert_eq!(
            sock(&degraded, libc::AF_UNIX),
            RET_ERRNO | libc::EACCES as u32
        );
        assert_eq!(sock(&degraded, libc::AF_NETLINK), RET_ALLOW);
    }

    #[test]
    fn setid_modes_and_xattrs_are_refused_only_on_a_shared_file_system() {
        let mut shared = rules(true);
        shared.extend(crate::seccomp::shared_filesystem_rules());
        let shared = compile(&shared);
        let plain = compile(&rules(false));
        let chmod = syscall_number("chmod").unwrap();
        let fchmodat = syscall_number("fchmodat").unwrap();
        let eperm = RET_ERRNO | libc::EPERM as u32;
        let arch = AUDIT_ARCH;
        assert_eq!(run(&shared, arch, chmod, [0, 0o4755, 0, 0, 0, 0]), eperm);
        assert_eq!(run(&shared, arch, chmod, [0, 0o2755, 0, 0, 0, 0]), eperm);
        assert_eq!(run(&shared, arch, chmod, [0, 0o755, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&shared, arch, fchmodat, [0, 0, 0o6755, 0, 0, 0]), eperm);
        assert_eq!(
            run(&shared, arch, fchmodat, [0, 0, 0o644, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(run(&shared, arch, 463, [0; 6]), eperm);
        assert_eq!(
            run(&shared, arch, syscall_number("setxattr").unwrap(), [0; 6]),
            eperm
        );
        assert_eq!(run(&plain, arch, chmod, [0, 0o4755, 0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    fn every_named_syscall_exists_on_this_architecture() {
        for rule in rules(true)
            .into_iter()
            .chain(crate::seccomp::shared_filesystem_rules())
        {
            for name in rule.syscalls {
                assert!(syscall_number(name).is_some(), "{name} has no number");
            }
        }
    }
}
