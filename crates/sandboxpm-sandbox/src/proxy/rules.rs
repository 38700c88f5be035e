//! The allowlist: which hosts and ports a sandboxed command may reach.
//!
//! Entries are what the user writes in `.sandboxpmrc` or `--allow-net`:
//!
//! | entry               | allows                                                   |
//! | ------------------- | -------------------------------------------------------- |
//! | `example.org`       | `example.org` on ports 80 and 443                        |
//! | `example.org:8443`  | `example.org` on port 8443 only                          |
//! | `*.example.org`     | every subdomain of `example.org` on 80 and 443, not `example.org` itself |
//! | `*.example.org:443` | every subdomain, port 443 only                           |
//! | `10.1.2.3:8080`     | that address, even though it is private: an explicit grant |
//! | `[::1]:8080`        | an IPv6 address, likewise                                |
//!
//! Ports default to 80 and 443 because those are what a package manager needs; anything else must
//! be asked for. The wildcard does not cover the bare domain because `*.` reads as "a subdomain",
//! and a user who wants both writes both. A bad entry is an error that names it, never skipped:
//! a typo in an allowlist should not silently widen or narrow what a script can reach.

use std::net::IpAddr;

use super::host::{Host, HostError, parse_host, split_authority};

/// A parsed network allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// The entry as the user wrote it, for messages.
    entry: String,
    pattern: Pattern,
    /// `None`: ports 80 and 443.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// Exactly this name.
    Name(String),
    /// Any name ending in `.<suffix>`.
    Subdomains(String),
    /// Exactly this address, written as a literal.
    Ip(IpAddr),
}

