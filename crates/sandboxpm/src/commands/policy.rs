//! `sandboxpm policy show`: the effective policy and what the native backend makes of it.

use std::ffi::OsString;
use std::fmt::Write as _;

use anyhow::Context;
use sandboxpm_sandbox::native::{self, MountOp};
use sandboxpm_sandbox::resolve::Access;
use sandboxpm_sandbox::seccomp::Condition;
use sandboxpm_sandbox::{Backend, Network, ResolveContext, ResolvedPolicy, resolve};
use serde::Serialize;

use super::exec::{backend, build_policy, find_program, grant_shared_packages, preset_for};
use super::presets::Preset;
use crate::cli::SandboxArgs;

#[derive(Serialize)]
struct Shown<'a> {
    command: Option<String>,
    preset: Option<&'a Preset>,
    policy: &'a sandboxpm_sandbox::Policy,
    resolved: &'a ResolvedPolicy,
    native: native::NativePlan,
    /// What `--backend bwrap|docker|seatbelt` runs instead of the native plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    translation: Option<serde_json::Value>,
}

pub fn show(args: &SandboxArgs, command: &[OsString], json: bool) -> anyhow::Result<u8> {
    let ctx = ResolveContext::from_process().context("reading the current directory")?;
    let program = command.first().and_then(|name| find_program(name, &ctx));
    if let (Some(name), None) = (command.first(), &program) {
        anyhow::bail!("command not found: {}", name.to_string_lossy());
    }
    let preset = match &program {
        Some(program) => preset_for(args, &ctx, command, program, backend(args.backend))?,
        None => None,
    };
    let mut policy = build_policy(args, &ctx, program.as_deref(), preset.as_ref())?;
    grant_shared_packages(&mut policy, &ctx);
    let mut resolved = resolve(&policy, &ctx)?;
    if let Some(preset) = &preset {
        resolved.home_files.extend(preset.planted());
    }
    let plan = native::plan(&resolved);
    let cmd = sandboxpm_sandbox::Command {
        program: program
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("/bin/sh")),
        argv: if command.is_empty() {
            vec![OsString::from("sh")]
        } else {
            command.to_vec()
        },
    };
    let translation = translation(backend(args.backend), &resolved, &cmd)?;
    if json {
        let shown = Shown {
            command: program.map(|p| p.display().to_string()),
            preset: preset.as_ref(),
            policy: &policy,
            resolved: &resolved,
            native: plan,
            translation: translation.map(|(_, value)| value),
        };
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        if let Some(preset) = &preset {
            println!("{}", preset.render(args.net.is_some()));
        }
        print!("{}", render(&resolved, &plan));
        if let Some((text, _)) = translation {
            print!("\n{text}");
        }
    }
    Ok(0)
}

/// The translation of the other backends, as text and as JSON: bubblewrap's arguments, the
/// Docker container spec, the Seatbelt profile and its parameters. Native and landlock show the
/// plan and rules above.
fn translation(
    backend: Backend,
    resolved: &ResolvedPolicy,
    cmd: &sandboxpm_sandbox::Command,
) -> anyhow::Result<Option<(String, serde_json::Value)>> {
    use sandboxpm_sandbox::{bwrap, docker, seatbelt};
    Ok(match backend {
        Backend::Bwrap => {
            let t = bwrap::translate(
                resolved,
                cmd,
                std::path::Path::new("/run/sandboxpm-empty-file"),
                bwrap::Fds { first: 3 },
                &|p| {
                    let meta = std::fs::metadata(p).ok()?;
                    Some(if meta.is_dir() {
                        sandboxpm_sandbox::resolve::EntryKind::Dir
                    } else {
                        sandboxpm_sandbox::resolve::EntryKind::File
                    })
                },
            );
            let args: Vec<String> = t
                .args
                .iter()
                .chain(std::iter::once(&OsString::from("--")))
                .chain(&t.command)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let mut text = String::from("bubblewrap arguments (passed through --args):\n");
            for arg in &args {
                let _ = writeln!(text, "  {arg}");
            }
            Some((text, serde_json::json!({ "bwrap": args })))
        }
        Backend::Docker => {
            // SAFETY: getuid and getgid cannot fail.
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            let image = docker::image();
            let t = docker::container_config(
                resolved,
                cmd,
                &docker::Options {
                    uid,
                    gid,
                    image: &image,
                    scratch: std::path::Path::new("/run/sandboxpm-scratch"),
                    init: None,
                },
            )?;
            let text = format!(
                "Docker container spec (POST /containers/create):\n{}\n",
                serde_json::to_string_pretty(&t.config)?
            );
            Some((text, serde_json::json!({ "docker": t.config })))
        }
        Backend::Seatbelt => {
            let profile = seatbelt::profile(resolved);
            let mut text = format!("Seatbelt profile:\n{}\nparameters (-D):\n", profile.text);
            for param in &profile.params {
                let _ = writeln!(text, "  {}={}", param.name, param.value.display());
            }
            Some((text, serde_json::json!({ "seatbelt": profile })))
        }
        Backend::Auto | Backend::Native | Backend::Landlock => None,
    })
}

