//! `sandboxpm exec`: run a command in the sandbox.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sandboxpm_config::{Environment, Paths, SANDBOXPM_HOME, SandboxpmSettings};
use sandboxpm_sandbox::{
    Backend, Command, Error as SandboxError, Network, Policy, ResolveContext, ResolvedPolicy,
    defaults, doctor, helper, resolve, select_backend,
};

use super::presets::{self, Preset};
use crate::cli::{BackendArg, ExecArgs, NetMode, SandboxArgs};

/// Exit code when the command cannot be found (shell convention).
const EXIT_NOT_FOUND: u8 = 127;
/// Exit code when the command cannot be executed.
const EXIT_NOT_EXECUTABLE: u8 = 126;
/// Exit code when the sandbox itself failed (as `docker run` does).
const EXIT_SANDBOX_FAILED: u8 = 125;

pub fn exec(args: ExecArgs) -> anyhow::Result<u8> {
    let ctx = ResolveContext::from_process().context("reading the current directory")?;
    let Some(program) = find_program(&args.command[0], &ctx) else {
        eprintln!(
            "sandboxpm: command not found: {}",
            args.command[0].to_string_lossy()
        );
        return Ok(EXIT_NOT_FOUND);
    };
    if !doctor::is_executable(&program) {
        eprintln!("sandboxpm: not executable: {}", program.display());
        return Ok(EXIT_NOT_EXECUTABLE);
    }
    let requested = backend(args.sandbox.backend);
    let preset = preset_for(&args.sandbox, &ctx, &args.command, &program, requested)?;
    if let Some(preset) = &preset {
        preset.create_missing(&mut |w| eprintln!("sandboxpm: warning: {w}"));
        if args.verbose {
            eprint!("{}", preset.render(args.sandbox.net.is_some()));
        }
    }
    let mut policy = build_policy(&args.sandbox, &ctx, Some(&program), preset.as_ref())?;
    grant_shared_packages(&mut policy, &ctx);
    let mut resolved = resolve(&policy, &ctx)?;
    if let Some(preset) = &preset {
        resolved.home_files.extend(preset.planted());
    }
    let command = Command {
        program: program.clone(),
        argv: args.command.clone(),
    };

    if args.verbose {
        // The probe costs a fork; only pay for it when asked.
        let (backend, why) = select_backend(requested);
        eprintln!("sandboxpm: sandbox backend: {} ({why})", backend.name());
    }
    finish(&mut resolved, &command, requested, None, NO_SLOT)
}

/// `sandboxpm sandbox-helper --request FILE`: the single-threaded re-execution used by
/// multi-threaded callers. Exit codes are those of `exec`.
pub fn helper(request: &Path) -> anyhow::Result<u8> {
    let mut request = helper::read_request(request)
        .with_context(|| format!("reading the sandbox request {}", request.display()))?;
    finish(
        &mut request.policy,
        &request.command,
        request.backend,
        None,
        NO_SLOT,
    )
}

