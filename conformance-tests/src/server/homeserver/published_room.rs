//! `published_room_listed`: a test user, not an administrator, makes a
//! public room the way a compliant client makes it under the profile,
//! publishes it in the room directory
//! (`PUT /_matrix/client/v3/directory/list/room/{roomId}`), and looks for
//! it by its name in `POST /_matrix/client/v3/publicRooms`. The room is
//! taken out of the directory again afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use ruma::OwnedRoomId;
use ruma::api::client::directory::{get_public_rooms_filtered, set_room_visibility};
use ruma::api::client::room::Visibility;
use ruma::directory::Filter;
use sectorgate_policy::cases::CaseRoom;
use serde_json::json;

use super::super::fixtures::Unmade;
use super::{Bench, Probed, Product, SETTLE, refused, settled};
use crate::report::Exchange;

/// Makes, publishes and looks for a room, then takes it out again.
pub(super) fn probe(bench: &Bench<'_>, product: &Product, trail: &mut Vec<Exchange>) -> Probed {
    let Some(account) = bench.accounts.first() else {
        return Probed::Broken("no test user".to_owned());
    };
    let name = format!(
        "sectorgate conformance {}",
        Alphanumeric
            .sample_string(&mut rand::rng(), 12)
            .to_lowercase()
    );
    let room = match public_room(bench, product, &name, trail) {
        Ok(room) => room,
        Err(probed) => return probed,
    };
    let publish = set_room_visibility::v3::Request::new(room.clone(), Visibility::Public);
    if let Err(failure) = bench.client.send(trail, publish, Some(&account.token)) {
        return refused("publish the room", failure, |answer| {
            format!(
                "the homeserver refused to let a user publish a public room in its \
                 directory: {}",
                answer.describe()
            )
        });
    }
    let listed = listed(bench, &account.token, &room, &name, trail);
    let unpublish = set_room_visibility::v3::Request::new(room.clone(), Visibility::Private);
    let _ = bench.client.send(trail, unpublish, Some(&account.token));
    match listed {
        Ok(true) => Probed::Met(format!(
            "the public room {room}, published by a user who is not an administrator, is \
             listed by /publicRooms"
        )),
        Ok(false) => Probed::Unmet(format!(
            "the homeserver accepted the publication of the public room {room}, but \
             /publicRooms did not list it within {} s",
            SETTLE.as_secs()
        )),
        Err(probed) => probed,
    }
}

/// A new public room named `name`, made through the target as a compliant
/// client makes it under the profile.
fn public_room(
    bench: &Bench<'_>,
    product: &Product,
    name: &str,
    trail: &mut Vec<Exchange>,
) -> Result<OwnedRoomId, Probed> {
    let wanted = CaseRoom {
        encrypted: false,
        join_rule: Some("public".to_owned()),
        state: BTreeMap::from([("m.room.name".to_owned(), json!({ "name": name }))]),
        ..CaseRoom::default()
    };
    let made =
        bench
            .fixtures
            .borrow()
            .fresh(trail, &wanted, &bench.setting(product, Duration::ZERO));
    let fixture = made.map_err(|unmade| match unmade {
        Unmade::NotHere(why) => Probed::NotHere(why),
        Unmade::Failed(why) => Probed::Broken(why),
    })?;
    fixture
        .room
        .as_str()
        .try_into()
        .map_err(|_| Probed::Broken(format!("{} is not a room id", fixture.room)))
}

/// Whether `/publicRooms`, searched for `name`, lists `room` within
/// [`SETTLE`]; `Err` when it will not answer.
fn listed(
    bench: &Bench<'_>,
    token: &str,
    room: &OwnedRoomId,
    name: &str,
    trail: &mut Vec<Exchange>,
) -> Result<bool, Probed> {
    settled(|| {
        let mut filter = Filter::new();
        filter.generic_search_term = Some(name.to_owned());
        let mut request = get_public_rooms_filtered::v3::Request::new();
        request.filter = filter;
        match bench.client.send(trail, request, Some(token)) {
            Ok(found) => Ok(found.chunk.iter().any(|entry| entry.room_id == *room)),
            Err(failure) => Err(refused("list the public rooms", failure, |answer| {
                format!("/publicRooms refused a user: {}", answer.describe())
            })),
        }
    })
}
