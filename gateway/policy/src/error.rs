//! [`ProfileError`]: why a profile could not be loaded, with every problem
//! found, each by file and path.

use std::fmt;

/// One problem in a profile: the file, the path inside it (YAML path, JSON
/// pointer or case index), and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, as `<profile>/<file>` for bundled profiles or a path.
    pub file: String,
    /// Where in the file (`events.rules[0].forbid`, `/properties/body`), or empty.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(
        file: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

/// Why a profile could not be loaded. The gateway refuses to start on any of
/// these: an unreadable profile never means "allow everything".
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No bundled profile has this name.
    #[error("no bundled profile is named {0:?} (bundled: {1})")]
    UnknownBundled(String, String),
    /// The profile has problems; every one found is listed.
    #[error("profile {profile} is invalid:\n{}", list(.problems))]
    Invalid {
        /// The profile asked for.
        profile: String,
        /// What is wrong, by file and path.
        problems: Vec<Problem>,
    },
}

impl ProfileError {
    /// The problems, for reports (an unknown bundled id is one problem).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::UnknownBundled(..) => vec![Problem::new("", "", self.to_string())],
            Self::Invalid { problems, .. } => problems.clone(),
        }
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| format!("  {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}
