//! [`ProfileError`]: why a profile could not be loaded.

use std::path::PathBuf;

/// Why a profile could not be loaded. The gateway refuses to start on any of
/// these: an unreadable profile never means "allow everything".
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The profile file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The profile is not valid YAML of the profile format.
    #[error("profile {origin} is malformed: {message}")]
    Malformed {
        /// Where the profile came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// No bundled profile has this name.
    #[error("no bundled profile is named {0:?} (bundled: {1})")]
    UnknownBundled(String, String),
    /// A rule names an endpoint the gateway does not know.
    #[error("profile {profile}: rule {rule} names unknown endpoint {endpoint:?}")]
    UnknownEndpoint {
        /// The profile.
        profile: String,
        /// The rule.
        rule: String,
        /// The name that did not resolve.
        endpoint: String,
    },
    /// `extends` chains too deep or in a cycle.
    #[error("profile {0}: `extends` is circular or deeper than 8 levels")]
    ExtendsTooDeep(String),
}
