//! Editing `package.json` in place (`add`, `remove`), keeping the user's formatting.
//!
//! A user's `package.json` is theirs: we change one entry and leave key order, indentation (two
//! spaces, four spaces, tabs, or none), line endings and the final newline as they were, like npm
//! does. A new dependency goes where npm would put it when the section is sorted (npm keeps
//! sections sorted), at the end otherwise. The file is replaced atomically.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::atomic::write_atomic;
use crate::package_json::{DependencySection, ManifestError};

/// An editable `package.json` that remembers how it was formatted.
#[derive(Debug, Clone)]
pub struct ManifestEditor {
    path: PathBuf,
    root: Map<String, Value>,
    indent: String,
    crlf: bool,
    trailing_newline: bool,
}

impl ManifestEditor {
    /// Reads the manifest at `path`.
    pub fn open(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_text(path, &text)
    }

    /// Parses manifest text that will be saved to `path`.
    pub fn from_text(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let value: Value = serde_json::from_str(text).map_err(|source| ManifestError::Syntax {
            path: path.to_owned(),
            source,
        })?;
        let Value::Object(root) = value else {
            return Err(ManifestError::Field {
                path: path.to_owned(),
                field: "(root)".to_owned(),
                message: "expected an object".to_owned(),
            });
        };
        Ok(ManifestEditor {
            path: path.to_owned(),
            root,
            indent: detect_indent(text),
            crlf: text.contains("\r\n"),
            trailing_newline: text.ends_with('\n'),
        })
    }

    /// Sets `name` to `spec` in `section`, creating the section if needed. An existing entry keeps
    /// its position.
    pub fn add_dependency(
        &mut self,
        section: DependencySection,
        name: &str,
        spec: &str,
    ) -> Result<(), ManifestError> {
        let key = section.key();
        let entry = self
            .root
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(deps) = entry else {
            return Err(ManifestError::Field {
                path: self.path.clone(),
                field: key.to_owned(),
                message: "expected an object".to_owned(),
            });
        };
        let value = Value::String(spec.to_owned());
        if let Some(existing) = deps.get_mut(name) {
            *existing = value;
            return Ok(());
        }
        let sorted = deps.keys().zip(deps.keys().skip(1)).all(|(a, b)| a <= b);
        if sorted {
            let index = deps.keys().take_while(|k| k.as_str() < name).count();
            deps.shift_insert(index, name.to_owned(), value);
        } else {
            deps.insert(name.to_owned(), value);
        }
        Ok(())
    }

    /// Removes `name` from `section`; returns whether it was there. The section stays, even when
    /// empty, as npm leaves it.
    pub fn remove_dependency(&mut self, section: DependencySection, name: &str) -> bool {
        self.root
            .get_mut(section.key())
            .and_then(Value::as_object_mut)
            .is_some_and(|deps| deps.shift_remove(name).is_some())
    }

