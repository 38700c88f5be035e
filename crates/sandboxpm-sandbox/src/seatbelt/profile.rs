//! The Seatbelt translation of a resolved policy: an SBPL profile and the values of its
//! parameters.
//!
//! The text is [`BASE`] (what any macOS process needs to start, each allowance commented) followed
//! by rules generated from the [`ResolvedPolicy`]. No path of the policy is ever written into the
//! text: each one becomes a `(param "NAME")` whose value `sandbox-exec` receives as
//! `-D NAME=VALUE`. A path holding a quote, a parenthesis or a newline therefore cannot change the
//! profile's meaning, and the text depends only on the *shape* of the policy (how many grants of
//! each kind), which the tests check.
//!
//! Seatbelt matches the path the kernel resolved, so every policy path is first rewritten through
//! the system symlinks `/tmp`, `/var` and `/etc` (to `/private/...`); a rule on `/tmp/x` would
//! otherwise never match anything.
//!
//! Order matters: for one operation the *last* matching rule decides, so the mandatory denies come
//! after every allowance and no grant can undo them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::policy::Network;
use crate::resolve::{Access, EntryKind, ResolvedPolicy};

/// The fixed first part of every profile.
pub const BASE: &str = include_str!("base.sbpl");

/// Parameter: the private home directory the runner creates.
pub const PRIVATE_HOME: &str = "PRIVATE_HOME";
/// Parameter: the private temporary directory the runner creates.
pub const PRIVATE_TMP: &str = "PRIVATE_TMP";
/// Parameter: the terminal device of the standard streams, or `/dev/null`.
pub const TERMINAL: &str = "TERMINAL";
/// Parameter: the loopback port of the network proxy (network allowlists only).
pub const PROXY_PORT: &str = "PROXY_PORT";

/// A parameter taken from the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Param {
    /// The name used in the text, `(param "NAME")`.
    pub name: String,
    /// The path, as Seatbelt will see it (through `/private`).
    pub value: PathBuf,
}

/// A generated profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// The SBPL text.
    pub text: String,
    /// The parameters whose values come from the policy, in order of appearance.
    pub params: Vec<Param>,
    /// The parameters whose values the runner supplies ([`Runtime`]).
    pub runtime: Vec<&'static str>,
}

/// Values known only when the command starts.
#[derive(Debug, Clone, Copy)]
pub struct Runtime<'a> {
    /// The private home directory (canonical).
    pub home: &'a Path,
    /// The private temporary directory (canonical).
    pub tmp: &'a Path,
    /// The terminal device of the standard streams, or `/dev/null`.
    pub terminal: &'a Path,
    /// The proxy's loopback port, when the policy has a network allowlist.
    pub proxy_port: Option<u16>,
}

impl Profile {
    /// The options of `sandbox-exec`: `-p TEXT`, then `-D NAME=VALUE` for every parameter.
    pub fn arguments(&self, runtime: &Runtime<'_>) -> Vec<OsString> {
        let mut args = vec![OsString::from("-p"), OsString::from(&self.text)];
        let mut define = |name: &str, value: &std::ffi::OsStr| {
            let mut definition = OsString::from(name);
            definition.push("=");
            definition.push(value);
            args.push(OsString::from("-D"));
            args.push(definition);
        };
        for param in &self.params {
            define(&param.name, param.value.as_os_str());
        }
        for name in &self.runtime {
            let value: OsString = match *name {
                PRIVATE_HOME => runtime.home.into(),
                PRIVATE_TMP => runtime.tmp.into(),
                TERMINAL => runtime.terminal.into(),
                PROXY_PORT => match runtime.proxy_port {
                    Some(port) => port.to_string().into(),
                    None => continue,
                },
                _ => continue,
            };
            define(name, &value);
        }
        args
    }
}

