//! The platform-neutral sandbox policy.
//!
//! A [`Policy`] is plain data: what may be read, what may be written, what is denied no matter
//! what, which network is reachable, which environment variables pass, and what limits apply.
//! Nothing here touches the file system; [`crate::resolve`] turns a policy into concrete paths and
//! the backends translate the resolved form. Keeping the policy as data is what lets
//! `sandboxpm policy show` print exactly what will be enforced, and lets every backend be tested
//! as a pure translation.
//!
//! Precedence is fixed: **deny > write > read**. A path under a `deny_read` entry is invisible even
//! when a `write` grant covers it; a path under a `deny_write` entry is read-only even inside a
//! writable grant. The mandatory denies of [`crate::defaults::mandatory_denies`] are added on top
//! of every policy and cannot be removed by a grant.

use serde::{Deserialize, Serialize};

/// What a sandboxed command may see and do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Policy {
    /// Paths granted read (and execute) access. Entries may start with `~` and may be globs.
    #[serde(default)]
    pub read: Vec<String>,
    /// Paths granted read-write access.
    #[serde(default)]
    pub write: Vec<String>,
    /// Paths that are never readable (they appear empty), whatever grants cover them.
    #[serde(default)]
    pub deny_read: Vec<String>,
    /// Paths that are never writable, whatever grants cover them.
    #[serde(default)]
    pub deny_write: Vec<String>,
    /// Which network the command reaches.
    #[serde(default)]
    pub network: Network,
    /// Names of the environment variables passed through; every other variable is dropped.
    #[serde(default)]
    pub env: Vec<String>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
}

/// Network access of a sandboxed command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "hosts")]
pub enum Network {
    /// Loopback only, inside a private network namespace. The default.
    #[default]
    None,
    /// Only these `host[:port]` patterns (`*.example.org` wildcards), through the filtering proxy.
    Allow(Vec<String>),
    /// The host's network, unrestricted. Must be asked for explicitly.
    Host,
}

/// Resource limits; `None` means the backend's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Limits {
    /// Wall-clock limit in seconds; the whole process tree is killed when it expires.
    pub timeout_secs: Option<u64>,
    /// Maximum number of processes (`RLIMIT_NPROC`).
    pub max_processes: Option<u64>,
    /// Maximum size of a written file in bytes (`RLIMIT_FSIZE`).
    pub max_file_size: Option<u64>,
    /// Maximum address space in bytes (`RLIMIT_AS`).
    pub max_memory: Option<u64>,
}

impl Policy {
    /// Adds every entry of `other` to this policy. Network and limits of `other` win when they
    /// are set to something other than the default.
    pub fn extend(&mut self, other: Policy) {
        self.read.extend(other.read);
        self.write.extend(other.write);
        self.deny_read.extend(other.deny_read);
        self.deny_write.extend(other.deny_write);
        self.env.extend(other.env);
        if other.network != Network::None {
            self.network = other.network;
        }
        let limits = other.limits;
        self.limits.timeout_secs = limits.timeout_secs.or(self.limits.timeout_secs);
        self.limits.max_processes = limits.max_processes.or(self.limits.max_processes);
        self.limits.max_file_size = limits.max_file_size.or(self.limits.max_file_size);
        self.limits.max_memory = limits.max_memory.or(self.limits.max_memory);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn policy_round_trips_as_json() {
        let policy = Policy {
            read: vec!["/usr".into()],
            write: vec![".".into()],
            deny_read: vec!["~/.ssh".into()],
            network: Network::Allow(vec!["registry.invalid:443".into()]),
            limits: Limits {
                timeout_secs: Some(5),
                ..Limits::default()
            },
            ..Policy::default()
        };
        let text = serde_json::to_string(&policy).unwrap();
        assert_eq!(serde_json::from_str::<Policy>(&text).unwrap(), policy);
    }

    #[test]
    fn unknown_policy_keys_are_rejected() {
        let err = serde_json::from_str::<Policy>(r#"{"reed": []}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `reed`"), "{err}");
    }

    #[test]
    fn network_defaults_to_none() {
        let policy: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy.network, Network::None);
    }
}
