//! Applies the Landlock rules of a plan to the calling process.

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

use crate::native::{LandlockAccess, LandlockRule};

/// The Landlock ABI of the running kernel (0 when Landlock is unavailable).
pub fn kernel_abi() -> i32 {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attribute only returns the version.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if v < 0 { 0 } else { v as i32 }
}

/// What Landlock enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    /// Every requested right is enforced.
    Fully,
    /// The kernel's ABI lacks some rights; the rest is enforced.
    Partially,
    /// Nothing (no Landlock in this kernel).
    Not,
}

/// Restricts the calling process to `rules`. Rules on missing paths are skipped (the mount plan
/// may not have created a device that the host lacks).
///
/// Landlock's TCP rights (ABI 4) are deliberately not used: they match ports, not addresses, so
/// they would take loopback away from build tools, while the network namespace (native) or the
/// seccomp socket rule (degraded) already remove every other network.
pub fn restrict(rules: &[LandlockRule]) -> Result<Enforced, String> {
    let version = kernel_abi();
    let abi = ABI::from(version);
    if abi == ABI::Unsupported {
        return Ok(Enforced::Not);
    }
    let err = |e: landlock::RulesetError| format!("landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?;
    // Scopes exist from ABI 6; asking for them earlier is an error.
    if version >= 6 {
        ruleset = ruleset
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;
    for rule in rules {
        let Ok(meta) = std::fs::metadata(&rule.path) else {
            continue;
        };
        let Ok(fd) = PathFd::new(&rule.path) else {
            continue;
        };
        let mut access = match rule.access {
            LandlockAccess::Read => AccessFs::from_read(abi),
            LandlockAccess::Write => AccessFs::from_all(abi),
            LandlockAccess::ReadWriteFile => AccessFs::ReadFile | AccessFs::WriteFile,
            LandlockAccess::ListDir => AccessFs::ReadDir.into(),
        };
        if !meta.is_dir() {
            // Directory rights on a file are an error for the kernel.
            access &= AccessFs::from_file(abi);
        }
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(err)?;
    }
    let status = created.restrict_self().map_err(err)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforced::Fully,
        RulesetStatus::PartiallyEnforced => Enforced::Partially,
        RulesetStatus::NotEnforced => Enforced::Not,
    })
}
