//! Lifecycle scripts: the only place where sandboxpm lets package code run, and only inside the
//! sandbox.
//!
//! The stages, in the order an install goes through them:
//!
//! 1. [`discover_all`]: which packages would run code (`preinstall`, `install`, `postinstall`,
//!    the implicit `node-gyp rebuild`, and the commands hidden in `binding.gyp`), under the
//!    identity the lockfile resolved, never the one the tarball claims;
//! 2. [`approve`]: a decision per package: `.sandboxpmrc` blacklist, then whitelist, then a person
//!    at the [`Prompt`] (or `policies.onBlock` when there is no terminal);
//! 3. [`script_levels`]: dependencies' scripts first, independent packages together;
//! 4. [`prepare_job`]: each script's environment ([`script_env`]: npm's variables, no secrets)
//!    and sandbox policy ([`script_policy`]: its own directory writable, its dependencies and the
//!    build tools readable, nothing else), resolved before anything runs;
//! 5. [`run_all`]: every script through the `sandboxpm sandbox-helper` re-execution
//!    ([`SandboxRunner`]), level by level, stopping at the first failure that matters.
//!
//! [`decoy_home_files`] and [`detect_decoy_use`] make a blocked credential theft visible.
//! See `DESIGN.md`, "Security model" and "The sandbox engine".
#![deny(missing_docs)]

mod approval;
pub mod decoys;
mod discovery;
mod env;
mod error;
mod inspect;
mod order;
mod policy;
mod prompt;
mod run;
mod schedule;
mod toolchain;

pub use approval::{
    Approvals, Decision, Reason, approve, decide, interactive, is_interactive, rule_matches,
};
pub use decoys::{decoy_home_files, decoy_tripwires, detect_decoy_use};
pub use discovery::{
    InstalledPackage, PackageScripts, Script, ScriptKind, discover, discover_all,
    gyp_command_expansions,
};
pub use env::{
    ScriptEnvInputs, dependency_bin_dir, dependency_links_dir, is_secret_config_key, script_env,
};
pub use error::ScriptsError;
pub use inspect::{InspectTarget, Inspection, MAX_INSPECT_BYTES, inspect, inspect_targets};
pub use order::script_levels;
pub use policy::{
    DEFAULT_TIMEOUT_SECS, DependencyDirs, ScriptPolicyInputs, dependency_dirs,
    resolve_script_policy, script_policy,
};
pub use prompt::{Answer, Consent, PAGE_LINES, Prompt};
pub use run::{
    HeldScript, MAX_OUTPUT_BYTES, SHELL, SandboxRunner, ScriptExecutor, ScriptOutcome, Staged,
    UnsandboxedRunner, helper_backend, run_script,
};
pub use schedule::{
    PreparedScript, RunEvent, RunReport, ScriptContext, ScriptFailure, ScriptJob, ScriptRun,
    prepare_job, run_all, run_all_staged,
};
pub use toolchain::{BUILD_TOOLS, Toolchain, which};
