//! Errors from reading configuration. Each names the file or layer and the key it concerns.

use std::path::PathBuf;

use crate::sandboxpmrc::SandboxpmrcError;

/// Configuration that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A value has the wrong form.
    #[error("{key}: invalid value {value:?} from {source_name}: {expected}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as found.
        value: String,
        /// The layer or file that set it.
        source_name: String,
        /// What was expected.
        expected: String,
    },
    /// No layer sets `registry` and npm could not be asked.
    #[error("no registry is configured and `npm config get registry` failed: {reason}")]
    NoRegistry {
        /// Why asking npm failed.
        reason: String,
    },
    /// Neither `$HOME` nor `$SANDBOXPM_HOME` says where sandboxpm's files live.
    #[error("cannot find the home directory: set HOME or SANDBOXPM_HOME")]
    NoHome,
    /// A `.sandboxpmrc` is invalid.
    #[error(transparent)]
    Sandboxpmrc(#[from] SandboxpmrcError),
}
