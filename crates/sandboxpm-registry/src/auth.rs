//! Which request gets which credential.
//!
//! npm keys credentials by a "nerf dart" (`//host[:port]/path/`): a credential applies to every
//! URL under that prefix and to nothing else. We keep that rule, compare the scheme too (a token
//! configured for `https` must not travel over plain `http`), and match on whole path segments
//! so `/npm/` does not cover `/npmjunk/`. The most specific (longest) prefix wins.
//!
//! The rule is applied per request, including each hop of a redirect, which is why the client
//! follows redirects itself instead of letting the HTTP library carry headers along.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::HeaderValue;
use url::Url;

use crate::options::Registry;

/// A credential for one registry.
///
/// Its `Debug` output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (npm's `_authToken`).
    Bearer(String),
    /// `Authorization: Basic base64(username:password)` (npm's `username` + `_password`, or the
    /// decoded `_auth`).
    Basic {
        /// User name.
        username: String,
        /// Password, in clear (npm stores it base64-encoded; decode it before building this).
        password: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl Auth {
    /// The header value, marked sensitive so the HTTP stack never logs it.
    fn header_value(&self) -> Option<HeaderValue> {
        let text = match self {
            Self::Bearer(token) => format!("Bearer {token}"),
            Self::Basic { username, password } => {
                format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
            }
        };
        // A token with a newline or other control character cannot be a header; sending
        // nothing leads to a clear 401 rather than a request that cannot be built.
        let mut value = HeaderValue::from_str(&text).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// A URL prefix a credential belongs to.
#[derive(Debug, Clone)]
struct Prefix {
    scheme: String,
    host: String,
    port: Option<u16>,
    /// Always ends with `/`.
    path: String,
}

impl Prefix {
    fn new(url: &Url) -> Option<Self> {
        let mut path = url.path().to_owned();
        if !path.ends_with('/') {
            path.push('/');
        }
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
            path,
        })
    }

    fn contains(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        if url.scheme() != self.scheme
            || !host.eq_ignore_ascii_case(&self.host)
            || url.port_or_known_default() != self.port
        {
            return false;
        }
        let path = url.path();
        // `self.path` ends with `/`, so a plain prefix test already respects segment
        // boundaries; the registry root itself may be requested without the final slash.
        path.starts_with(&self.path) || self.path.strip_suffix('/') == Some(path)
    }
}

/// All configured credentials, most specific first.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    entries: Vec<(Prefix, HeaderValue)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|(p, _)| format!("{}://{}{}", p.scheme, p.host, p.path)),
            )
            .finish()
    }
}

impl Credentials {
    pub(crate) fn new(registries: &[Registry]) -> Self {
        let mut entries: Vec<(Prefix, HeaderValue)> = registries
            .iter()
            .filter_map(|r| {
                let auth = r.auth.as_ref()?;
                Some((Prefix::new(&r.url)?, auth.header_value()?))
            })
            .collect();
        entries.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.path.len()));
        Self { entries }
    }

    /// The `Authorization` value for `url`, if a credential covers it.
    pub(crate) fn header_for(&self, url: &Url) -> Option<HeaderValue> {
        self.entries
            .iter()
            .find(|(prefix, _)| prefix.contains(url))
            .map(|(_, value)| value.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn creds(entries: &[(&str, Auth)]) -> Credentials {
        Credentials::new(
            &entries
                .iter()
                .map(|(u, a)| Registry {
                    url: Url::parse(u).unwrap(),
                    auth: Some(a.clone()),
                })
                .collect::<Vec<_>>(),
        )
    }

    fn header(c: &Credentials, url: &str) -> Option<String> {
        c.header_for(&Url::parse(url).unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn bearer_is_sent_under_registry_path_only() {
        let c = creds(&[("https://reg.test/npm/", Auth::Bearer("t0k".into()))]);
        assert_eq!(
            header(&c, "https://reg.test/npm/foo").as_deref(),
            Some("Bearer t0k")
        );
        assert_eq!(
            header(&c, "https://reg.test/npm").as_deref(),
            Some("Bearer t0k")
        );
        assert_eq!(header(&c, "https://reg.test/npmjunk/foo"), None);
        assert_eq!(header(&c, "https://reg.test/other/foo"), None);
    }

    #[test]
    fn credential_never_goes_to_another_host_port_or_scheme() {
        let c = creds(&[("https://reg.test/", Auth::Bearer("t0k".into()))]);
        assert_eq!(header(&c, "https://cdn.test/foo/-/foo-1.0.0.tgz"), None);
        assert_eq!(header(&c, "https://reg.test.evil/foo"), None);
        assert_eq!(header(&c, "https://reg.test:8443/foo"), None);
        assert_eq!(header(&c, "http://reg.test/foo"), None);
        assert_eq!(
            header(&c, "https://reg.test:443/foo").as_deref(),
            Some("Bearer t0k")
        );
        assert_eq!(
            header(&c, "https://REG.test/foo").as_deref(),
            Some("Bearer t0k")
        );
    }

    #[test]
    fn longest_prefix_wins() {
        let c = creds(&[
            ("https://reg.test/", Auth::Bearer("outer".into())),
            ("https://reg.test/private/", Auth::Bearer("inner".into())),
        ]);
        assert_eq!(
            header(&c, "https://reg.test/private/x").as_deref(),
            Some("Bearer inner")
        );
        assert_eq!(
            header(&c, "https://reg.test/public/x").as_deref(),
            Some("Bearer outer")
        );
    }

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        let c = creds(&[(
            "https://reg.test/",
            Auth::Basic {
                username: "Aladdin".into(),
                password: "open sesame".into(),
            },
        )]);
        assert_eq!(
            header(&c, "https://reg.test/x").as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let bearer = format!("{:?}", Auth::Bearer("s3cret".into()));
        let basic = format!(
            "{:?}",
            Auth::Basic {
                username: "me".into(),
                password: "s3cret".into()
            }
        );
        let c = creds(&[("https://reg.test/", Auth::Bearer("s3cret".into()))]);
        for text in [bearer, basic, format!("{c:?}")] {
            assert!(!text.contains("s3cret"), "{text}");
        }
    }
}