/// An allowlist entry that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The entry is not `host`, `host:port`, `*.domain[:port]` or an IP address with an optional
    /// port.
    #[error("invalid network allowlist entry `{entry}`: {reason}")]
    Invalid {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ProxyRules {
    /// Parses the user's allowlist entries; the first invalid entry is an error naming it.
    pub fn parse(entries: &[String]) -> Result<ProxyRules, RuleError> {
        let rules = entries
            .iter()
            .map(|entry| {
                parse_rule(entry).map_err(|reason| RuleError::Invalid {
                    entry: entry.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ProxyRules { rules })
    }

    /// The entries as the user wrote them.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.entry.as_str())
    }

    /// Whether a request for `host:port` passes the allowlist, before any address check.
    ///
    /// `host` is a name (any case, an optional trailing dot) or an IP address (IPv6 with or
    /// without brackets); an address passes only when it is listed itself. Unparseable hosts do
    /// not pass.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let parsed = match host.parse::<IpAddr>() {
            Ok(ip) => Ok(Host::Ip(ip)),
            Err(_) => parse_host(host),
        };
        match parsed {
            Ok(Host::Name(name)) => self.allows_name(&name, port),
            Ok(Host::Ip(ip)) => self.lists_ip(ip, port),
            Err(_) => false,
        }
    }

    /// Whether a normalised name (lower case, no trailing dot) matches a name or wildcard rule.
    pub(crate) fn allows_name(&self, name: &str, port: u16) -> bool {
        self.rules.iter().any(|rule| {
            port_matches(rule.port, port)
                && match &rule.pattern {
                    Pattern::Name(allowed) => allowed == name,
                    Pattern::Subdomains(suffix) => name
                        .strip_suffix(suffix.as_str())
                        .and_then(|prefix| prefix.strip_suffix('.'))
                        .is_some_and(|prefix| !prefix.is_empty()),
                    Pattern::Ip(_) => false,
                }
        })
    }

    /// Whether this address is listed as an IP entry for any port.
    pub(crate) fn mentions_ip(&self, ip: IpAddr) -> bool {
        self.rules
            .iter()
            .any(|rule| matches!(rule.pattern, Pattern::Ip(listed) if listed == ip))
    }

    /// Whether this address is listed as an IP entry for this port: the explicit grant that lets
    /// a private address through.
    pub(crate) fn lists_ip(&self, ip: IpAddr, port: u16) -> bool {
        self.rules.iter().any(|rule| {
            port_matches(rule.port, port)
                && matches!(rule.pattern, Pattern::Ip(listed) if listed == ip)
        })
    }
}

fn port_matches(rule: Option<u16>, port: u16) -> bool {
    match rule {
        Some(allowed) => allowed == port,
        None => port == 80 || port == 443,
    }
}

fn parse_rule(entry: &str) -> Result<Rule, &'static str> {
    let text = entry.trim();
    if text.is_empty() {
        return Err("the entry is empty");
    }
    if text.contains('/') || text.contains("://") {
        return Err("write a host and an optional port (`example.org:443`), not a URL");
    }
    // A bare IPv6 address (`::1`) cannot carry a port, so it takes the default ports.
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Rule {
            entry: entry.to_owned(),
            pattern: Pattern::Ip(ip),
            port: None,
        });
    }
    let (host, port) = split_authority(text).map_err(|error| error.describe())?;
    let pattern = if let Some(domain) = host.strip_prefix("*.") {
        match parse_host(domain) {
            Ok(Host::Name(name)) => Pattern::Subdomains(name),
            Ok(Host::Ip(_)) | Err(HostError::NumericName) => {
                return Err("a wildcard must be followed by a domain name (`*.example.org`)");
            }
            Err(error) => return Err(error.describe()),
        }
    } else if host.contains('*') {
        return Err("`*` is only allowed as the whole first label (`*.example.org`)");
    } else if host.contains(':') && !host.starts_with('[') {
        return Err("an IPv6 address with a port must be written in brackets (`[::1]:8080`)");
    } else {
        match parse_host(host).map_err(|error| error.describe())? {
            Host::Name(name) => Pattern::Name(name),
            Host::Ip(ip) => Pattern::Ip(ip),
        }
    };
    Ok(Rule {
        entry: entry.to_owned(),
        pattern,
        port,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn rules(entries: &[&str]) -> ProxyRules {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        ProxyRules::parse(&entries).expect("valid rules")
    }

    fn error(entry: &str) -> String {
        ProxyRules::parse(&[entry.to_string()])
            .expect_err(entry)
            .to_string()
    }

    #[test]
    fn entries_parse_into_patterns() {
        let parsed = rules(&[
            "Example.org",
            "example.org:8443",
            "*.example.org",
            "*.Example.org.:443",
            "1.2.3.4:8080",
            "[::1]:8080",
            "::1",
            "  padded.example  ",
        ]);
        let got: Vec<(Pattern, Option<u16>)> = parsed
            .rules
            .iter()
            .map(|r| (r.pattern.clone(), r.port))
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            got,
            vec![
                (Pattern::Name("example.org".into()), None),
                (Pattern::Name("example.org".into()), Some(8443)),
                (Pattern::Subdomains("example.org".into()), None),
                (Pattern::Subdomains("example.org".into()), Some(443)),
                (Pattern::Ip(ip("1.2.3.4")), Some(8080)),
                (Pattern::Ip(ip("::1")), Some(8080)),
                (Pattern::Ip(ip("::1")), None),
                (Pattern::Name("padded.example".into()), None),
            ]
        );
        assert_eq!(
            parsed.entries().next(),
            Some("Example.org"),
            "entries are kept as written"
        );
    }

    #[test]
    fn invalid_entries_name_the_entry_and_the_reason() {
        let cases = [
            ("", "invalid network allowlist entry ``: the entry is empty"),
            (
                "example.org:http",
                "invalid network allowlist entry `example.org:http`: the port must be a number from 1 to 65535",
            ),
            (
                "example.org:0",
                "invalid network allowlist entry `example.org:0`: the port must be a number from 1 to 65535",
            ),
            (
                "example.org:70000",
                "invalid network allowlist entry `example.org:70000`: the port must be a number from 1 to 65535",
            ),
            (
                "https://example.org",
                "invalid network allowlist entry `https://example.org`: write a host and an optional port (`example.org:443`), not a URL",
            ),
            (
                "a.*.example.org",
                "invalid network allowlist entry `a.*.example.org`: `*` is only allowed as the whole first label (`*.example.org`)",
            ),
            (
                "*",
                "invalid network allowlist entry `*`: `*` is only allowed as the whole first label (`*.example.org`)",
            ),
            (
                "*.1.2.3.4",
                "invalid network allowlist entry `*.1.2.3.4`: a wildcard must be followed by a domain name (`*.example.org`)",
            ),
            (
                "[::1",
                "invalid network allowlist entry `[::1`: unclosed `[` in an IPv6 address",
            ),
            (
                "[::g]:80",
                "invalid network allowlist entry `[::g]:80`: not a valid IPv6 address",
            ),
            (
                "bad host",
                "invalid network allowlist entry `bad host`: host names may contain only letters, digits, `-`, `_` and `.`",
            ),
            (
                "127.1",
                "invalid network allowlist entry `127.1`: a numeric name is an IPv4 address in a legacy form; write the address as a.b.c.d",
            ),
        ];
        for (entry, message) in cases {
            assert_eq!(error(entry), message, "{entry}");
        }
    }

    #[test]
    fn the_first_invalid_entry_fails_the_whole_list() {
        let entries = vec!["ok.example".to_string(), "bad:port".to_string()];
        assert!(matches!(
            ProxyRules::parse(&entries),
            Err(RuleError::Invalid { entry, .. }) if entry == "bad:port"
        ));
    }

    #[test]
    fn matching_table() {
        let r = rules(&[
            "*.example.org",
            "exact.example",
            "api.example:8443",
            "10.0.0.1:8080",
            "[fd00::1]:443",
        ]);
        let cases: &[(&str, u16, bool)] = &[
            // Wildcards match any depth of subdomain, but not the bare domain.
            ("a.example.org", 443, true),
            ("a.b.example.org", 443, true),
            ("A.B.EXAMPLE.ORG.", 80, true),
            ("example.org", 443, false),
            ("EXAMPLE.org.", 443, false),
            ("badexample.org", 443, false),
            ("a.example.org.evil", 443, false),
            ("a.example.org", 8080, false),
            // Exact names: case-insensitive, trailing dot ignored, default ports 80 and 443.
            ("exact.example", 80, true),
            ("EXACT.example.", 443, true),
            ("exact.example", 22, false),
            ("sub.exact.example", 443, false),
            // Explicit ports replace the defaults.
            ("api.example", 8443, true),
            ("api.example", 443, false),
            // IP entries match only the same address and port.
            ("10.0.0.1", 8080, true),
            ("10.0.0.1", 80, false),
            ("10.0.0.2", 8080, false),
            ("fd00::1", 443, true),
            ("[fd00:0::1]", 443, true),
            ("fd00::2", 443, false),
            // Garbage never matches.
            ("", 443, false),
            ("exact.example/x", 443, false),
        ];
        for &(host, port, expected) in cases {
            assert_eq!(r.allows(host, port), expected, "{host}:{port}");
        }
    }

    #[test]
    fn an_empty_allowlist_allows_nothing() {
        let r = rules(&[]);
        assert!(!r.allows("example.org", 443));
        assert!(!r.allows("127.0.0.1", 80));
    }
}
