//! Loading a profile: read it and every profile it extends (`source.rs`),
//! merge them (the child overrides any part), and resolve the result, each
//! section by its concern's `resolve` (`crate::concerns`) with the shared
//! `Resolver` (`resolve.rs`).
//!
//! Merging, child over parent:
//! - scalar settings and single rules (`events.encryption`,
//!   `rooms.versions`, …): the child's replaces the parent's;
//! - rule lists (`endpoints.rules`, `events.rules`, `rooms.create.rules`):
//!   the child's come first, and a child rule with a parent rule's id
//!   replaces it;
//! - maps (`events.schemas`, `rooms.create.defaults`,
//!   `homeserver_settings`): merged by key, the child's entry winning; a
//!   schema or homeserver setting entry of `null` drops the parent's.
//!
//! Every problem found is collected, each with its file and path.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Profile;
use super::file::{ProfileFile, UserSelectorFile};
use super::resolve::{Digest, Resolver};
use super::rules::UserSelector;
use super::source::ProfileSource;
use crate::ProfileError;
use crate::concerns::{
    answers, appservices, audit, discovery, endpoints, events, federation, homeserver_settings,
    invites, lookups, media, redactions, rooms,
};
use crate::error::Problem;

/// The deepest `extends` chain accepted.
const MAX_DEPTH: usize = 8;

/// One profile of the chain, parsed, with where it came from.
pub(crate) struct Link {
    /// Where it came from.
    pub(crate) source: ProfileSource,
    /// What it says.
    pub(crate) file: ProfileFile,
    /// Its `profile.yaml`, as read.
    pub(crate) text: String,
}

/// Loads and resolves a profile and everything it extends.
pub(crate) fn load(source: ProfileSource) -> Result<Profile, ProfileError> {
    let mut problems = Vec::new();
    let chain = read_chain(source, &mut problems);
    let name = chain
        .first()
        .map(|link| link.file.id.clone())
        .unwrap_or_default();
    if !problems.is_empty() {
        return Err(ProfileError::Invalid {
            profile: name,
            problems,
        });
    }
    let profile = resolve(&chain, &mut problems);
    if problems.is_empty() {
        Ok(profile)
    } else {
        Err(ProfileError::Invalid {
            profile: name,
            problems,
        })
    }
}

/// Reads a profile and every profile it extends, child first.
fn read_chain(first: ProfileSource, problems: &mut Vec<Problem>) -> Vec<Link> {
    let mut chain: Vec<Link> = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(first);
    while let Some(source) = next.take() {
        let label = source.label("profile.yaml");
        let text = match source.read("profile.yaml") {
            Ok(text) => text,
            Err(error) => {
                problems.push(Problem::new(label, "", format!("cannot read: {error}")));
                break;
            }
        };
        let deserializer = serde_yaml_ng::Deserializer::from_str(&text);
        let file: ProfileFile = match serde_path_to_error::deserialize(deserializer) {
            Ok(file) => file,
            Err(error) => {
                let path = error.path().to_string();
                let path = if path == "." { String::new() } else { path };
                problems.push(Problem::new(label, path, error.into_inner().to_string()));
                break;
            }
        };
        if !seen.insert(file.id.clone()) {
            problems.push(Problem::new(
                label,
                "extends",
                format!("`extends` is circular: {} is extended twice", file.id),
            ));
            break;
        }
        if chain.len() >= MAX_DEPTH {
            problems.push(Problem::new(
                label,
                "extends",
                format!("`extends` is deeper than {MAX_DEPTH} levels"),
            ));
            break;
        }
        if let Some(parent) = &file.extends {
            match source.parent(parent) {
                Ok(parent) => next = Some(parent),
                Err(error) => {
                    problems.push(Problem::new(label.clone(), "extends", error.to_string()))
                }
            }
        }
        chain.push(Link { source, file, text });
    }
    chain
}

/// Picks the nearest profile's setting (chain is child first).
pub(crate) fn nearest<'c, T>(
    chain: &'c [Link],
    pick: impl Fn(&'c ProfileFile) -> Option<T>,
) -> Option<(T, &'c Link)> {
    chain
        .iter()
        .find_map(|link| pick(&link.file).map(|value| (value, link)))
}

