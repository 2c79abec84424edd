//! Sending a case's request as written: with the acting user's token (none
//! for an anonymous case), or signed by the suite's peer when a server
//! sends it; to the stale instance when the case is about a stale
//! federation list.

use sectorgate_policy::cases::Case;

use crate::report::Exchange;
use crate::server::federation::Peer;
use crate::server::roles::Signer;
use crate::server::{Answer, Bench, Client, txn_id};

/// A case's request as it goes out.
struct Written {
    path: String,
    body: Vec<u8>,
    /// Declared longer than its body (an upload over a limit): the body is
    /// padded to that length, and sent only if the server does not refuse
    /// it on its length first.
    upload: bool,
}

/// Sends `case` as written: signed by the suite's peer when a server sends
/// it, with `token` otherwise; to the stale instance when the case is about
/// a stale federation list.
pub(super) fn send(
    bench: &Bench<'_>,
    case: &Case,
    signer: Option<Signer>,
    (room, event): (&str, &str),
    token: Option<&str>,
    trail: &mut Vec<Exchange>,
) -> Result<Answer, String> {
    let written = written(case, room, event);
    let (client, federation) = instance(bench, case);
    match signer {
        None => send_as_client(client, case, written, token, trail),
        Some(signer) => send_as_server(peer(bench, signer), federation, case, written, trail),
    }
}

/// `case`'s path and body in `room`, about `event`, with a fresh
/// transaction id; the body as long as the case declares it.
fn written(case: &Case, room: &str, event: &str) -> Written {
    let txn = txn_id().to_string();
    let path = case.path(room, event, &txn);
    let mut body = case.body(room, event, &txn);
    let declared = declared_length(case).filter(|declared| *declared > body.len());
    if let Some(declared) = declared {
        body.resize(declared, b'\0');
    }
    Written {
        path,
        body,
        upload: declared.is_some(),
    }
}

/// The client-server and federation clients `case` goes to: the stale
/// instance's when it is about a stale federation list and the run has
/// one, the target's otherwise.
fn instance<'b>(bench: &'b Bench<'_>, case: &Case) -> (&'b Client, Option<&'b Client>) {
    let stale = case
        .context
        .federation
        .as_ref()
        .is_some_and(|federation| federation.stale);
    match (&bench.stale, stale) {
        (Some((client, federation)), true) => (client, Some(federation)),
        _ => (&bench.client, bench.federation.as_ref()),
    }
}

/// Sends `written` through `client` with `token` and the case's headers but
/// its `content-length`.
fn send_as_client(
    client: &Client,
    case: &Case,
    written: Written,
    token: Option<&str>,
    trail: &mut Vec<Exchange>,
) -> Result<Answer, String> {
    let headers: Vec<(String, String)> = case
        .request
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let send = if written.upload {
        Client::upload
    } else {
        Client::raw
    };
    send(
        client,
        trail,
        &case.request.method,
        &written.path,
        token,
        &headers,
        written.body,
    )
}

/// Sends `written` through `federation`, signed by `peer`, to the server
/// the case is about.
fn send_as_server(
    peer: Option<&Peer>,
    federation: Option<&Client>,
    case: &Case,
    written: Written,
    trail: &mut Vec<Exchange>,
) -> Result<Answer, String> {
    let (Some(peer), Some(federation)) = (peer, federation) else {
        return Err("no federation peer or URL for a server-server case".to_owned());
    };
    let destination = case
        .context
        .federation
        .as_ref()
        .and_then(|federation| federation.local.clone())
        .unwrap_or_default();
    peer.send(
        federation,
        trail,
        &case.request.method,
        &written.path,
        written.body,
        &destination,
    )
}

/// The suite's peer that plays `signer`, when the run has it.
fn peer<'b>(bench: &'b Bench<'_>, signer: Signer) -> Option<&'b Peer> {
    match signer {
        Signer::Member => bench.member.as_ref(),
        Signer::Outsider => bench.peer.as_ref(),
    }
}

/// The `content-length` a case declares, when it gives one.
fn declared_length(case: &Case) -> Option<usize> {
    case.request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
}
