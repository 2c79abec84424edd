//! `sectorgate`: a policy-enforcing gateway in front of a Matrix homeserver.
//!
//! This binary wires the pipeline crates together: it reads the config,
//! sets up telemetry, opens the audit store, loads the profile and serves
//! the client/federation listener and the admin listener.

/// jemalloc, whose background thread gives memory freed by closed or
/// parked connections back to the system within seconds (glibc's malloc
/// keeps most of it; docs/benchmarks.md, idle connections). Its settings
/// are in `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod admin;
mod audit;
mod audit_cmd;
mod cli;
mod config;
mod connections;
mod federation_cmd;
mod index;
mod keep_up;
mod listener;
mod parking;
mod profile_cmd;
mod reload;
mod rewind;
mod serve;
mod stopping;
mod strict;
mod telemetry;
mod tiles;
mod tls;
mod watch;
mod witness;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (ring), before anything
    // builds a TLS client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::CheckConfig(args) => match config::Config::load(args.config.as_deref()) {
            Ok(config) => {
                println!("config ok: profile {}", config.profile.describe());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("sectorgate: {error}");
                ExitCode::FAILURE
            }
        },
        cli::Command::Profile(command) => profile_cmd::run(command),
        cli::Command::Federation(command) => federation_cmd::run(command),
        cli::Command::Audit(command) => audit_cmd::run(command),
    }
}
