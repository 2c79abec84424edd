//! The servers a federation case names, played by the servers of the run.
//! A case is written with names of its own (`hs2.example.org` signs,
//! `evil.example` is outside, `localhost` is the target); run black-box,
//! each plays the part it has under the case's own allowlist: the target's
//! server, the suite's member peer (signs, admitted by name), another
//! member (admitted by name, never contacted), a member admitted through
//! the wildcard entry, the suite's outsider peer (signs, not admitted), or
//! a server outside the federation (never contacted). The case is renamed
//! throughout and given the allowlist the target is set up with, and must
//! still decide as it expects before it is sent.

use std::collections::BTreeMap;

use ruma::{OwnedServerName, RoomAliasId, RoomId, UserId};
use sectorgate_policy::cases::{Case, CaseFederation};
use serde_json::Value;

/// The servers of a run that the target is federated with, as the
/// conformance guide sets the target up: `allow` = the member peer, the
/// other member, and `*.` the wildcard member's parent domain.
#[derive(Clone, Debug)]
pub struct Federated {
    /// The target's server name.
    pub target: String,
    /// The suite's peer that the allowlist names.
    pub member: String,
    /// Another server the allowlist names.
    pub other_member: String,
    /// A server the allowlist admits through `*.<its parent domain>`.
    pub wildcard_member: String,
    /// The suite's peer that no allowlist names.
    pub outsider: String,
}

/// Who signs a server-server case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// The member peer.
    Member,
    /// The outsider peer.
    Outsider,
}

impl Federated {
    /// The allowlist entries the target is set up with.
    pub fn allowlist(&self) -> Vec<String> {
        vec![
            self.member.clone(),
            self.other_member.clone(),
            format!("*.{}", self.wildcard_parent()),
        ]
    }

    /// `case` with its servers played by the run's, and who signs it;
    /// `Err` says why it cannot be.
    pub fn cast(&self, case: &Case) -> Result<(Case, Option<Signer>), String> {
        let Some(federation) = &case.context.federation else {
            return Ok((case.clone(), None));
        };
        let local = federation.local.as_deref().unwrap_or("localhost");
        let mut parts: Parts = BTreeMap::new();
        parts.insert(local.to_owned(), self.target.clone());
        let signer = federation
            .origin
            .as_deref()
            .map(|origin| self.cast_origin(&federation.allow, origin, &mut parts));
        self.cast_named(case, &federation.allow, &mut parts)?;
        let renamed = self.renamed(case, federation, &parts)?;
        Ok((renamed, signer))
    }

    /// The case's `origin` played by the member peer when `allow` admits
    /// it, by the outsider peer otherwise; who signs.
    fn cast_origin(&self, allow: &[String], origin: &str, parts: &mut Parts) -> Signer {
        let (signer, name) = if admission(allow, origin).is_some() {
            (Signer::Member, &self.member)
        } else {
            (Signer::Outsider, &self.outsider)
        };
        parts.insert(origin.to_owned(), name.clone());
        signer
    }

    /// Gives each other server `case` names the run's server of its kind
    /// under `allow`: the other member (the run has one), a wildcard
    /// member, or a made-up server outside the federation.
    fn cast_named(&self, case: &Case, allow: &[String], parts: &mut Parts) -> Result<(), String> {
        let (mut wildcards, mut outsiders) = (0, 0);
        for name in names(case) {
            if parts.contains_key(&name) {
                continue;
            }
            let played = match admission(allow, &name) {
                Some(Admission::ByName) => self.other_member_for(&name, parts)?,
                Some(Admission::ByWildcard) => {
                    wildcards += 1;
                    self.wildcard_member_numbered(wildcards)
                }
                None => {
                    outsiders += 1;
                    format!("outside{outsiders}.conformance.invalid")
                }
            };
            parts.insert(name, played);
        }
        Ok(())
    }

    /// The other member, to play `name`; `Err` when it plays another
    /// server already.
    fn other_member_for(&self, name: &str, parts: &Parts) -> Result<String, String> {
        if parts.values().any(|played| *played == self.other_member) {
            return Err(format!(
                "the case names more members of the federation than the run has \
                 ({name} besides {})",
                self.other_member
            ));
        }
        Ok(self.other_member.clone())
    }

    /// The `number`th server the wildcard admits: the wildcard member, then
    /// made-up names under its parent domain.
    fn wildcard_member_numbered(&self, number: usize) -> String {
        if number == 1 {
            self.wildcard_member.clone()
        } else {
            format!("wild{number}.{}", self.wildcard_parent())
        }
    }

