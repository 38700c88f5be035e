//! Recording `always` / `never` answers: adding an entry to `whitelist` or `blacklist` of the
//! project's `.sandboxpmrc`, keeping everything else in the file (key order, indentation, final
//! newline) as it was, and replacing the file atomically.
//!
//! The file is validated before it is changed: we never write into a file we could not read back.
//! An entry moves between lists (answering `always` for a package once answered `never` removes
//! it from `blacklist`), so the file never says both.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::atomic::write_atomic;
use crate::sandboxpmrc::{SANDBOXPMRC_NAME, SandboxpmrcError, SandboxpmrcFile, split_rule};

/// `whitelist` or `blacklist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleList {
    /// Scripts of these packages may run without asking.
    Whitelist,
    /// Scripts of these packages never run.
    Blacklist,
}

impl RuleList {
    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            RuleList::Whitelist => "whitelist",
            RuleList::Blacklist => "blacklist",
        }
    }

    fn other(self) -> Self {
        match self {
            RuleList::Whitelist => RuleList::Blacklist,
            RuleList::Blacklist => RuleList::Whitelist,
        }
    }
}

/// Adds `entry` (`name`, `name@version`, `name@range`) to `list` in `<project_dir>/.sandboxpmrc`,
/// creating the file if needed. Returns whether the file changed.
pub fn add_rule(project_dir: &Path, list: RuleList, entry: &str) -> Result<bool, SandboxpmrcError> {
    let path = project_dir.join(SANDBOXPMRC_NAME);
    let entry = entry.trim();
    split_rule(entry).map_err(|message| SandboxpmrcError::Invalid {
        path: path.clone(),
        key: list.key().to_owned(),
        message,
    })?;
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(SandboxpmrcError::Read { path, source }),
    };
    let (mut root, indent, trailing_newline) = match &existing {
        Some(text) => {
            SandboxpmrcFile::parse(text, &path, None)?;
            let value: Value =
                serde_json::from_str(text).map_err(|source| SandboxpmrcError::Syntax {
                    path: path.clone(),
                    source,
                })?;
            let Value::Object(root) = value else {
                return Err(SandboxpmrcError::Invalid {
                    path,
                    key: "(root)".to_owned(),
                    message: "expected an object".to_owned(),
                });
            };
            (root, detect_indent(text), text.ends_with('\n'))
        }
        None => (Map::new(), "  ".to_owned(), true),
    };

    let mut changed = false;
    if let Some(Value::Array(items)) = root.get_mut(list.other().key()) {
        let before = items.len();
        items.retain(|item| item.as_str().map(str::trim) != Some(entry));
        changed |= items.len() != before;
    }
    let items = root
        .entry(list.key().to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = items
        && !items
            .iter()
            .any(|item| item.as_str().map(str::trim) == Some(entry))
    {
        items.push(Value::String(entry.to_owned()));
        changed = true;
    }
    if !changed {
        return Ok(false);
    }
    let text = render(&Value::Object(root), &indent, trailing_newline);
    write_atomic(&path, text.as_bytes())
        .map_err(|source| SandboxpmrcError::Write { path, source })?;
    Ok(true)
}

fn render(value: &Value, indent: &str, trailing_newline: bool) -> String {
    let mut out = Vec::new();
    let result = if indent.is_empty() {
        serde_json::to_writer(&mut out, value)
    } else {
        let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out, formatter,
        ))
    };
    let mut text = match result {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => String::new(),
    };
    if trailing_newline {
        text.push('\n');
    }
    text
}

fn detect_indent(text: &str) -> String {
    text.lines()
        .skip(1)
        .map(|line| &line[..line.len() - line.trim_start_matches([' ', '\t']).len()])
        .find(|indent| !indent.is_empty())
        .map(str::to_owned)
        .unwrap_or_default()
}
