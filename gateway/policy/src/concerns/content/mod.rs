//! Event contents: canonical JSON, size, and the content schemas (JSON
//! Schema, compiled when the profile loads: [`schemas`]). Its settings are
//! part of the `events:` section (`max_content_bytes`, `schemas`,
//! `msgtype_schemas`), whose file form is the events concern's; this module
//! resolves them into [`Content`] and checks each content against them.

mod schemas;

use std::collections::{BTreeMap, HashMap};

use sectorgate_action::Action;
use serde_json::Value;
use serde_json::value::RawValue;

pub use schemas::{EMOJI_FORMAT, Schema, Schemas, is_one_emoji};

use crate::decide::{Input, Judge, profile_denial};
use crate::profile::{Link, ProfileFile, Resolver, nearest};
use crate::{Decision, Problem, Profile, canonical, rules};

/// A schema map as written: key → a schema file under the profile folder,
/// or `null` to drop the parent's.
pub(crate) type SchemaFiles = BTreeMap<String, Option<String>>;

/// The content settings, resolved: the parts of
/// [`EventRules`](crate::profile::EventRules) they fill.
pub(crate) struct Content {
    /// Largest content, in bytes of JSON.
    pub(crate) max_bytes: Option<u64>,
    /// The compiled schemas.
    pub(crate) schemas: Schemas,
}

/// Resolves the content settings of `events`: every schema that remains
/// after merging is read and compiled.
pub(crate) fn resolve(resolver: &mut Resolver<'_>, chain: &[Link]) -> Content {
    let by_type = schema_map(resolver, chain, "events.schemas", |f| &f.events.schemas);
    let by_msgtype = schema_map(resolver, chain, "events.msgtype_schemas", |f| {
        &f.events.msgtype_schemas
    });
    Content {
        max_bytes: nearest(chain, |f| f.events.max_content_bytes).map(|(n, _)| n),
        schemas: Schemas {
            by_type,
            by_msgtype,
        },
    }
}

/// Merges a schema map (root first, so the child's entries win) and
/// compiles every schema that remains.
fn schema_map(
    resolver: &mut Resolver<'_>,
    chain: &[Link],
    section: &str,
    pick: impl Fn(&ProfileFile) -> &SchemaFiles,
) -> HashMap<String, Schema> {
    let mut merged: BTreeMap<&str, Option<(&Link, &str)>> = BTreeMap::new();
    for link in chain.iter().rev() {
        for (key, file) in pick(&link.file) {
            merged.insert(key, file.as_deref().map(|file| (link, file)));
        }
    }
    let mut compiled = HashMap::new();
    for (key, entry) in merged {
        let Some((link, file)) = entry else {
            continue;
        };
        let source = &link.source;
        let label = source.label(file);
        let text = match source.read(file) {
            Ok(text) => {
                resolver.digest.add(&link.file.id, file, &text);
                text
            }
            Err(error) => {
                resolver.problems.push(Problem::new(
                    source.label("profile.yaml"),
                    format!("{section}.{key}"),
                    format!("cannot read schema {file}: {error}"),
                ));
                continue;
            }
        };
        let schema: Value = match serde_json::from_str(&text) {
            Ok(schema) => schema,
            Err(error) => {
                resolver.problems.push(Problem::new(
                    label,
                    format!("line {}", error.line()),
                    error.to_string(),
                ));
                continue;
            }
        };
        match Schema::compile(&label, &schema) {
            Ok(schema) => {
                compiled.insert(key.to_owned(), schema);
            }
            Err((at, message)) => resolver.problems.push(Problem::new(label, at, message)),
        }
    }
    compiled
}

/// Checks the content a request carries (an event content, or the whole
/// `createRoom` body) and returns it parsed for the later checks.
pub(crate) fn check(input: &Input<'_>, judge: &mut Judge) -> Result<Option<Value>, Decision> {
    let profile = input.profile;
    match &input.classified.action {
        Action::SendMessageEvent {
            event_type,
            content,
            ..
        }
        | Action::SendStateEvent {
            event_type,
            content,
            ..
        } => {
            let len = content.get().len() as u64;
            let content = parse(content)?;
            check_event_content(event_type, &content, len, profile, judge)?;
            Ok(Some(content))
        }
        // The initial state's contents are checked by the room rules, with
        // the state the presets imply.
        Action::CreateRoom { body, .. } => parse(body).map(Some),
        _ => Ok(None),
    }
}

/// Parses a content as canonical JSON.
fn parse(raw: &RawValue) -> Result<Value, Decision> {
    canonical::parse(raw.get()).map_err(|reason| {
        Decision::deny(
            rules::EVENT_NOT_CANONICAL,
            400,
            "M_BAD_JSON",
            format!("the event content is not canonical JSON: {reason}"),
        )
    })
}

/// The size of a content as the homeserver will count it (compact JSON).
pub(crate) fn content_len(content: &Value) -> u64 {
    serde_json::to_vec(content).map_or(u64::MAX, |bytes| bytes.len() as u64)
}

/// Checks one event content against the size limit and its schemas.
pub(crate) fn check_event_content(
    event_type: &str,
    content: &Value,
    len: u64,
    profile: &Profile,
    judge: &mut Judge,
) -> Result<(), Decision> {
    if let Some(limit) = profile.events.max_content_bytes
        && len > limit
    {
        judge.deny(profile_denial(
            profile,
            rules::EVENT_TOO_LARGE,
            413,
            "M_TOO_LARGE",
            format!("the {event_type} content is {len} bytes; the profile allows {limit}"),
        ))?;
    }
    for schema in profile.events.schemas.for_content(event_type, content) {
        if let Err(reason) = schema.check(content) {
            judge.deny(profile_denial(
                profile,
                rules::EVENT_SCHEMA_INVALID,
                400,
                "M_BAD_JSON",
                format!("the {event_type} content does not match its schema: {reason}"),
            ))?;
        }
    }
    Ok(())
}