/// The human-readable form, meant for a reviewer.
pub fn render(resolved: &ResolvedPolicy, plan: &native::NativePlan) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Effective policy");
    let _ = writeln!(w, "  working directory: {}", resolved.cwd.display());
    let _ = writeln!(
        w,
        "  home:              {} (empty, private)",
        resolved.home.display()
    );
    let network = match &resolved.network {
        Network::None => "none (loopback only)".to_string(),
        Network::Host => "host (unrestricted)".to_string(),
        Network::Allow(hosts) => format!("only {}", hosts.join(", ")),
    };
    let _ = writeln!(w, "  network:           {network}");
    if let Some(t) = resolved.limits.timeout_secs {
        let _ = writeln!(w, "  timeout:           {t} s");
    }
    let _ = writeln!(w, "\n  visible paths:");
    for grant in &resolved.grants {
        let access = if grant.access == Access::Write {
            "rw"
        } else {
            "ro"
        };
        let _ = writeln!(w, "    {access}  {}", grant.path.display());
    }
    for link in &resolved.symlinks {
        let _ = writeln!(
            w,
            "    ln  {} -> {}",
            link.path.display(),
            link.target.display()
        );
    }
    let _ = writeln!(w, "\n  hidden (deny_read):");
    for deny in &resolved.deny_read {
        let _ = writeln!(w, "    {}   [{}]", deny.path.display(), deny.origin);
    }
    let _ = writeln!(w, "\n  read-only (deny_write):");
    for deny in &resolved.deny_write {
        let _ = writeln!(w, "    {}   [{}]", deny.path.display(), deny.origin);
    }
    let missing = resolved
        .unenforced
        .iter()
        .filter(|u| u.reason == "does not exist")
        .count();
    let _ = writeln!(
        w,
        "\n  {} deny entries need no enforcement ({missing} do not exist and are never created; the rest are not visible anyway)",
        resolved.unenforced.len()
    );
    for note in &resolved.notes {
        let _ = writeln!(w, "  note: {note}");
    }
    let _ = writeln!(w, "\n  environment (everything else is dropped):");
    for key in resolved.env.keys() {
        let _ = writeln!(w, "    {key}");
    }

    let _ = writeln!(w, "\nNative backend (Linux)");
    let _ = writeln!(w, "  namespaces: {}", plan.namespaces.join(", "));
    let _ = writeln!(w, "  mount plan (new root on a tmpfs, then pivot_root):");
    for (i, op) in plan.mounts.iter().enumerate() {
        let line = match op {
            MountOp::Tmpfs { path } => format!("tmpfs      {}", path.display()),
            MountOp::Bind { path, writable, .. } => {
                format!(
                    "bind {}    {}",
                    if *writable { "rw" } else { "ro" },
                    path.display()
                )
            }
            MountOp::CopyFile { path } => format!("copy ro    {}", path.display()),
            MountOp::Proc { path } => format!("proc       {}", path.display()),
            MountOp::Dev { path } => format!(
                "dev        {} ({})",
                path.display(),
                native::DEVICES.join(", ")
            ),
            MountOp::Symlink { path, target } => {
                format!("symlink    {} -> {}", path.display(), target.display())
            }
            MountOp::HideFile { path } => format!(
                "hide file  {} (empty read-only file over it)",
                path.display()
            ),
            MountOp::HideDir { path } => format!(
                "hide dir   {} (empty read-only tmpfs over it)",
                path.display()
            ),
            MountOp::Pin { path } => format!(
                "pin        {} (a mount point: cannot be renamed away)",
                path.display()
            ),
            MountOp::ReadOnly { path } => format!("read-only  {}", path.display()),
            MountOp::HomeFile { path, .. } => format!("home file  {}", path.display()),
            MountOp::Tripwire { path, source } => format!(
                "tripwire   {} (bound read-only from {}, watched for opens)",
                path.display(),
                source.display()
            ),
            MountOp::SealScaffold { path } => format!(
                "seal ro    {} (scaffolding for mount points)",
                path.display()
            ),
            MountOp::ReadOnlyRoot => "read-only  / (the root tmpfs itself)".to_string(),
        };
        let _ = writeln!(w, "    {:>3}. {line}", i + 1);
    }
    let _ = writeln!(w, "  landlock rules (best effort above the kernel's ABI):");
    for rule in &plan.landlock {
        let _ = writeln!(
            w,
            "    {:<15} {}",
            format!("{:?}", rule.access).to_lowercase(),
            rule.path.display()
        );
    }
    let _ = writeln!(w, "    scopes: {}", plan.landlock_scopes.join(", "));
    let _ = writeln!(w, "  seccomp (deny-list; everything else allowed):");
    for rule in &plan.seccomp {
        let what = match rule.condition {
            Condition::X32Abi => "any x32 syscall".to_string(),
            Condition::Always => rule.syscalls.join(", "),
            Condition::NamespaceFlags => {
                format!("{} with namespace flags", rule.syscalls.join(", "))
            }
            Condition::TerminalInjection => "ioctl TIOCSTI/TIOCLINUX (low 32 bits)".to_string(),
            Condition::ExoticSocketFamily => "socket outside unix/inet/inet6/netlink".to_string(),
            Condition::InetSocketFamily => "socket inet/inet6/unix".to_string(),
            Condition::SetidMode(_) => {
                format!("{} setting setuid/setgid bits", rule.syscalls.join(", "))
            }
        };
        let _ = writeln!(w, "    {:?}: {what}\n        ({})", rule.action, rule.why);
    }
    out
}
