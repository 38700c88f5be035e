//! The little URL handling configuration needs: validating registry URLs, and the `//host/path`
//! "nerf dart" form npm keys credentials by. A full URL crate is not needed for that, and keeping
//! the rules here makes them explicit: scheme and host compare case-insensitively, default ports
//! are dropped (`https://h:443/` is `//h/`), user info, query and fragment are ignored.

/// An `http:` or `https:` URL, split into the parts credential matching uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    pub(crate) https: bool,
    /// Lowercase host, with `:port` when the port is not the scheme's default.
    pub(crate) host_port: String,
    /// The host alone, lowercase (IPv6 keeps its brackets).
    pub(crate) host: String,
    /// The path, starting with `/`.
    pub(crate) path: String,
}

impl HttpUrl {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let after = &rest[authority_end..];
        let path_end = after.find(['?', '#']).unwrap_or(after.len());
        let path = if after[..path_end].is_empty() {
            "/".to_owned()
        } else {
            after[..path_end].to_owned()
        };
        let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(host_and_port)?;
        let host = host.to_ascii_lowercase();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        let default_port = if https { 443 } else { 80 };
        let host_port = match port {
            Some(p) if p != default_port => format!("{host}:{p}"),
            _ => host.clone(),
        };
        Some(HttpUrl {
            https,
            host_port,
            host,
            path,
        })
    }

    /// `//host[:port]/path`: the key prefix npm looks credentials up by.
    pub(crate) fn nerf_dart(&self) -> String {
        format!("//{}{}", self.host_port, self.path)
    }
}

fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if text.starts_with('[') {
        let close = text.find(']')?;
        let host = &text[..=close];
        return match &text[close + 1..] {
            "" => Some((host, None)),
            port => Some((host, Some(port.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match text.rsplit_once(':') {
        Some((host, "")) => Some((host, None)),
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

/// A registry URL as npm uses it: validated, with a trailing slash.
pub(crate) fn normalize_registry(text: &str) -> Option<String> {
    let text = text.trim();
    HttpUrl::parse(text)?;
    let base = text.split(['?', '#']).next().unwrap_or(text);
    Some(if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_and_drops_default_ports() {
        let url = HttpUrl::parse("HTTPS://User:pw@Example.invalid:443/a/b?q#f").unwrap();
        assert_eq!(url.nerf_dart(), "//example.invalid/a/b");
        assert!(url.https);
        let url = HttpUrl::parse("http://127.0.0.1:4873").unwrap();
        assert_eq!(url.nerf_dart(), "//127.0.0.1:4873/");
        let url = HttpUrl::parse("http://[::1]:8080/x").unwrap();
        assert_eq!(
            (url.host.as_str(), url.host_port.as_str()),
            ("[::1]", "[::1]:8080")
        );
        assert!(HttpUrl::parse("ftp://x/").is_none());
        assert!(HttpUrl::parse("http://:80/").is_none());
        assert!(HttpUrl::parse("http://h:notaport/").is_none());
        assert!(HttpUrl::parse("not a url").is_none());
    }

    #[test]
    fn registry_gets_a_trailing_slash() {
        assert_eq!(
            normalize_registry(" http://127.0.0.1:4873 ").unwrap(),
            "http://127.0.0.1:4873/"
        );
        assert_eq!(
            normalize_registry("http://127.0.0.1/npm/").unwrap(),
            "http://127.0.0.1/npm/"
        );
        assert!(normalize_registry("127.0.0.1:4873").is_none());
    }
}
