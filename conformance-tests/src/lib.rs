//! The sectorgate conformance suite: catalog, runner and reports (to come).
//!
//! See `conformance-tests/README.md` for what this crate will hold.
