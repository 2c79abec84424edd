//! Where a profile's files come from: a folder on disk, or the profiles
//! bundled into the binary (every folder under `profiles/`, embedded by the
//! build script).

use std::path::{Path, PathBuf};

use crate::ProfileError;

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
}

/// A file of a bundled profile, by its path under `profiles/`.
pub fn bundled_file(path: &str) -> Option<&'static str> {
    bundled::BUNDLED_FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}

/// The ids of the bundled profiles (folders with a `profile.yaml`).
pub(crate) fn bundled_ids() -> Vec<&'static str> {
    bundled::BUNDLED_FILES
        .iter()
        .filter_map(|(name, _)| name.strip_suffix("/profile.yaml"))
        .collect()
}

/// Where a profile's files are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileSource {
    /// Built into the binary, by id.
    Bundled(String),
    /// A folder on disk.
    Dir(PathBuf),
}

impl ProfileSource {
    /// A bundled profile; an error when there is none of that id.
    pub fn bundled(id: &str) -> Result<Self, ProfileError> {
        if bundled_ids().contains(&id) {
            Ok(Self::Bundled(id.to_owned()))
        } else {
            Err(ProfileError::UnknownBundled(
                id.to_owned(),
                bundled_ids().join(", "),
            ))
        }
    }

    /// A profile folder; a path to its `profile.yaml` is taken as the folder.
    pub fn dir(path: &Path) -> Self {
        if path.file_name().is_some_and(|name| name == "profile.yaml") {
            Self::Dir(path.parent().unwrap_or(Path::new(".")).to_owned())
        } else {
            Self::Dir(path.to_owned())
        }
    }

    /// How a file of this profile is named in messages.
    pub fn label(&self, relative: &str) -> String {
        match self {
            Self::Bundled(id) => format!("bundled:{id}/{relative}"),
            Self::Dir(dir) => dir.join(relative).display().to_string(),
        }
    }

    /// Reads a file of the profile, by its path inside the folder.
    pub fn read(&self, relative: &str) -> Result<String, String> {
        match self {
            Self::Bundled(id) => bundled_file(&format!("{id}/{relative}"))
                .map(str::to_owned)
                .ok_or_else(|| "no such file in the bundled profile".to_owned()),
            Self::Dir(dir) => {
                std::fs::read_to_string(dir.join(relative)).map_err(|e| e.to_string())
            }
        }
    }

    /// The files under `cases/`, as (path inside the folder, text), sorted.
    pub fn case_files(&self) -> Vec<(String, Result<String, String>)> {
        let mut names: Vec<String> = match self {
            Self::Bundled(id) => {
                let prefix = format!("{id}/cases/");
                bundled::BUNDLED_FILES
                    .iter()
                    .filter_map(|(name, _)| name.strip_prefix(&prefix))
                    .filter(|name| name.ends_with(".yaml"))
                    .map(|name| format!("cases/{name}"))
                    .collect()
            }
            Self::Dir(dir) => std::fs::read_dir(dir.join("cases"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
                .filter(|name| name.ends_with(".yaml"))
                .map(|name| format!("cases/{name}"))
                .collect(),
        };
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let text = self.read(&name);
                (name, text)
            })
            .collect()
    }

    /// A bundled profile by id, or a profile folder by path (as
    /// [`Profile::named`](crate::Profile::named) reads the name).
    pub fn named(name: &str) -> Result<Self, ProfileError> {
        let path = Path::new(name);
        if name.contains('/') || path.is_dir() {
            Ok(Self::dir(path))
        } else {
            Self::bundled(name)
        }
    }

    /// Every file of the profile (`profile.yaml`, `schemas/`, `cases/`), as
    /// (path inside the folder, bytes), sorted by path: what a digest of the
    /// profile covers.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = match self {
            Self::Bundled(id) => {
                let prefix = format!("{id}/");
                bundled::BUNDLED_FILES
                    .iter()
                    .filter_map(|(name, text)| {
                        let relative = name.strip_prefix(&prefix)?;
                        Some((relative.to_owned(), text.as_bytes().to_vec()))
                    })
                    .collect()
            }
            Self::Dir(dir) => {
                let mut found = Vec::new();
                if let Ok(bytes) = std::fs::read(dir.join("profile.yaml")) {
                    found.push(("profile.yaml".to_owned(), bytes));
                }
                for folder in ["schemas", "cases"] {
                    let entries = std::fs::read_dir(dir.join(folder)).into_iter().flatten();
                    for entry in entries.flatten() {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if let Ok(bytes) = std::fs::read(entry.path()) {
                            found.push((format!("{folder}/{name}"), bytes));
                        }
                    }
                }
                found
            }
        };
        files.sort();
        files
    }

    /// Where the profile `id` that this one extends is found: a sibling
    /// folder, else a bundled profile.
    pub fn parent(&self, id: &str) -> Result<Self, ProfileError> {
        if let Self::Dir(dir) = self {
            let sibling = dir.parent().map(|parent| parent.join(id));
            if let Some(sibling) = sibling.filter(|path| path.join("profile.yaml").is_file()) {
                return Ok(Self::Dir(sibling));
            }
        }
        Self::bundled(id)
    }
}
