//! The sectorgate conformance suite: vendors certify their Matrix servers
//! and clients against a sector profile.
//!
//! - [`catalog`]: every test of a profile, with a stable id and the
//!   requirements it covers;
//! - [`server`]: server mode, driving a deployed homeserver (with or
//!   without sectorgate in front) as a black box;
//! - [`client`]: client certification, judging what a vendor's client
//!   sent through a recording gateway while the suite guided its user;
//! - [`report`]: the report folder and its signed manifest;
//! - [`selection`]: which tests a run takes, and whether it can certify;
//! - [`status`]: what a test can conclude;
//! - [`verdict`]: what a run concludes, requirement by requirement.

pub mod catalog;
pub mod client;
pub mod report;
pub mod selection;
pub mod server;
pub mod status;
pub mod verdict;

/// The suite's version.
pub const SUITE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit the suite was built from.
pub const SUITE_COMMIT: &str = env!("SECTORGATE_COMMIT");