    /// `case` renamed throughout as `parts` say, with the allowlist the
    /// target is set up with.
    fn renamed(
        &self,
        case: &Case,
        federation: &CaseFederation,
        parts: &Parts,
    ) -> Result<Case, String> {
        let mut renamed = case.clone();
        renamed.request.path = rename_text(&case.request.path, parts, true);
        if let Some(body) = &case.request.body {
            let text = rename_text(&body.to_string(), parts, false);
            renamed.request.body =
                Some(serde_json::from_str(&text).map_err(|e| format!("renaming the body: {e}"))?);
        }
        if let Some(user) = &case.context.user {
            renamed.context.user = Some(rename_text(user, parts, false));
        }
        renamed.context.federation = Some(self.renamed_federation(federation, parts));
        Ok(renamed)
    }

    /// The case's federation as the run has it: the target's name, its
    /// allowlist, and the case's insurers and origin as `parts` say.
    fn renamed_federation(&self, federation: &CaseFederation, parts: &Parts) -> CaseFederation {
        CaseFederation {
            local: Some(self.target.clone()),
            allow: self.allowlist(),
            insurers: federation
                .insurers
                .iter()
                .map(|name| parts.get(name).cloned().unwrap_or_else(|| name.clone()))
                .collect(),
            stale: federation.stale,
            origin: federation
                .origin
                .as_ref()
                .and_then(|origin| parts.get(origin).cloned()),
        }
    }

    fn wildcard_parent(&self) -> &str {
        self.wildcard_member
            .split_once('.')
            .map_or(self.wildcard_member.as_str(), |(_, parent)| parent)
    }
}

/// Each server name the case uses, with the run's server that plays it.
type Parts = BTreeMap<String, String>;

/// How an allowlist admits a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    /// An entry names it.
    ByName,
    /// A wildcard entry `*.<parent>` covers it.
    ByWildcard,
}

/// How `allow` admits `name`, if it does: by name before by a wildcard.
fn admission(allow: &[String], name: &str) -> Option<Admission> {
    let exact = allow.iter().any(|entry| entry == name);
    let wildcard = allow.iter().any(|entry| {
        entry
            .strip_prefix("*.")
            .is_some_and(|parent| name.ends_with(&format!(".{parent}")))
    });
    if exact {
        Some(Admission::ByName)
    } else if wildcard {
        Some(Admission::ByWildcard)
    } else {
        None
    }
}

/// The server names a case's request names: in its ids (users, rooms,
/// aliases, events of the old form), in `origin` members, as the keys of
/// `signatures`, and as a media path's server segment.
fn names(case: &Case) -> Vec<String> {
    let mut found = Vec::new();
    let mut add = |name: &str| {
        if OwnedServerName::try_from(name).is_ok() && !found.iter().any(|known| known == name) {
            found.push(name.to_owned());
        }
    };
    let path = case.request.path.replace("%40", "@").replace("%21", "!");
    let path = path.replace("%23", "#").replace("%3A", ":");
    let mut segments = path.split(['/', '?', '&', '=']).peekable();
    while let Some(segment) = segments.next() {
        if let Some(name) = server_of_id(segment) {
            add(&name);
        }
        if matches!(segment, "download" | "thumbnail")
            && let Some(name) = segments.peek()
        {
            add(name);
        }
    }
    if let Some(body) = &case.request.body {
        walk(body, &mut |key, value| {
            if let Some(text) = value.as_str() {
                if key == Some("origin") {
                    add(text);
                }
                if let Some(name) = server_of_id(text) {
                    add(&name);
                }
            }
            if key == Some("signatures")
                && let Some(object) = value.as_object()
            {
                for name in object.keys() {
                    add(name);
                }
            }
        });
    }
    found
}

/// The server part of a user, room or alias id.
fn server_of_id(text: &str) -> Option<String> {
    if let Ok(user) = UserId::parse(text) {
        return Some(user.server_name().to_string());
    }
    if let Ok(alias) = <&RoomAliasId>::try_from(text) {
        return Some(alias.server_name().to_string());
    }
    <&RoomId>::try_from(text)
        .ok()
        .and_then(|room| room.server_name().map(ToString::to_string))
}

