//! `directory_finds_unshared_local_user`: the first test user searches the
//! user directory (`POST /_matrix/client/v3/user_directory/search`) for a
//! user made for the probe, who is in no room at all (so shares none with
//! the searcher and is in no public room).

use ruma::api::client::membership::joined_rooms;
use ruma::api::client::user_directory::search_users;

use super::super::UserHook;
use super::{Bench, Probed, SETTLE, refused, settled};
use crate::report::Exchange;

/// Makes a user in no room and searches the directory for them.
pub(super) fn probe(bench: &Bench<'_>, trail: &mut Vec<Exchange>) -> Probed {
    let Some(searcher) = bench.accounts.first() else {
        return Probed::Broken("no test user".to_owned());
    };
    if matches!(bench.options.users, UserHook::List(_)) {
        return Probed::NotHere(
            "the probe needs a new user, in no room, and a user list cannot make one (use \
             open or shared-secret registration)"
                .to_owned(),
        );
    }
    let sought = match bench.fresh_account(trail) {
        Ok(account) => account,
        Err(why) => return Probed::Broken(why),
    };
    match bench
        .client
        .send(trail, joined_rooms::v3::Request::new(), Some(&sought.token))
    {
        Ok(joined) if joined.joined_rooms.is_empty() => {}
        Ok(joined) => {
            return Probed::NotHere(format!(
                "the new user {} is in {} room(s) already (joined automatically?), so \
                 finding them would not show that the directory finds users who share no \
                 room with the searcher",
                sought.user_id,
                joined.joined_rooms.len()
            ));
        }
        Err(failure) => {
            return refused("list the new user's rooms", failure, |answer| {
                format!(
                    "the homeserver would not list a user's rooms: {}",
                    answer.describe()
                )
            });
        }
    }
    let localpart = sought
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let found = settled(|| {
        let request = search_users::v3::Request::new(localpart.clone());
        match bench.client.send(trail, request, Some(&searcher.token)) {
            Ok(found) => Ok(found
                .results
                .iter()
                .any(|user| user.user_id.as_str() == sought.user_id)),
            Err(failure) => Err(refused("search the user directory", failure, |answer| {
                format!("the user directory refused a search: {}", answer.describe())
            })),
        }
    });
    match found {
        Ok(true) => Probed::Met(format!(
            "the user directory finds {}, a local user who shares no room with the searcher \
             and is in no public room",
            sought.user_id
        )),
        Ok(false) => Probed::Unmet(format!(
            "the user directory did not find {}, a local user who shares no room with the \
             searcher and is in no public room, within {} s",
            sought.user_id,
            SETTLE.as_secs()
        )),
        Err(probed) => probed,
    }
}
