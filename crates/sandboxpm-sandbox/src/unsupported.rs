//! Platforms without a sandbox backend yet: every run is refused.

use crate::resolve::ResolvedPolicy;
use crate::{Backend, Command, Error, Gate, Outcome};

pub(crate) fn run(
    _: &ResolvedPolicy,
    _: &Command,
    backend: Backend,
    _: Option<&Gate>,
) -> Result<Outcome, Error> {
    Err(Error::Unsupported(format!(
        "the {} backend is only available on Linux",
        backend.name()
    )))
}

pub fn probe_user_namespace() -> std::io::Result<()> {
    Err(std::io::Error::other("not Linux"))
}

pub fn landlock_abi() -> i32 {
    0
}