/// Translates `policy` into a Seatbelt profile.
pub fn profile(policy: &ResolvedPolicy) -> Profile {
    let mut out = Builder {
        text: String::from(BASE),
        params: Vec::new(),
    };
    let mut runtime = vec![TERMINAL, PRIVATE_HOME, PRIVATE_TMP];

    // Grants.
    let reads: Vec<String> = policy
        .grants
        .iter()
        .filter(|g| g.access == Access::Read)
        .enumerate()
        .map(|(i, g)| out.filter(g.kind, "READ", i, &g.path))
        .collect();
    out.rule(
        "; Read grants of the policy: read, list, execute, and load as code (native addons).",
        "allow file-read* process-exec file-map-executable",
        &reads,
    );
    let writes: Vec<String> = policy
        .grants
        .iter()
        .filter(|g| g.access == Access::Write)
        .enumerate()
        .map(|(i, g)| out.filter(g.kind, "WRITE", i, &g.path))
        .collect();
    out.rule(
        "; Write grants of the policy: the same, plus create, modify and remove.",
        "allow file-read* file-write* process-exec file-map-executable",
        &writes,
    );
    // Granted paths that are symlinks: their targets are granted above; the links themselves
    // must be readable to be followed. Links inside a grant are covered by it.
    let links: Vec<String> = policy
        .symlinks
        .iter()
        .filter(|l| {
            !policy
                .grants
                .iter()
                .any(|g| l.path.starts_with(&g.path) && l.path != g.path)
        })
        .enumerate()
        .map(|(i, l)| out.literal("LINK", i, &link_path(&l.path)))
        .collect();
    out.rule(
        "; Granted paths that are symlinks (their targets are granted above): the links themselves,\n\
         ; so that they can be followed.",
        "allow file-read*",
        &links,
    );
    let ancestors: Vec<String> = out
        .params
        .iter()
        .map(|p| format!("(path-ancestors (param \"{}\"))", p.name))
        .collect();
    out.rule(
        "; stat() of the directories leading to every granted path (realpath, getcwd, module\n\
         ; resolution). Not their listing, nor their other entries.",
        "allow file-read-metadata",
        &ancestors,
    );

    // Network.
    match &policy.network {
        Network::None => out.text.push_str(NETWORK_NONE),
        Network::Allow(_) => {
            out.text.push_str(NETWORK_PROXY);
            runtime.push(PROXY_PORT);
        }
        Network::Host => out.text.push_str(NETWORK_HOST),
    }

    // Mandatory denies, last.
    out.text.push_str(DENIES_FOLLOW);
    let hidden: Vec<String> = policy
        .deny_read
        .iter()
        .enumerate()
        .map(|(i, d)| out.filter(d.kind, "HIDE", i, &d.path))
        .collect();
    out.rule(
        "; Hidden paths (deny_read): no reading, writing, executing or mapping, whatever grant\n\
         ; covers them. A read fails with EPERM.",
        "deny file-read* file-write* process-exec file-map-executable",
        &hidden,
    );
    let protected: Vec<String> = policy
        .deny_write
        .iter()
        .filter(|d| !policy.deny_read.iter().any(|h| d.path.starts_with(&h.path)))
        .enumerate()
        .map(|(i, d)| out.filter(d.kind, "PROTECT", i, &d.path))
        .collect();
    out.rule(
        "; Read-only paths (deny_write): nothing in them is created, modified or removed.",
        "deny file-write*",
        &protected,
    );
    let pins: Vec<String> = pins(policy)
        .iter()
        .enumerate()
        .map(|(i, p)| out.literal("PIN", i, p))
        .collect();
    out.rule(
        "; Directories between a writable grant and a denied path: they cannot be removed, renamed\n\
         ; or replaced, which would carry the denied path away from its rule (`mv .git .git-old`).",
        "deny file-write-unlink file-write-create",
        &pins,
    );
    out.text.push_str(NO_LINKS);

    Profile {
        text: out.text,
        params: out.params,
        runtime,
    }
}

const NETWORK_NONE: &str = "
; Network: none. No rule allows any network operation: no connection to other hosts, to
; loopback services or to unix sockets at paths (ssh-agent, Docker). socketpair() still works.
";

