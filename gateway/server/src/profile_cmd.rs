//! `sectorgate profile list|check`: the bundled profiles, and checking a
//! profile (its format, schemas and decision cases) before it is deployed.

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use sectorgate_policy::cases;
use sectorgate_policy::profile::ProfileSource;
use sectorgate_policy::{Problem, Profile};

use crate::cli::ProfileCommand;

/// Runs a `profile` subcommand.
pub(crate) fn run(command: ProfileCommand) -> ExitCode {
    match command {
        ProfileCommand::List => list(),
        ProfileCommand::Check { profile } => check(&profile),
    }
}

fn list() -> ExitCode {
    for id in Profile::bundled_ids() {
        match Profile::bundled(id) {
            Ok(profile) => {
                let extends = profile.extends.first().map(String::as_str).unwrap_or("-");
                println!(
                    "{:<20} {:<8} extends {:<20} {}",
                    profile.id, profile.version, extends, profile.title
                );
            }
            Err(error) => println!("{id:<20} BROKEN: {error}"),
        }
    }
    ExitCode::SUCCESS
}

fn check(name: &str) -> ExitCode {
    let path = Path::new(name);
    let source = if name.contains('/') || path.is_dir() {
        ProfileSource::dir(path)
    } else {
        match ProfileSource::bundled(name) {
            Ok(source) => source,
            Err(error) => {
                eprintln!("sectorgate: {error}");
                return ExitCode::FAILURE;
            }
        }
    };
    let profile = match source.clone() {
        ProfileSource::Bundled(id) => Profile::bundled(&id),
        ProfileSource::Dir(dir) => Profile::from_dir(&dir),
    };
    let profile = match profile {
        Ok(profile) => profile,
        Err(error) => return report(&error.problems()),
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    match cases::run_all(&source, &profile, now_ms) {
        Ok(count) => {
            println!(
                "profile {} ({}) ok: {} endpoint rules, {} event rules, {} schemas, {count} decision cases hold",
                profile.revision(),
                profile.digest,
                profile.rules.len(),
                profile.events.rules.len(),
                profile.events.schemas.by_type.len() + profile.events.schemas.by_msgtype.len(),
            );
            ExitCode::SUCCESS
        }
        Err(problems) => report(&problems),
    }
}

fn report(problems: &[Problem]) -> ExitCode {
    for problem in problems {
        eprintln!("{problem}");
    }
    eprintln!("{} problem(s)", problems.len());
    ExitCode::FAILURE
}
