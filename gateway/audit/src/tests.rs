//! Unit tests: the canonical encoding, pseudonyms, the Merkle proofs against
//! the RFC's definitions, and the log on SQLite and PostgreSQL (tampering,
//! proofs, pruning, export), a database that stops answering, and which
//! result answers which waiter.

mod acks;
mod commitments;
mod encoding;
mod fixture;
mod index;
mod journal;
mod journal_index;
mod log;
mod merkle;
mod sim_files;
mod stall;
mod tamper;
mod tile_folder;
mod witness;
