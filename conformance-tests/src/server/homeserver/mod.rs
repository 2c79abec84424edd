//! Probing the homeserver settings a profile depends on, black-box and
//! through the target, as its test users: each [`Probe`] kind shows one
//! thing a client should see. A probe that fails names the setting to
//! change: the homeserver's own when the target says which homeserver it
//! runs and the profile gives that setting, the profile's wording
//! otherwise.

mod directory;
mod legacy_media;
mod published_room;

use std::time::{Duration, Instant};

use sectorgate_policy::profile::{HomeserverSetting, Probe};

use super::judge::RULE_FIELD;
use super::{Answer, Bench, Failure, Product};
use crate::report::{Exchange, Remedy};
use crate::status::Status;

/// How long a change the homeserver makes in the background (its room
/// list, its user directory) is waited for.
const SETTLE: Duration = Duration::from_secs(10);

/// How often it is looked for meanwhile.
const POLL: Duration = Duration::from_millis(500);

/// What a probe saw.
enum Probed {
    /// What the requirement asks: how it showed.
    Met(String),
    /// The homeserver did not do it: what was seen instead.
    Unmet(String),
    /// The gateway in front refused a step of the probe by its rule: the
    /// homeserver's setting is not what kept the requirement from being
    /// met.
    Refused(String),
    /// The probe cannot run in this run, for this reason.
    NotHere(String),
    /// The suite failed to take a step: an error of the run.
    Broken(String),
}

/// Runs `setting`'s probe: its status, what it rests on, and the change to
/// make when it failed.
pub(super) fn run(
    bench: &Bench<'_>,
    product: &Product,
    setting: &HomeserverSetting,
    trail: &mut Vec<Exchange>,
) -> (Status, Vec<String>, Option<Remedy>) {
    let probed = match setting.probe {
        Probe::PublishedRoomListed => published_room::probe(bench, product, trail),
        Probe::DirectoryFindsUnsharedLocalUser => directory::probe(bench, trail),
        Probe::LegacyMediaServed => legacy_media::probe(bench, trail),
        Probe::Unprobed => unprobed(setting, product),
    };
    match probed {
        Probed::Met(how) => (Status::Pass, vec![how], None),
        Probed::Unmet(seen) => {
            let remedy = remedy(setting, product.homeserver.as_deref());
            let message = format!("{seen}; to meet it, {}", remedy.describe());
            (Status::Fail, vec![message], Some(remedy))
        }
        Probed::Refused(why) => (Status::Fail, vec![why], None),
        Probed::NotHere(why) => (Status::NotExercised, vec![why], None),
        Probed::Broken(why) => (Status::Error, vec![why], None),
    }
}

/// A setting no probe shows: not exercised, saying what to check by hand.
fn unprobed(setting: &HomeserverSetting, product: &Product) -> Probed {
    let remedy = remedy(setting, product.homeserver.as_deref());
    Probed::NotHere(format!(
        "the suite cannot probe this: {}; to check on the homeserver: {}",
        setting.reason,
        remedy.describe()
    ))
}

/// The change `setting` asks of a homeserver that names itself
/// `homeserver`.
fn remedy(setting: &HomeserverSetting, homeserver: Option<&str>) -> Remedy {
    let (homeserver, change) = setting.change_for(homeserver);
    Remedy {
        setting: setting.id.clone(),
        homeserver: homeserver.map(str::to_owned),
        change: change.to_owned(),
    }
}

/// A step of a probe the target refused: refused by the gateway's rule
/// when the answer names one, else by the homeserver (`unmet` says what
/// that means).
fn refused(step: &str, failure: Failure, unmet: impl FnOnce(&Answer) -> String) -> Probed {
    match failure {
        Failure::Refused(answer) => match answer.body.get(RULE_FIELD).and_then(|r| r.as_str()) {
            Some(rule) => Probed::Refused(format!(
                "the gateway refused to {step} by its rule {rule}: {}",
                answer.describe()
            )),
            None => Probed::Unmet(unmet(&answer)),
        },
        Failure::Broken(why) => Probed::Broken(format!("cannot {step}: {why}")),
    }
}

/// Asks `look` until it finds what it looks for (`Ok(true)`) or [`SETTLE`]
/// has passed (`Ok(false)`); its error ends the wait.
fn settled<E>(mut look: impl FnMut() -> Result<bool, E>) -> Result<bool, E> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if look()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(POLL);
    }
}