/// `sandboxpm sandbox-helper --serve`: the zygote of [`sandboxpm_sandbox::zygote`]. Each forked
/// child runs one request exactly as `sandbox-helper --request` would, errors included.
#[cfg(target_os = "linux")]
pub fn serve() -> anyhow::Result<u8> {
    sandboxpm_sandbox::zygote::serve(|request, gate, slot| {
        let ran = request
            .context("reading the sandbox request")
            .and_then(|mut r| finish(&mut r.policy, &r.command, r.backend, gate, slot));
        match ran {
            Ok(code) => code,
            Err(err) => {
                eprintln!("sandboxpm: error: {err}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                2
            }
        }
    })
    .context("serving sandbox requests")?;
    Ok(0)
}

/// Forking helpers are Linux-only; elsewhere every request re-executes the binary.
#[cfg(not(target_os = "linux"))]
pub fn serve() -> anyhow::Result<u8> {
    anyhow::bail!("sandbox-helper --serve is only available on Linux")
}

/// A tripwire slot of the zygote (see [`sandboxpm_sandbox::tripwire::Slots`]).
#[cfg(target_os = "linux")]
type Slot<'a> = Option<&'a sandboxpm_sandbox::tripwire::Slot>;
#[cfg(not(target_os = "linux"))]
type Slot<'a> = Option<&'a std::convert::Infallible>;
const NO_SLOT: Slot<'static> = None;

/// Runs `command` under `resolved`, its tripwires bound from `slot` (or a slot of its own) and
/// watched there, and reports on standard error what the sandbox blocked.
fn finish(
    resolved: &mut ResolvedPolicy,
    command: &Command,
    requested: Backend,
    gate: Option<sandboxpm_sandbox::Gate>,
    slot: Slot<'_>,
) -> anyhow::Result<u8> {
    let program = &command.program;
    let mut warn = |w: &str| eprintln!("sandboxpm: warning: {w}");
    let run = |policy: &ResolvedPolicy, warn: &mut dyn FnMut(&str)| {
        sandboxpm_sandbox::run_gated(policy, command, requested, warn, gate)
    };
    #[cfg(target_os = "linux")]
    let ran = sandboxpm_sandbox::tripwire::run_watched(resolved, slot, &mut warn, run);
    #[cfg(not(target_os = "linux"))]
    let ran = {
        let _ = slot;
        run(resolved, &mut warn)
    };
    match ran {
        Ok(outcome) => {
            for blocked in &outcome.blocked {
                eprintln!("sandboxpm: blocked: {blocked}");
            }
            if outcome.timed_out {
                eprintln!(
                    "sandboxpm: {} timed out after {} s; the command and everything it started were killed",
                    program.display(),
                    resolved.limits.timeout_secs.unwrap_or_default()
                );
            }
            Ok(outcome.code.clamp(0, 255) as u8)
        }
        Err(SandboxError::Exec { errno }) => {
            let code = if errno.kind() == std::io::ErrorKind::NotFound {
                EXIT_NOT_FOUND
            } else {
                EXIT_NOT_EXECUTABLE
            };
            eprintln!(
                "sandboxpm: cannot execute {} inside the sandbox: {errno}",
                program.display()
            );
            if code == EXIT_NOT_FOUND {
                eprintln!(
                    "hint: the program or its interpreter is not visible in the sandbox; grant its directory with --allow-read"
                );
            }
            Ok(code)
        }
        Err(
            err @ (SandboxError::Setup(_)
            | SandboxError::UserNamespace(_)
            | SandboxError::NoIsolation),
        ) => {
            eprintln!("sandboxpm: error: {err}");
            if let Some(source) = std::error::Error::source(&err) {
                eprintln!("  caused by: {source}");
            }
            eprintln!("hint: run `sandboxpm doctor` to see what isolation this machine supports");
            Ok(EXIT_SANDBOX_FAILED)
        }
        Err(err) => Err(err.into()),
    }
}

/// The user-facing hint for an error, if there is one.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    let text = err.to_string();
    if text.contains("--allow-net") {
        return Some("--allow-net HOST[:PORT] alone restricts the network to those hosts");
    }
    if text.starts_with("--allow-") || text.starts_with("--deny-") {
        return Some("paths given to --allow-read/--allow-write must exist");
    }
    None
}

/// The preset of the package manager `command` runs, unless `--no-preset`.
pub fn preset_for(
    args: &SandboxArgs,
    ctx: &ResolveContext,
    command: &[OsString],
    program: &Path,
    requested: Backend,
) -> anyhow::Result<Option<Preset>> {
    if args.no_preset {
        return Ok(None);
    }
    // The probe sandbox starts from the command's own policy without the preset.
    let base = build_policy(args, ctx, Some(program), None)?;
    Ok(presets::build(command, program, ctx, &base, requested))
}

