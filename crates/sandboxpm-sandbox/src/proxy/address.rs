//! Which addresses the proxy refuses to connect to unless they are granted explicitly.
//!
//! An allowed *name* is a statement about a public service. If it resolves to loopback, the local
//! network or a link-local address, either DNS was subverted (rebinding) or the name is a trick to
//! reach the host's own services (a database on `127.0.0.1`, cloud metadata on
//! `169.254.169.254`). The proxy runs outside the sandbox, so such a connection would come from the
//! user's machine with its full network access; it is refused unless the address itself is in the
//! allowlist.
//!
//! IPv6 forms that embed an IPv4 address (`::ffff:10.0.0.1`, the deprecated `::10.0.0.1`, NAT64
//! `64:ff9b::10.0.0.1`) are judged by the embedded address, since the kernel or a translator may
//! deliver them there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not a public address, or `None` when it is one.
///
/// The answer names the kind of address (`"loopback"`, `"private"`, …) for messages.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => v4_kind(ip),
        IpAddr::V6(ip) => v6_kind(ip),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, _, _] = ip.octets();
    if a == 0 {
        // 0.0.0.0/8: "this network"; connecting to it reaches the local host on Linux.
        Some("unspecified")
    } else if a == 127 {
        Some("loopback")
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if a == 169 && b == 254 {
        Some("link-local")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if (224..240).contains(&a) {
        Some("multicast")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_kind(v4);
    }
    let embedded = Ipv4Addr::new(
        (segments[6] >> 8) as u8,
        segments[6] as u8,
        (segments[7] >> 8) as u8,
        segments[7] as u8,
    );
    // IPv4-compatible (::a.b.c.d, deprecated) and the NAT64 well-known prefix (64:ff9b::/96).
    if segments[..6] == [0; 6] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_kind(embedded);
    }
    match segments[0] {
        s if s & 0xffc0 == 0xfe80 => Some("link-local"),
        s if s & 0xffc0 == 0xfec0 => Some("site-local"),
        s if s & 0xfe00 == 0xfc00 => Some("private (unique local)"),
        s if s & 0xff00 == 0xff00 => Some("multicast"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn classification_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("10.0.0.1", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("192.168.1.1", Some("private")),
            ("192.169.1.1", None),
            ("100.64.0.1", Some("shared (carrier-grade NAT)")),
            ("100.127.255.255", Some("shared (carrier-grade NAT)")),
            ("100.128.0.1", None),
            ("100.63.255.255", None),
            ("169.254.169.254", Some("link-local")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("fc00::1", Some("private (unique local)")),
            ("fd12:3456::1", Some("private (unique local)")),
            ("ff02::1", Some("multicast")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("64:ff9b::10.0.0.1", Some("private")),
            ("64:ff9b::8.8.8.8", None),
            ("2001:4860:4860::8888", None),
            ("2606:4700::1111", None),
        ];
        for &(text, expected) in cases {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(non_public_kind(ip), expected, "{text}");
        }
    }
}
