//! Sector profiles and the pure [`decide`] function.
//!
//! This is the *decide* step of the pipeline (accept → classify → **decide**
//! → record → forward). [`decide`] does no I/O and reads no clock: everything
//! it needs is in its arguments (the request, the profile, a [`Context`] of
//! facts the pipeline gathered), and a denial is a value, never an error.

pub mod canonical;
pub mod cases;
mod concerns;
mod context;
mod decide;
mod decision;
mod error;
pub mod federation;
pub mod plan;
pub mod profile;
pub mod rules;

pub use concerns::endpoints::decide_endpoint;
pub use concerns::federation::{
    Unauthenticated, decide_destination, decide_origin, decide_unauthenticated,
};
pub use concerns::lookups::{directory_filter, may_look_up};
pub use concerns::redactions::RedactionCascade;
pub use concerns::rooms::StateCarry;
pub use concerns::rooms::initial_state_map as created_room_state;
pub use context::{
    Context, EventFacts, GATEWAY_APPSERVICE, MembersNeed, Needs, Peer, RoomFacts, needs,
};
pub use decide::{
    decide, decide_api_not_served, decide_bad_authorization, decide_bad_head, decide_body_timeout,
    decide_body_unreadable, decide_input_error, decide_rate_limited, decide_too_large,
};
pub use decision::{Decision, Denial, FollowUp, RULE_FIELD, RuleId, Verdict};
pub use error::{Problem, ProfileError};
pub use plan::{Arrival, Gate, Plan, Refused, Serves, plan};
pub use profile::Profile;

#[cfg(test)]
mod tests;