/// The policy for `exec` and `policy show`: the defaults, the preset, the flags, the mandatory
/// denies.
///
/// The flags add to a preset: `--allow-read`, `--allow-write`, `--env` and `--allow-net` extend
/// it. `--net none` and `--net host` replace its network (they say exactly what the network is).
pub fn build_policy(
    args: &SandboxArgs,
    ctx: &ResolveContext,
    program: Option<&Path>,
    preset: Option<&Preset>,
) -> anyhow::Result<Policy> {
    let mut policy = defaults::exec_policy(ctx.env.get("PATH").map(String::as_str));
    if let Some(preset) = preset {
        preset.apply(&mut policy);
    }
    for (flag, paths, list) in [
        ("--allow-read", &args.allow_read, &mut policy.read),
        ("--allow-write", &args.allow_write, &mut policy.write),
    ] {
        for path in paths {
            let absolute = ctx.cwd.join(path);
            if std::fs::symlink_metadata(&absolute).is_err() {
                bail!("{flag} {}: no such file or directory", path.display());
            }
            list.push(absolute.to_string_lossy().into_owned());
        }
    }
    policy.deny_read.extend(args.deny_read.iter().cloned());
    policy.deny_write.extend(args.deny_write.iter().cloned());
    policy.env.extend(args.env.iter().cloned());
    if let Some(program) = program {
        // The program itself is always readable, wherever it lives.
        policy.read.push(program.to_string_lossy().into_owned());
    }
    policy.network = match (args.net, args.allow_net.is_empty()) {
        (Some(NetMode::Host), true) => Network::Host,
        (Some(NetMode::Host), false) => bail!("--allow-net cannot be combined with --net host"),
        (Some(NetMode::None), false) => bail!("--allow-net cannot be combined with --net none"),
        (Some(NetMode::None), true) => Network::None,
        (None, _) => {
            let mut hosts = preset.map(Preset::host_entries).unwrap_or_default();
            for host in &args.allow_net {
                if !hosts.contains(host) {
                    hosts.push(host.clone());
                }
            }
            if hosts.is_empty() {
                Network::None
            } else {
                Network::Allow(hosts)
            }
        }
    };
    policy.limits.timeout_secs = args.timeout;
    Ok(policy)
}

/// Grants read on the store's shared package directories when the working directory is a
/// project that sandboxpm installed: its `node_modules/.sandboxpm/<dir>` links there, so the
/// command needs them to load the project's dependencies. They hold published package files only
/// (no project's code, no credential); the store's own files, indexes and lock stay hidden. The
/// store is found as `install` finds it (`$SANDBOXPM_HOME`, the user's `storeDir`), never from
/// the project: a repository cannot name what gets granted. Applied to the final policy of `exec`
/// and `policy show` only, so a preset's probe does not look the store up a second time.
pub fn grant_shared_packages(policy: &mut Policy, ctx: &ResolveContext) {
    if !ctx.cwd.join("node_modules").join(".sandboxpm").is_dir() {
        return;
    }
    let home = ctx.home.as_deref();
    let Ok(settings) = SandboxpmSettings::load(None, home) else {
        return;
    };
    let env = Environment::from_pairs(ctx.env.get(SANDBOXPM_HOME).map(|v| (SANDBOXPM_HOME, v)));
    let Ok(paths) = Paths::resolve(&env, home, &ctx.cwd, settings.store_dir.as_deref()) else {
        return;
    };
    let dir = sandboxpm_store::links_dir(&paths.store_dir);
    if dir.is_dir() {
        policy.read.push(dir.to_string_lossy().into_owned());
    }
}

pub fn backend(arg: BackendArg) -> Backend {
    match arg {
        BackendArg::Auto => Backend::Auto,
        BackendArg::Native => Backend::Native,
        BackendArg::Landlock => Backend::Landlock,
        BackendArg::Bwrap => Backend::Bwrap,
        BackendArg::Docker => Backend::Docker,
        BackendArg::Seatbelt => Backend::Seatbelt,
    }
}

/// Finds the program like a shell would: a name with a slash is a path, otherwise PATH is
/// searched.
pub fn find_program(name: &OsStr, ctx: &ResolveContext) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        let path = ctx.cwd.join(name);
        return path.exists().then_some(path);
    }
    let path_var = ctx.env.get("PATH")?;
    std::env::split_paths(&OsString::from(path_var))
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| doctor::is_executable(p))
}
