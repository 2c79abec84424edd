//! Turns an HTTP request into one typed Matrix [`Action`].
//!
//! This is the *classify* step of the pipeline (accept → **classify** → decide →
//! record → forward). Routes come from ruma's endpoint metadata (see
//! [`catalog`]), never from hand-written patterns. Classification is pure: it
//! reads the request head and the (already buffered) body and allocates only
//! what the typed action keeps.

pub mod action;
pub mod catalog;
mod classify;
mod credentials;
mod endpoint;
mod error;
mod head;
pub mod json;
mod parse;

pub use action::{Action, Classified, MediaRef, Transaction};
pub use catalog::{Catalog, Lookup, RouteMatch};
pub use classify::{BodyMode, Request, classify, classify_lookup};
pub use credentials::{REDACTED, access_token, redact_query, redact_secrets, x_matrix};
pub use endpoint::{Api, Endpoint};
pub use error::ClassifyError;
pub use head::{HeadError, check_head, check_path};

#[cfg(test)]
mod tests;
