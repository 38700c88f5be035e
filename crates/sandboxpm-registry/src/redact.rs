//! URLs as they may appear in errors and logs.
//!
//! A registry URL can carry a user name and password (`https://user:pass@host/`), and a
//! tarball URL from a private CDN can carry a signed token in its query. Neither may reach a
//! terminal, a CI log or a bug report, so every URL shown to a human goes through [`redact`].

use url::Url;

/// `url` without its user info, and with its query replaced by a marker.
pub(crate) fn redact(url: &Url) -> String {
    let mut clean = url.clone();
    // Both setters fail only for URLs that cannot have credentials (`data:` and the like),
    // which have none to strip.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    let had_query = clean.query().is_some();
    clean.set_query(None);
    clean.set_fragment(None);
    let mut text = String::from(clean);
    if had_query {
        text.push_str("?<redacted>");
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn strips_user_info_and_query() {
        let url = Url::parse("https://me:s3cret@reg.test/a/-/a-1.0.0.tgz?sig=s3cret#x").unwrap();
        assert_eq!(redact(&url), "https://reg.test/a/-/a-1.0.0.tgz?<redacted>");
    }

    #[test]
    fn keeps_plain_urls() {
        let url = Url::parse("http://127.0.0.1:8080/@scope%2fname").unwrap();
        assert_eq!(redact(&url), "http://127.0.0.1:8080/@scope%2fname");
    }
}
