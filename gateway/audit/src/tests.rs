//! Unit tests: the canonical encoding, pseudonyms, the Merkle proofs against
//! the RFC's definitions, and the log on SQLite and PostgreSQL (tampering,
//! proofs, pruning, export), and a database that stops answering.

mod encoding;
mod fixture;
mod log;
mod merkle;
mod stall;
mod tamper;