/// Calls `visit` on every value of `value`, with the key it is under.
fn walk(value: &Value, visit: &mut impl FnMut(Option<&str>, &Value)) {
    match value {
        Value::Object(object) => {
            for (key, item) in object {
                visit(Some(key), item);
                walk(item, visit);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| {
            visit(None, item);
            walk(item, visit);
        }),
        other => visit(None, other),
    }
}

/// `text` with each case name replaced by the run's, longest first, never
/// replacing inside a name already replaced; in a path, `:` is encoded.
fn rename_text(text: &str, parts: &BTreeMap<String, String>, path: bool) -> String {
    let mut names: Vec<(&String, &String)> = parts.iter().collect();
    names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    // In a path, a name follows an encoded `:`, whose `A` would read as
    // part of the name.
    let mut out = if path {
        text.replace("%3A", "\u{2}").replace("%3a", "\u{2}")
    } else {
        text.to_owned()
    };
    let placeholder = |index: usize| format!("\u{1}{index}\u{1}");
    for (index, (name, _)) in names.iter().enumerate() {
        out = replace_name(&out, name, &placeholder(index));
    }
    for (index, (_, played)) in names.iter().enumerate() {
        let played = if path {
            played.replace(':', "%3A")
        } else {
            (*played).clone()
        };
        out = out.replace(&placeholder(index), &played);
    }
    out.replace('\u{2}', "%3A")
}

/// Replaces `name` where it stands as a whole server name: not followed by
/// a letter, digit, `.` or `-`, nor preceded by one of them or `.`.
fn replace_name(text: &str, name: &str, with: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = text[at..].find(name) {
        let start = at + found;
        let end = start + name.len();
        let part_of_name = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.';
        let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
        let after = bytes.get(end).copied();
        out.push_str(&text[at..start]);
        if before.is_some_and(part_of_name) || after.is_some_and(part_of_name) {
            out.push_str(name);
        } else {
            out.push_str(with);
        }
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn federated() -> Federated {
        Federated {
            target: "klinik.test".to_owned(),
            member: "localhost:8449".to_owned(),
            other_member: "praxis.test".to_owned(),
            wildcard_member: "team.wild.test".to_owned(),
            outsider: "localhost:8450".to_owned(),
        }
    }

    fn case(yaml: &str) -> Case {
        serde_yaml_ng::from_str(yaml).expect("a case")
    }

    #[test]
    fn each_server_plays_its_part_and_nothing_else_is_renamed() {
        let typing = case(
            r#"
name: typing for another server's user
request:
  method: PUT
  path: /_matrix/federation/v1/send/{txn}
  body:
    origin: hs2.example.org
    pdus: []
    edus:
      - {edu_type: m.typing, content: {room_id: "!r:localhost", user_id: "@carol:hs3.example.org"}}
context:
  federation: {allow: [hs2.example.org, hs3.example.org], origin: hs2.example.org}
expect: {verdict: deny, rule: federation.transaction_items, status: 200}
"#,
        );
        let (renamed, signer) = federated().cast(&typing).expect("cast");
        assert_eq!(signer, Some(Signer::Member));
        let body = renamed.request.body.expect("body").to_string();
        assert!(body.contains(r#""origin":"localhost:8449""#), "{body}");
        assert!(body.contains("!r:klinik.test"), "{body}");
        assert!(body.contains("@carol:praxis.test"), "{body}");
        assert!(!body.contains("example"), "{body}");
        let federation = renamed.context.federation.expect("federation");
        assert_eq!(federation.origin.as_deref(), Some("localhost:8449"));
        assert_eq!(
            federation.allow,
            ["localhost:8449", "praxis.test", "*.wild.test"]
        );

        let outside = case(
            r#"
name: media from outside
request: {method: GET, path: /_matrix/client/v1/media/download/evil.example/abc}
context:
  federation: {allow: ["*.example.org"]}
expect: {verdict: deny, rule: federation.remote_not_allowed, status: 403}
"#,
        );
        let (renamed, signer) = federated().cast(&outside).expect("cast");
        assert_eq!(signer, None);
        assert_eq!(
            renamed.request.path,
            "/_matrix/client/v1/media/download/outside1.conformance.invalid/abc"
        );

        let join = case(
            r#"
name: make_join for another server's user
request:
  method: GET
  path: /_matrix/federation/v1/make_join/%21r%3Alocalhost/%40carol%3Ahs3.example.org?ver=11
context:
  federation: {allow: [hs2.example.org, hs3.example.org], origin: hs2.example.org}
expect: {verdict: deny, rule: federation.not_origins_user, status: 403}
"#,
        );
        let (renamed, _) = federated().cast(&join).expect("cast");
        assert_eq!(
            renamed.request.path,
            "/_matrix/federation/v1/make_join/%21r%3Aklinik.test/%40carol%3Apraxis.test?ver=11"
        );
    }

    #[test]
    fn a_name_inside_another_is_left_alone() {
        let parts = BTreeMap::from([("localhost".to_owned(), "localhost:8448".to_owned())]);
        assert_eq!(
            rename_text(
                "@a:localhost @b:localhost.example x-localhost",
                &parts,
                false
            ),
            "@a:localhost:8448 @b:localhost.example x-localhost"
        );
    }
}
