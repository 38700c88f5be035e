//! Host names and `host:port` authorities, parsed the same way for allowlist entries and requests.
//!
//! One parser serves both sides on purpose: if a rule and a request normalised differently
//! (case, a trailing dot, an IPv6 spelling), a request could slip past a rule or miss one. Names are
//! lower-cased and lose one trailing dot; IP addresses are parsed into [`IpAddr`] so that every
//! spelling of the same address compares equal.
//!
//! Names whose last label is numeric (`127.1`, `0x7f.1`) are rejected as names: the system
//! resolver reads them as IPv4 addresses in legacy forms, which would let a request reach an
//! address while looking like a name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A parsed host: a DNS name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Host {
    /// A lower-cased DNS name without a trailing dot.
    Name(String),
    /// An IP address, written as a literal.
    Ip(IpAddr),
}

impl Host {
    /// `host:port` as it appears in a request, with brackets around IPv6 addresses.
    pub(crate) fn authority(&self, port: u16) -> String {
        match self {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{self}:{port}"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Why a host or authority did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostError {
    /// Not a valid name or address; the text says why.
    Invalid(&'static str),
    /// A name that the resolver would read as an IPv4 address in a legacy form.
    NumericName,
}

impl HostError {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            HostError::Invalid(reason) => reason,
            HostError::NumericName => {
                "a numeric name is an IPv4 address in a legacy form; write the address as a.b.c.d"
            }
        }
    }
}

/// Parses a host: `[v6]`, a dotted-quad IPv4 address, or a DNS name.
pub(crate) fn parse_host(text: &str) -> Result<Host, HostError> {
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or(HostError::Invalid("unclosed `[` in an IPv6 address"))?;
        // Zone identifiers (`fe80::1%eth0`) name a local interface: never a public destination.
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| Host::Ip(IpAddr::V6(ip)))
            .map_err(|_| HostError::Invalid("not a valid IPv6 address"));
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    parse_name(text).map(Host::Name)
}

fn parse_name(text: &str) -> Result<String, HostError> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if name.is_empty() {
        return Err(HostError::Invalid("empty host name"));
    }
    if name.len() > 253 {
        return Err(HostError::Invalid("host name longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostError::Invalid("empty label in host name"));
        }
        if label.len() > 63 {
            return Err(HostError::Invalid("label longer than 63 characters"));
        }
        // Underscores are not valid in host names but appear in real DNS names; allowing them
        // costs nothing because the name is still resolved and checked.
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(HostError::Invalid(
                "host names may contain only letters, digits, `-`, `_` and `.`",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostError::Invalid("a label may not start or end with `-`"));
        }
    }
    let last = name.rsplit('.').next().unwrap_or(&name);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric {
        return Err(HostError::NumericName);
    }
    Ok(name)
}

/// Splits `host[:port]` into the host text and the optional port, without judging the host.
///
/// IPv6 addresses must be bracketed when a port follows; a bare IPv6 address (more than one `:`)
/// is returned whole with no port.
pub(crate) fn split_authority(text: &str) -> Result<(&str, Option<u16>), HostError> {
    if text.starts_with('[') {
        let close = text
            .find(']')
            .ok_or(HostError::Invalid("unclosed `[` in an IPv6 address"))?;
        let (host, rest) = text.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(parse_port(port)?))),
                None => Err(HostError::Invalid("unexpected text after `]`")),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None)),
        1 => {
            let (host, port) = text.split_once(':').unwrap_or((text, ""));
            Ok((host, Some(parse_port(port)?)))
        }
        _ => Ok((text, None)),
    }
}

fn parse_port(text: &str) -> Result<u16, HostError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Invalid(
            "the port must be a number from 1 to 65535",
        ));
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(HostError::Invalid(
            "the port must be a number from 1 to 65535",
        )),
        Ok(port) => Ok(port),
    }
}

/// Parses a request authority (`host:port`, `[v6]:port`); `default_port` applies when none is
/// written, and a missing port without a default is an error.
pub(crate) fn parse_authority(
    text: &str,
    default_port: Option<u16>,
) -> Result<(Host, u16), HostError> {
    let (host, port) = split_authority(text)?;
    if host.contains(':') && !host.starts_with('[') {
        return Err(HostError::Invalid(
            "an IPv6 address must be written in brackets",
        ));
    }
    let port = port
        .or(default_port)
        .ok_or(HostError::Invalid("the target has no port"))?;
    Ok((parse_host(host)?, port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            parse_host("EXAMPLE.org.").unwrap(),
            Host::Name("example.org".into())
        );
        assert_eq!(
            parse_host("a_b.example").unwrap(),
            Host::Name("a_b.example".into())
        );
    }

    #[test]
    fn addresses_parse_in_every_spelling() {
        assert_eq!(
            parse_host("[::1]").unwrap(),
            Host::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            parse_host("[0:0:0:0:0:0:0:1]").unwrap(),
            Host::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            parse_host("10.0.0.1").unwrap(),
            Host::Ip("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn legacy_ipv4_forms_are_not_names() {
        for text in ["127.1", "2130706433", "0x7f.1", "foo.0x7f", "a.1"] {
            assert_eq!(parse_host(text), Err(HostError::NumericName), "{text}");
        }
        assert!(parse_host("1a.example").is_ok());
    }

    #[test]
    fn garbage_hosts_are_invalid() {
        for text in [
            "",
            ".",
            "a..b",
            "-a.example",
            "a b",
            "a/b",
            "[::1",
            "[zz]",
            "é.example",
        ] {
            assert!(
                matches!(parse_host(text), Err(HostError::Invalid(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn authorities() {
        assert_eq!(
            parse_authority("Example.org:443", None).unwrap(),
            (Host::Name("example.org".into()), 443)
        );
        assert_eq!(
            parse_authority("[::1]:8080", None).unwrap(),
            (Host::Ip("::1".parse().unwrap()), 8080)
        );
        assert_eq!(
            parse_authority("example.org", Some(80)).unwrap(),
            (Host::Name("example.org".into()), 80)
        );
        for text in [
            "example.org",
            "example.org:",
            "example.org:0",
            "a:65536",
            "::1:80",
            "[::1]x",
        ] {
            assert!(parse_authority(text, None).is_err(), "{text}");
        }
    }
}
