//! The concerns of a profile, one module each (a folder where it is big).
//! A concern's module holds all of it: its section's file form (`*File`,
//! as `profile.yaml` writes it; in `file.rs` in a folder), its resolved
//! form (the part of [`Profile`](crate::Profile) it fills), `resolve` (from
//! the `extends` chain, each problem with its path), `needs` (the facts its
//! check needs, when it needs any) and `check` (its part of
//! [`decide`](crate::decide)).
//!
//! What several concerns use stays in [`profile`](crate::profile): rule
//! metadata, globs, user selectors and groups, allow lists, limits and field
//! rules, `rule_file!`, the `Resolver`, `nearest` and `Link`. The concerns
//! are put in order in four short lists: the sections of `ProfileFile` and
//! `Profile`, the resolution in `profile/load.rs`, [`needs`](crate::needs)
//! in `context.rs` and `run` in `decide/mod.rs`.
//!
//! The concerns, in the order `decide` checks them, then those it does not
//! check: [`federation`], [`endpoints`], [`appservices`], [`answers`],
//! [`content`],
//! [`events`], [`rooms`], [`invites`], [`redactions`], [`media`],
//! [`lookups`]; [`discovery`] (the `/versions` rewrite), [`audit`] (what
//! the audit log may name) and [`homeserver_settings`] (what the
//! homeserver behind must be set up to do, for the conformance suite to
//! probe).

pub(crate) mod answers;
pub(crate) mod appservices;
pub(crate) mod audit;
pub(crate) mod content;
pub(crate) mod discovery;
pub(crate) mod endpoints;
pub(crate) mod events;
pub(crate) mod federation;
pub(crate) mod homeserver_settings;
pub(crate) mod invites;
pub(crate) mod lookups;
pub(crate) mod media;
pub(crate) mod redactions;
pub(crate) mod rooms;
