//! Just enough of INI (`pip.conf`), TOML (`uv.toml`, `pyproject.toml`, `bunfig.toml`) and YAML
//! (`.yarnrc.yml`) to find registry and index URLs and a few paths.
//!
//! These are readers for the handful of keys a preset needs, not parsers of the formats: what
//! they cannot understand they skip. A missed entry fails closed (a host is not allowed and the
//! tool says it cannot connect, which `--allow-net` fixes); nothing here can widen a grant beyond
//! a URL or path the file states.

/// One `key = value` of an INI file, with its section (lower case) and the key normalised like
/// pip does (`index_url` and `index-url` are one key). Continuation lines are joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniEntry {
    /// `[section]`, lower case.
    pub section: String,
    /// The key, lower case, `_` as `-`.
    pub key: String,
    /// The value, trimmed.
    pub value: String,
}

/// Reads an INI file like Python's `configparser` (`=` or `:`, `#`/`;` comments, indented
/// continuation lines).
pub fn ini_entries(text: &str) -> Vec<IniEntry> {
    let mut out: Vec<IniEntry> = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if indented && let Some(last) = out.last_mut() {
            if last.section == section {
                if !last.value.is_empty() {
                    last.value.push('\n');
                }
                last.value.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.trim().to_lowercase();
            continue;
        }
        let Some(pos) = trimmed.find(['=', ':']) else {
            continue;
        };
        out.push(IniEntry {
            section: section.clone(),
            key: trimmed[..pos].trim().to_lowercase().replace('_', "-"),
            value: trimmed[pos + 1..].trim().to_string(),
        });
    }
    out
}

/// One `key = value` of a TOML file: the table it is in (`tool.uv.index` for `[[tool.uv.index]]`),
/// the key (dotted keys kept whole), and every string in the value (one for a string, each for
/// an array, the `url` field for an inline table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlEntry {
    /// The table header, without brackets.
    pub table: String,
    /// The key, unquoted.
    pub key: String,
    /// The strings of the value.
    pub strings: Vec<String>,
    /// `true` when the value is the bare word `true`.
    pub is_true: bool,
}

/// Reads the `key = value` lines of a TOML file, arrays across lines included.
pub fn toml_entries(text: &str) -> Vec<TomlEntry> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = strip_toml_comment(line);
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('[') {
            table = trimmed
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
                .to_string();
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches(['"', '\'']).to_string();
        let mut value = value.trim().to_string();
        if value.starts_with('[') {
            // An array may span lines until its closing bracket.
            while !balanced(&value) {
                let Some(next) = lines.next() else { break };
                value.push(' ');
                value.push_str(strip_toml_comment(next).trim());
            }
        }
        let strings = if value.starts_with('{') {
            inline_table_url(&value).into_iter().collect()
        } else {
            quoted_strings(&value)
        };
        out.push(TomlEntry {
            table: table.clone(),
            key,
            strings,
            is_true: value == "true",
        });
    }
    out
}

/// The `url` (or `registry`) field of an inline table: `{ url = "…", token = "…" }`.
fn inline_table_url(value: &str) -> Option<String> {
    let body = value.trim_start_matches('{').trim_end_matches('}');
    body.split(',').find_map(|field| {
        let (k, v) = field.split_once('=')?;
        matches!(k.trim(), "url" | "registry")
            .then(|| quoted_strings(v).into_iter().next())
            .flatten()
    })
}

fn balanced(value: &str) -> bool {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in value.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    depth <= 0
}

fn strip_toml_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Every `"…"` or `'…'` string in `value` (basic escapes are not interpreted; URLs have none).
pub fn quoted_strings(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(char, String)> = None;
    for c in value.chars() {
        match current.as_mut() {
            Some((q, text)) if c == *q => {
                out.push(std::mem::take(text));
                current = None;
            }
            Some((_, text)) => text.push(c),
            None if c == '"' || c == '\'' => current = Some((c, String::new())),
            None => {}
        }
    }
    out
}

