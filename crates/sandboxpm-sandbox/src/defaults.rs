//! The built-in parts of every policy: the mandatory denies and the system grants.
//!
//! The mandatory denies are the credential stores, shell start-up files and repository hooks that
//! a package script has no business touching. They are added to every policy after the user's
//! grants, and [`crate::resolve`] applies them with precedence over any grant, so
//! `--allow-read ~` still hides `~/.ssh`.

use crate::policy::Policy;

/// Credential stores and secrets that no sandboxed command may read. `~` means both `$HOME` and
/// the account's home from the password database. Relative entries are relative to the project.
pub const MANDATORY_DENY_READ: &[&str] = &[
    "~/.ssh",
    "~/.aws",
    "~/.gnupg",
    "~/.config/gcloud",
    "~/.azure",
    "~/.kube",
    "~/.docker/config.json",
    "~/.netrc",
    "~/.npmrc",
    "~/.yarnrc",
    "~/.yarnrc.yml",
    "~/.pypirc",
    "~/.git-credentials",
    // Registry tokens of other toolchains whose directories are granted as tools (`~/.cargo/bin`
    // on PATH grants `~/.cargo`).
    "~/.cargo/credentials",
    "~/.cargo/credentials.toml",
    "~/.config/gh",
    "~/.config/hub",
    "~/.password-store",
    "~/.local/share/keyrings",
    // Browser profiles: cookies and saved passwords.
    "~/.mozilla",
    "~/.config/google-chrome",
    "~/.config/chromium",
    "~/.config/BraveSoftware",
    "~/.config/microsoft-edge",
    "~/Library/Application Support/Google/Chrome",
    "~/Library/Application Support/Firefox",
    "~/Library/Keychains",
    // Crypto wallets.
    "~/.bitcoin",
    "~/.ethereum",
    "~/.electrum",
    "~/.config/Exodus",
    "~/.config/solana",
    // Sockets that hand out credentials or root: the Docker daemon and container runtimes.
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "~/.docker/run/docker.sock",
    // Project secrets.
    "**/.env*",
    ".npmrc",
];

/// Files and directories that no sandboxed command may modify (they stay readable).
pub const MANDATORY_DENY_WRITE: &[&str] = &[
    "~/.bashrc",
    "~/.bash_profile",
    "~/.bash_login",
    "~/.bash_logout",
    "~/.profile",
    "~/.zshrc",
    "~/.zshenv",
    "~/.zprofile",
    "~/.zlogin",
    "~/.config/fish",
    "~/.gitconfig",
    "~/.config/autostart",
    "~/.config/systemd",
    ".git/hooks",
    ".git/config",
    ".vscode",
    ".idea",
    ".sandboxpmrc",
];

/// System directories granted read access to every command. Missing ones are skipped.
pub const SYSTEM_READ: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
];

/// The parts of `/etc` programs need to run, resolve names and verify TLS. All of `/etc` is not
/// granted: it holds `shadow`, `ssh` host keys and tool credentials.
pub const ETC_READ: &[&str] = &[
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/crypto-policies",
    "/etc/debian_version",
    "/etc/gai.conf",
    "/etc/group",
    "/etc/host.conf",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/inputrc",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/locale.alias",
    "/etc/locale.conf",
    "/etc/localtime",
    "/etc/lsb-release",
    "/etc/mime.types",
    "/etc/nsswitch.conf",
    "/etc/os-release",
    "/etc/passwd",
    "/etc/pki",
    "/etc/protocols",
    "/etc/python3*",
    "/etc/resolv.conf",
    "/etc/services",
    "/etc/ssl",
    "/etc/timezone",
    "/etc/zoneinfo",
];

/// Environment variables passed to every sandboxed command when set on the host.
pub const ENV_ALLOWLIST: &[&str] = &["PATH", "HOME", "LANG", "TERM", "TZ", "USER", "TMPDIR"];

/// The mandatory part of every policy.
pub fn mandatory_denies() -> Policy {
    Policy {
        deny_read: MANDATORY_DENY_READ
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
        deny_write: MANDATORY_DENY_WRITE
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
        ..Policy::default()
    }
}

/// System directories and the parts of `/etc` every command needs.
pub fn system_grants() -> Policy {
    Policy {
        read: SYSTEM_READ
            .iter()
            .chain(ETC_READ)
            .map(|s| (*s).to_string())
            .collect(),
        env: ENV_ALLOWLIST.iter().map(|s| (*s).to_string()).collect(),
        ..Policy::default()
    }
}

/// The default policy of `sandboxpm exec`: the system, the tools on `PATH` and the project
/// directory (read-write), network none, and the mandatory denies.
pub fn exec_policy(path_var: Option<&str>) -> Policy {
    let mut policy = system_grants();
    policy.read.extend(tool_dirs(path_var));
    policy.write.push(".".to_string());
    policy.extend(mandatory_denies());
    policy
}

/// The directories of the tools on `PATH`, plus the install root of tool managers whose `bin` or
/// `shims` directory is on `PATH` (`~/.cargo`, `~/.pyenv`, `~/.nvm/versions/node/v20`): their
/// shims execute files from the root. The root is never a home directory itself nor `~/.local`,
/// which would expose far more than the tools.
pub fn tool_dirs(path_var: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for dir in path_var.unwrap_or_default().split(':') {
        if dir.is_empty() || !dir.starts_with('/') {
            // Relative PATH entries would grant whatever the current directory is.
            continue;
        }
        out.push(dir.to_string());
        if let Some(root) = tool_root(dir) {
            out.push(root);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn tool_root(dir: &str) -> Option<String> {
    let path = std::path::Path::new(dir);
    let name = path.file_name()?.to_str()?;
    if name != "bin" && name != "shims" {
        return None;
    }
    let root = path.parent()?;
    let root_name = root.file_name()?.to_str()?;
    // Only hidden tool directories (`~/.cargo`, `~/.pyenv/plugins/x`) or version directories of
    // node managers; never `/usr`, `/`, `~` or `~/.local`.
    let inside_hidden = root.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(|s| s.starts_with('.') && s.len() > 1 && s != ".local")
    });
    if !inside_hidden || root_name == ".local" || root.components().count() < 3 {
        return None;
    }
    Some(root.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_roots_cover_managers_but_not_home_or_local() {
        let dirs = tool_dirs(Some(
            "/root/.cargo/bin:/root/.pyenv/shims:/home/u/.local/bin:/usr/bin:relative/bin:/bin",
        ));
        assert!(dirs.contains(&"/root/.cargo".to_string()), "{dirs:?}");
        assert!(dirs.contains(&"/root/.pyenv".to_string()), "{dirs:?}");
        assert!(dirs.contains(&"/home/u/.local/bin".to_string()), "{dirs:?}");
        assert!(!dirs.contains(&"/home/u/.local".to_string()), "{dirs:?}");
        assert!(!dirs.contains(&"/usr".to_string()), "{dirs:?}");
        assert!(!dirs.iter().any(|d| d.starts_with("relative")), "{dirs:?}");
    }

    #[test]
    fn exec_policy_always_has_the_mandatory_denies() {
        let policy = exec_policy(Some("/usr/bin"));
        for deny in ["~/.ssh", "~/.npmrc", "**/.env*"] {
            assert!(policy.deny_read.iter().any(|d| d == deny), "{deny}");
        }
        for deny in [".git/hooks", ".git/config", "~/.bashrc"] {
            assert!(policy.deny_write.iter().any(|d| d == deny), "{deny}");
        }
        assert_eq!(policy.write, vec![".".to_string()]);
    }
}