fn resolve(chain: &[Link], problems: &mut Vec<Problem>) -> Profile {
    let child = &chain[0].file;
    let shadow = nearest(chain, |f| f.shadow).is_some_and(|(shadow, _)| shadow);
    let group_files = group_files(chain);
    let mut digest = Digest::new();
    for link in chain {
        digest.add(&link.file.id, "profile.yaml", &link.text);
    }
    let mut resolver = Resolver {
        shadow,
        problems,
        group_names: group_files.keys().map(|name| (*name).to_owned()).collect(),
        digest,
    };
    // The sections are resolved in this order, the order of their problems.
    let user_groups = user_groups(&mut resolver, &group_files);
    let invites = invites::resolve(&mut resolver, chain);
    let appservices = appservices::resolve(&resolver, chain);
    let discovery = discovery::resolve(&mut resolver, chain);
    let media = media::resolve(&resolver, chain);
    let endpoints = endpoints::resolve(&mut resolver, chain);
    let homeserver_settings = homeserver_settings::resolve(resolver.problems, chain, &endpoints);
    let events = events::resolve(&mut resolver, chain);
    let rooms = rooms::resolve(&mut resolver, chain);
    let redactions = redactions::resolve(&resolver, chain);
    let lookups = lookups::resolve(&resolver, chain);
    let answers = answers::resolve(&mut resolver, chain);
    let requirements = requirements(chain, resolver.problems);
    Profile {
        digest: resolver.digest.finish(),
        id: child.id.clone(),
        title: child.title.clone(),
        version: nearest(chain, |f| f.version.clone()).map_or_else(|| "0".to_owned(), |(v, _)| v),
        spec_version: nearest(chain, |f| f.spec_version.clone())
            .map_or_else(String::new, |(v, _)| v),
        extends: chain
            .iter()
            .skip(1)
            .map(|link| link.file.id.clone())
            .collect(),
        shadow,
        default: endpoints.default,
        rules: endpoints.rules,
        homeserver_paths: endpoints.homeserver_paths,
        events,
        rooms,
        redactions,
        invites,
        lookups,
        answers,
        media,
        discovery,
        appservices,
        federation: federation::resolve(chain),
        audit: audit::resolve(chain),
        homeserver_settings,
        user_groups,
        requirements,
        by_endpoint: endpoints.by_endpoint,
    }
}

/// Each user group's selector, from the profile nearest the child that
/// defines it.
fn group_files(chain: &[Link]) -> BTreeMap<&str, (&UserSelectorFile, &Link)> {
    let mut group_files = BTreeMap::new();
    for link in chain.iter().rev() {
        for (name, selector) in &link.file.user_groups {
            group_files.insert(name.as_str(), (selector, link));
        }
    }
    group_files
}

/// The user groups, resolved; a group may not name other groups.
fn user_groups(
    resolver: &mut Resolver<'_>,
    group_files: &BTreeMap<&str, (&UserSelectorFile, &Link)>,
) -> HashMap<String, UserSelector> {
    let mut user_groups = HashMap::new();
    for (name, (selector, link)) in group_files {
        let at = format!("user_groups.{name}");
        if !selector.groups.is_empty() || !selector.outside_groups.is_empty() {
            resolver.problems.push(Problem::new(
                link.source.label("profile.yaml"),
                format!("{at}.groups"),
                "a user group cannot name other groups",
            ));
        }
        let resolved = resolver.selector(selector, link, &at);
        user_groups.insert((*name).to_owned(), resolved);
    }
    user_groups
}

/// Whether `reference` reads `scheme:id` (`gematik:A_26344`).
pub(crate) fn is_reference(reference: &str) -> bool {
    reference
        .split_once(':')
        .is_some_and(|(scheme, id)| !scheme.is_empty() && !id.trim().is_empty())
}

/// The requirement references, merged by rule id (the child's winning);
/// each must read `scheme:id`.
fn requirements(chain: &[Link], problems: &mut Vec<Problem>) -> BTreeMap<String, Vec<String>> {
    let mut merged = BTreeMap::new();
    for link in chain.iter().rev() {
        for (rule, references) in &link.file.requirements {
            for reference in references {
                if !is_reference(reference) {
                    problems.push(Problem::new(
                        link.source.label("profile.yaml"),
                        format!("requirements.{rule}"),
                        format!("{reference:?} is not a reference like gematik:A_26344"),
                    ));
                }
            }
            merged.insert(rule.clone(), references.clone());
        }
    }
    merged
}