    /// The manifest text as it will be written.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let root = Value::Object(self.root.clone());
        let result = if self.indent.is_empty() {
            serde_json::to_writer(&mut out, &root)
        } else {
            let formatter = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            root.serialize(&mut serializer)
        };
        // Serialising a `Value` into a Vec cannot fail; keep the original text shape if it did.
        let mut text = match result {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(_) => String::new(),
        };
        if self.trailing_newline {
            text.push('\n');
        }
        if self.crlf {
            text = text.replace('\n', "\r\n");
        }
        text
    }

    /// Writes the manifest back atomically (temporary file in the same directory, then rename).
    pub fn save(&self) -> Result<(), ManifestError> {
        write_atomic(&self.path, self.render().as_bytes()).map_err(|source| ManifestError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// The indentation of the first indented line (npm reads it the same way); empty for a one-line
/// file, which is then written back on one line.
fn detect_indent(text: &str) -> String {
    text.lines()
        .skip(1)
        .map(|line| {
            let body = line.trim_start_matches([' ', '\t']);
            &line[..line.len() - body.len()]
        })
        .find(|indent| !indent.is_empty())
        .map(str::to_owned)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn edit(text: &str, f: impl FnOnce(&mut ManifestEditor)) -> String {
        let mut editor = ManifestEditor::from_text(Path::new("package.json"), text).unwrap();
        f(&mut editor);
        editor.render()
    }

    #[test]
    fn adds_in_sorted_position_with_two_spaces() {
        let text = "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"a\": \"1\",\n    \"c\": \"3\"\n  }\n}\n";
        let out = edit(text, |e| {
            e.add_dependency(DependencySection::Dependencies, "b", "^2.0.0")
                .unwrap()
        });
        assert_eq!(
            out,
            "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"a\": \"1\",\n    \"b\": \"^2.0.0\",\n    \"c\": \"3\"\n  }\n}\n"
        );
    }

    #[test]
    fn keeps_tabs_unsorted_order_and_missing_newline() {
        let text = "{\n\t\"dependencies\": {\n\t\t\"z\": \"1\",\n\t\t\"a\": \"1\"\n\t},\n\t\"name\": \"x\"\n}";
        let out = edit(text, |e| {
            e.add_dependency(DependencySection::Dependencies, "m", "2")
                .unwrap()
        });
        assert_eq!(
            out,
            "{\n\t\"dependencies\": {\n\t\t\"z\": \"1\",\n\t\t\"a\": \"1\",\n\t\t\"m\": \"2\"\n\t},\n\t\"name\": \"x\"\n}"
        );
    }

    #[test]
    fn four_spaces_crlf_new_section_and_update_in_place() {
        let text = "{\r\n    \"name\": \"x\",\r\n    \"dependencies\": {\r\n        \"a\": \"1\"\r\n    }\r\n}\r\n";
        let out = edit(text, |e| {
            e.add_dependency(DependencySection::Dependencies, "a", "2")
                .unwrap();
            e.add_dependency(DependencySection::DevDependencies, "t", "^1")
                .unwrap();
        });
        assert_eq!(
            out,
            "{\r\n    \"name\": \"x\",\r\n    \"dependencies\": {\r\n        \"a\": \"2\"\r\n    },\r\n    \"devDependencies\": {\r\n        \"t\": \"^1\"\r\n    }\r\n}\r\n"
        );
    }

    #[test]
    fn removes_keeping_order() {
        let text = "{\n  \"dependencies\": {\n    \"c\": \"1\",\n    \"a\": \"1\",\n    \"b\": \"1\"\n  }\n}\n";
        let mut removed = false;
        let out = edit(text, |e| {
            removed = e.remove_dependency(DependencySection::Dependencies, "c")
        });
        assert!(removed);
        assert_eq!(
            out,
            "{\n  \"dependencies\": {\n    \"a\": \"1\",\n    \"b\": \"1\"\n  }\n}\n"
        );
        let out = edit(text, |e| {
            removed = e.remove_dependency(DependencySection::DevDependencies, "c")
        });
        assert!(!removed);
        assert_eq!(out, text);
    }

    #[test]
    fn saves_atomically_and_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("package.json");
        std::fs::write(&path, "{\n  \"name\": \"x\",\n  \"private\": true\n}\n").unwrap();
        let mut editor = ManifestEditor::open(&path).unwrap();
        editor
            .add_dependency(DependencySection::Dependencies, "@scope/a", "1.0.0")
            .unwrap();
        editor.save().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"name\": \"x\",\n  \"private\": true,\n  \"dependencies\": {\n    \"@scope/a\": \"1.0.0\"\n  }\n}\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn refuses_a_section_that_is_not_an_object() {
        let mut editor =
            ManifestEditor::from_text(Path::new("p/package.json"), r#"{"dependencies": []}"#)
                .unwrap();
        let err = editor
            .add_dependency(DependencySection::Dependencies, "a", "1")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "p/package.json: dependencies: expected an object"
        );
    }
}