/// The registries of a `.yarnrc.yml`: `npmRegistryServer` at the top (scope `None`) and under
/// `npmScopes.<scope>` (scope `Some`).
pub fn yarnrc_yml_registries(text: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut scopes_indent: Option<usize> = None;
    let mut scope: Option<(usize, String)> = None;
    for line in text.lines() {
        let content = line.split(" #").next().unwrap_or_default();
        let trimmed = content.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(['"', '\'']);
        let value = value.trim().trim_matches(['"', '\'']);
        if let Some(si) = scopes_indent
            && indent <= si
        {
            scopes_indent = None;
            scope = None;
        }
        if indent == 0 {
            if key == "npmScopes" {
                scopes_indent = Some(0);
            } else if key == "npmRegistryServer" && !value.is_empty() {
                out.push((None, value.to_string()));
            }
            continue;
        }
        let Some(si) = scopes_indent else { continue };
        let inside = scope
            .as_ref()
            .filter(|(scope_indent, _)| indent > *scope_indent)
            .map(|(_, name)| name.clone());
        if let Some(name) = inside {
            if key == "npmRegistryServer" && !value.is_empty() {
                out.push((Some(name), value.to_string()));
            }
        } else if indent > si && value.is_empty() {
            scope = Some((indent, key.trim_start_matches('@').to_string()));
        }
    }
    out
}

/// The `registry "…"` of a classic `.yarnrc`.
pub fn yarnrc_registry(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("registry")?;
        let value = rest.trim().trim_matches(['"', '\'']);
        (!value.is_empty() && rest.starts_with([' ', '\t'])).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_conf_sections_keys_and_continuations() {
        let text = "# comment\n[global]\nindex_url = https://a.invalid/simple\nextra-index-url =\n    https://b.invalid/simple\n    https://c.invalid/simple\n; other\n[install]\ntrusted-host: a.invalid\n";
        let entries = ini_entries(text);
        assert_eq!(
            entries,
            vec![
                IniEntry {
                    section: "global".into(),
                    key: "index-url".into(),
                    value: "https://a.invalid/simple".into()
                },
                IniEntry {
                    section: "global".into(),
                    key: "extra-index-url".into(),
                    value: "https://b.invalid/simple\nhttps://c.invalid/simple".into()
                },
                IniEntry {
                    section: "install".into(),
                    key: "trusted-host".into(),
                    value: "a.invalid".into()
                },
            ]
        );
    }

    #[test]
    fn toml_tables_arrays_and_inline_tables() {
        let text = r#"
index-url = "https://a.invalid/simple" # the main one
extra-index-url = [
  "https://b.invalid/simple",
  'https://c.invalid/simple',
]
[[tool.uv.index]]
name = "internal"
url = "https://d.invalid/simple"
default = true
[install.scopes]
"@acme" = { token = "$TOKEN", url = "https://e.invalid/" }
"#;
        let entries = toml_entries(text);
        let find = |table: &str, key: &str| {
            entries
                .iter()
                .find(|e| e.table == table && e.key == key)
                .cloned()
                .unwrap_or_else(|| panic!("{table}.{key} in {entries:?}"))
        };
        assert_eq!(
            find("", "index-url").strings,
            vec!["https://a.invalid/simple"]
        );
        assert_eq!(
            find("", "extra-index-url").strings,
            vec!["https://b.invalid/simple", "https://c.invalid/simple"]
        );
        assert_eq!(
            find("tool.uv.index", "url").strings,
            vec!["https://d.invalid/simple"]
        );
        assert!(find("tool.uv.index", "default").is_true);
        assert_eq!(
            find("install.scopes", "@acme").strings,
            vec!["https://e.invalid/"]
        );
    }

    #[test]
    fn yarnrc_yml_default_and_scoped_registries() {
        let text = "nodeLinker: node-modules\nnpmRegistryServer: \"https://a.invalid\"\nnpmScopes:\n  acme:\n    npmAlwaysAuth: true\n    npmRegistryServer: https://b.invalid\n  other:\n    npmRegistryServer: 'https://c.invalid'\nyarnPath: .yarn/releases/x.cjs\n";
        assert_eq!(
            yarnrc_yml_registries(text),
            vec![
                (None, "https://a.invalid".to_string()),
                (Some("acme".to_string()), "https://b.invalid".to_string()),
                (Some("other".to_string()), "https://c.invalid".to_string()),
            ]
        );
    }

    #[test]
    fn classic_yarnrc_registry() {
        assert_eq!(
            yarnrc_registry("lastUpdateCheck 1\nregistry \"https://a.invalid/\"\n"),
            Some("https://a.invalid/".to_string())
        );
        assert_eq!(yarnrc_registry("registry-other x\n"), None);
    }
}
