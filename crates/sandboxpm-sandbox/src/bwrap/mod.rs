//! The `bwrap` backend (bubblewrap). Not built yet: every run is refused.

use crate::resolve::ResolvedPolicy;
use crate::{Command, Error, Outcome};

/// Runs `cmd` under `policy` with bubblewrap.
pub fn run(_policy: &ResolvedPolicy, _cmd: &Command) -> Result<Outcome, Error> {
    Err(Error::Unsupported(
        "the bwrap backend is not built yet".into(),
    ))
}

/// What this backend enforces and what it does not.
pub fn guarantees() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        vec![],
        vec!["everything: the bwrap backend is not built yet"],
    )
}