const NETWORK_PROXY: &str = "
; Network: only the sandboxpm proxy, on a loopback port chosen for this run. The proxy runs
; outside the sandbox and enforces the host allowlist; it resolves names itself, so no DNS
; service is needed here.
(allow network-outbound (remote tcp (string-append \"localhost:\" (param \"PROXY_PORT\"))))
";

const NETWORK_HOST: &str = "
; Network: the host's, unrestricted, as the policy asked. IP connections out...
(allow network-outbound (remote ip \"*:*\"))

; ...and servers listening on any port.
(allow network-bind network-inbound (local ip \"*:*\"))

; Name resolution: mDNSResponder's socket. Other unix sockets (ssh-agent, Docker) stay closed.
(allow network-outbound (literal \"/private/var/run/mDNSResponder\"))

; Name resolution and the resolver's configuration over Mach.
(allow mach-lookup
  (global-name \"com.apple.dnssd.service\")
  (global-name \"com.apple.SystemConfiguration.DNSConfiguration\")
  (global-name \"com.apple.SystemConfiguration.configd\"))

; Certificate checks of the system TLS stack (curl, git). Not securityd: it serves the keychain.
(allow mach-lookup
  (global-name \"com.apple.trustd\")
  (global-name \"com.apple.trustd.agent\")
  (global-name \"com.apple.ocspd\"))

; Interface and route information: os.networkInterfaces(), getifaddrs().
(allow system-socket)

; The routing table, read by getifaddrs() and the resolver.
(allow sysctl-read (sysctl-name-prefix \"net.routetable.\"))
";

const DENIES_FOLLOW: &str = "
; Mandatory denies follow. For one operation the last matching rule decides, so nothing above
; can undo them.
";

const NO_LINKS: &str = "
; No hard links or clones: a rule on paths cannot tell a link to a hidden file from the
; project's own file, so none can be made (tools fall back to copying).
(deny file-link file-clone)
";

struct Builder {
    text: String,
    params: Vec<Param>,
}

impl Builder {
    /// Registers `path` as parameter `PREFIX_i` and returns its filter: `subpath` for a
    /// directory, `literal` for anything else.
    fn filter(&mut self, kind: EntryKind, prefix: &str, i: usize, path: &Path) -> String {
        let name = self.param(prefix, i, darwin_path(path));
        match kind {
            EntryKind::Dir => format!("(subpath (param \"{name}\"))"),
            EntryKind::File => format!("(literal (param \"{name}\"))"),
        }
    }

    /// Registers `path` (already in Seatbelt's form) and returns a `literal` filter.
    fn literal(&mut self, prefix: &str, i: usize, path: &Path) -> String {
        let name = self.param(prefix, i, path.to_path_buf());
        format!("(literal (param \"{name}\"))")
    }

    fn param(&mut self, prefix: &str, i: usize, value: PathBuf) -> String {
        let name = format!("{prefix}_{i}");
        self.params.push(Param {
            name: name.clone(),
            value,
        });
        name
    }

    /// Appends `(OPS FILTER...)` after `comment`; nothing when there are no filters.
    fn rule(&mut self, comment: &str, ops: &str, filters: &[String]) {
        if filters.is_empty() {
            return;
        }
        self.text.push('\n');
        self.text.push_str(comment);
        self.text.push_str("\n(");
        self.text.push_str(ops);
        for filter in filters {
            self.text.push_str("\n  ");
            self.text.push_str(filter);
        }
        self.text.push_str(")\n");
    }
}

/// The directories strictly between a writable grant and a denied path inside it, shallow first,
/// in Seatbelt's form. The native backend makes them mount points for the same reason.
fn pins(policy: &ResolvedPolicy) -> Vec<PathBuf> {
    let mut pins: Vec<PathBuf> = Vec::new();
    for deny in policy.deny_read.iter().chain(&policy.deny_write) {
        let Some(grant) = policy.covering_grant(&deny.path) else {
            continue;
        };
        if grant.access != Access::Write {
            continue;
        }
        for ancestor in deny.path.ancestors().skip(1) {
            if ancestor == grant.path || !ancestor.starts_with(&grant.path) {
                break;
            }
            let pin = darwin_path(ancestor);
            if !pins.contains(&pin) {
                pins.push(pin);
            }
        }
    }
    pins.sort_by(|a, b| {
        a.components()
            .count()
            .cmp(&b.components().count())
            .then_with(|| a.cmp(b))
    });
    pins
}

/// The system symlinks of macOS and where they point.
const SYSTEM_LINKS: &[(&str, &str)] = &[
    ("/tmp", "/private/tmp"),
    ("/var", "/private/var"),
    ("/etc", "/private/etc"),
];

/// `path` as Seatbelt sees it: through the system symlinks (`/tmp/x` is `/private/tmp/x`).
pub fn darwin_path(path: &Path) -> PathBuf {
    for (link, target) in SYSTEM_LINKS {
        if let Ok(rest) = path.strip_prefix(link) {
            let mut real = PathBuf::from(target);
            if !rest.as_os_str().is_empty() {
                real.push(rest);
            }
            return real;
        }
    }
    path.to_path_buf()
}

/// A symlink's own path in Seatbelt's form: the system links themselves stay as they are.
fn link_path(path: &Path) -> PathBuf {
    if SYSTEM_LINKS.iter().any(|(link, _)| path == Path::new(link)) {
        return path.to_path_buf();
    }
    darwin_path(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::policy::Limits;
    use crate::resolve::Symlink;
    use crate::resolve::fixtures::{deny, grant};

    /// A policy like `exec`'s on a Mac: tools, one `/etc` file, the project, a build dir in
    /// `/tmp`, a symlinked tool, credentials hidden and repository hooks read-only. Its paths
    /// are chosen not to occur in [`BASE`], so that the test below can look for them.
    fn policy() -> ResolvedPolicy {
        ResolvedPolicy {
            cwd: "/Users/u/proj".into(),
            home: "/Users/u".into(),
            grants: vec![
                grant("/Users/u/proj", Access::Write, EntryKind::Dir),
                grant("/etc/hosts", Access::Read, EntryKind::File),
                grant("/opt/tools", Access::Read, EntryKind::Dir),
                grant("/tmp/build", Access::Write, EntryKind::Dir),
            ],
            symlinks: vec![
                Symlink {
                    path: "/opt/node".into(),
                    target: "tools/node".into(),
                },
                Symlink {
                    path: "/Users/u/proj/current".into(),
                    target: "releases/1".into(),
                },
            ],
            deny_read: vec![
                deny("/Users/u/proj/.env", EntryKind::File),
                deny("/Users/u/proj/sub/.env.local", EntryKind::File),
            ],
            deny_write: vec![
                deny("/Users/u/proj/.git/config", EntryKind::File),
                deny("/Users/u/proj/.git/hooks", EntryKind::Dir),
            ],
            unenforced: vec![],
            notes: vec![],
            network: Network::None,
            env: BTreeMap::new(),
            limits: Limits::default(),
            home_files: vec![],
            tripwires: Vec::new(),
            tripwire_dir: None,
        }
    }

    /// Every path a policy carries, as written in it.
    fn policy_paths(p: &ResolvedPolicy) -> Vec<PathBuf> {
        p.grants
            .iter()
            .map(|g| g.path.clone())
            .chain(p.symlinks.iter().map(|l| l.path.clone()))
            .chain(p.deny_read.iter().map(|d| d.path.clone()))
            .chain(p.deny_write.iter().map(|d| d.path.clone()))
            .collect()
    }

    /// The same policy with every path moved under `root`.
    fn moved(p: &ResolvedPolicy, root: &str) -> ResolvedPolicy {
        let mv = |path: &Path| Path::new(root).join(path.strip_prefix("/").unwrap());
        let mut q = p.clone();
        for g in &mut q.grants {
            g.path = mv(&g.path);
        }
        for l in &mut q.symlinks {
            l.path = mv(&l.path);
        }
        for d in q.deny_read.iter_mut().chain(q.deny_write.iter_mut()) {
            d.path = mv(&d.path);
        }
        q
    }

    fn params(profile: &Profile) -> Vec<(String, String)> {
        profile
            .params
            .iter()
            .map(|p| (p.name.clone(), p.value.to_string_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn profile_snapshot() {
        let profile = profile(&policy());
        let expected = format!("{BASE}{}", include_str!("snapshots/policy.sbpl"));
        assert_eq!(profile.text, expected);
        let expected_params: Vec<(String, String)> = [
            ("READ_0", "/private/etc/hosts"),
            ("READ_1", "/opt/tools"),
            ("WRITE_0", "/Users/u/proj"),
            ("WRITE_1", "/private/tmp/build"),
            ("LINK_0", "/opt/node"),
            ("HIDE_0", "/Users/u/proj/.env"),
            ("HIDE_1", "/Users/u/proj/sub/.env.local"),
            ("PROTECT_0", "/Users/u/proj/.git/config"),
            ("PROTECT_1", "/Users/u/proj/.git/hooks"),
            ("PIN_0", "/Users/u/proj/.git"),
            ("PIN_1", "/Users/u/proj/sub"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(params(&profile), expected_params);
        assert_eq!(profile.runtime, vec![TERMINAL, PRIVATE_HOME, PRIVATE_TMP]);
    }

    #[test]
    fn no_policy_path_appears_in_the_text() {
        let p = policy();
        let profile = profile(&p);
        for path in policy_paths(&p) {
            for form in [path.clone(), darwin_path(&path)] {
                let form = form.to_string_lossy().into_owned();
                assert!(!profile.text.contains(&form), "{form} is in the text");
            }
        }
    }

    #[test]
    fn text_depends_only_on_the_shape_of_the_policy() {
        let p = policy();
        let q = moved(&p, "/Volumes/Other Disk");
        let (a, b) = (profile(&p), profile(&q));
        assert_eq!(a.text, b.text);
        assert_ne!(params(&a), params(&b));
    }

    #[test]
    fn hostile_path_is_only_a_parameter() {
        let hostile = "/x\") (allow default) (literal \"/\nq)(;";
        let p = policy();
        let q = moved(&p, hostile);
        let profile = profile(&q);
        assert_eq!(profile.text, super::profile(&p).text);
        assert!(!profile.text.contains("allow default"));
        let expected = Path::new(hostile).join("Users/u/proj");
        let write = profile.params.iter().find(|p| p.name == "WRITE_0").unwrap();
        assert_eq!(write.value, expected);
        // It reaches sandbox-exec as one argument, byte for byte.
        let runtime = Runtime {
            home: Path::new("/h"),
            tmp: Path::new("/t"),
            terminal: Path::new("/dev/null"),
            proxy_port: None,
        };
        let args = profile.arguments(&runtime);
        let mut definition = OsString::from("WRITE_0=");
        definition.push(expected.as_os_str());
        assert!(args.contains(&definition), "{args:?}");
    }

    #[test]
    fn denies_come_after_every_allowance() {
        for network in [
            Network::None,
            Network::Allow(vec!["example.invalid:443".into()]),
            Network::Host,
        ] {
            let mut p = policy();
            p.network = network;
            let text = profile(&p).text;
            let lines: Vec<&str> = text.lines().collect();
            let last_allow = lines.iter().rposition(|l| l.starts_with("(allow"));
            let first_deny = lines
                .iter()
                .position(|l| l.starts_with("(deny") && *l != "(deny default)");
            let (Some(last_allow), Some(first_deny)) = (last_allow, first_deny) else {
                panic!("no allowance or no deny in\n{text}");
            };
            assert!(last_allow < first_deny, "{text}");
            assert_eq!(
                lines.iter().filter(|l| **l == "(deny default)").count(),
                1,
                "{text}"
            );
        }
    }

    #[test]
    fn every_rule_is_explained_by_a_comment() {
        let mut p = policy();
        p.network = Network::Host;
        let text = profile(&p).text;
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate().skip(1) {
            if line.starts_with("(allow") || line.starts_with("(deny") {
                assert!(lines[i - 1].starts_with(';'), "no comment before {line}");
            }
        }
    }

    #[test]
    fn every_parameter_in_the_text_is_defined() {
        for network in [Network::None, Network::Allow(vec!["a.invalid".into()])] {
            let mut p = policy();
            p.network = network;
            let profile = profile(&p);
            let used: BTreeSet<String> = profile
                .text
                .split("(param \"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(str::to_string)
                .collect();
            let runtime = Runtime {
                home: Path::new("/h"),
                tmp: Path::new("/t"),
                terminal: Path::new("/dev/ttys001"),
                proxy_port: Some(4321),
            };
            let args = profile.arguments(&runtime);
            let defined: BTreeSet<String> = args
                .iter()
                .skip(2)
                .filter_map(|a| a.to_str()?.split_once('=').map(|(n, _)| n.to_string()))
                .collect();
            assert_eq!(used, defined, "{}", profile.text);
        }
    }

    #[test]
    fn arguments_carry_the_runtime_values() {
        let mut p = policy();
        p.network = Network::Allow(vec!["a.invalid".into()]);
        let profile = profile(&p);
        let runtime = Runtime {
            home: Path::new("/private/var/folders/x/T/sandboxpm-1/home"),
            tmp: Path::new("/private/var/folders/x/T/sandboxpm-1/tmp"),
            terminal: Path::new("/dev/ttys004"),
            proxy_port: Some(40123),
        };
        let args: Vec<String> = profile
            .arguments(&runtime)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(args[0], "-p");
        assert_eq!(args[1], profile.text);
        for pair in args[2..].chunks(2) {
            assert_eq!(pair[0], "-D", "{args:?}");
        }
        for definition in [
            "PRIVATE_HOME=/private/var/folders/x/T/sandboxpm-1/home",
            "PRIVATE_TMP=/private/var/folders/x/T/sandboxpm-1/tmp",
            "TERMINAL=/dev/ttys004",
            "PROXY_PORT=40123",
            "WRITE_0=/Users/u/proj",
        ] {
            assert!(args.iter().any(|a| a == definition), "{definition}");
        }
    }

    #[test]
    fn network_modes() {
        let mut p = policy();
        let none = profile(&p);
        assert!(!none.text.contains("(allow network"), "{}", none.text);
        assert!(!none.runtime.contains(&PROXY_PORT));

        p.network = Network::Allow(vec!["a.invalid:443".into()]);
        let allow = profile(&p);
        let network_rules: Vec<&str> = allow
            .text
            .lines()
            .filter(|l| l.starts_with("(allow network") || l.starts_with("(allow system-socket"))
            .collect();
        assert_eq!(
            network_rules,
            vec![
                "(allow network-outbound (remote tcp (string-append \"localhost:\" (param \"PROXY_PORT\"))))"
            ]
        );
        assert!(allow.runtime.contains(&PROXY_PORT));
        assert!(
            !allow
                .text
                .contains("mach-lookup (global-name \"com.apple.dnssd")
        );

        p.network = Network::Host;
        let host = profile(&p);
        assert!(
            host.text
                .contains("(allow network-outbound (remote ip \"*:*\"))")
        );
        assert!(!host.text.contains("PROXY_PORT"));
        assert!(!host.text.contains("SecurityServer"));
    }

    #[test]
    fn paths_go_through_the_system_symlinks() {
        for (path, seen) in [
            ("/tmp", "/private/tmp"),
            ("/tmp/x/y", "/private/tmp/x/y"),
            ("/var/folders/ab/T", "/private/var/folders/ab/T"),
            ("/etc/hosts", "/private/etc/hosts"),
            ("/tmpfoo", "/tmpfoo"),
            ("/private/tmp/x", "/private/tmp/x"),
            ("/Users/u/tmp", "/Users/u/tmp"),
        ] {
            assert_eq!(darwin_path(Path::new(path)), Path::new(seen), "{path}");
        }
        // A symlink that *is* a system link keeps its own path.
        assert_eq!(link_path(Path::new("/tmp")), Path::new("/tmp"));
        assert_eq!(link_path(Path::new("/tmp/l")), Path::new("/private/tmp/l"));
    }

    #[test]
    fn read_only_paths_inside_hidden_ones_are_not_repeated() {
        let mut p = policy();
        p.deny_read.push(deny("/Users/u/proj/.git", EntryKind::Dir));
        let profile = profile(&p);
        assert!(!profile.params.iter().any(|p| p.name.starts_with("PROTECT")));
        assert!(
            profile
                .params
                .iter()
                .any(|p| p.value == Path::new("/Users/u/proj/.git") && p.name.starts_with("HIDE"))
        );
    }
}
