//! [`decide`]: the pure policy function.
//!
//! A request is checked by concern, always in this order (`run`); the
//! first enforced denial wins and names its rule. Each concern's check is
//! in its module under `crate::concerns`, beside its section's file form
//! and resolution:
//!
//! 0. [`federation`]: may this server be heard, and does it speak only for
//!    its own users? May this client reach that server?
//! 1. [`endpoints`]: may this endpoint be called at all?
//!    [`appservices`]: may this application service (bridge) act, and as
//!    this user? [`answers`]: does the gateway answer this itself?
//! 2. [`content`]: is the event content canonical JSON, small enough, and
//!    valid against its schema?
//! 3. [`events`]: may this event type, msgtype and content be sent into
//!    this room (field rules, encryption)?
//! 4. [`rooms`]: room creation (defaults, versions, fields, invites,
//!    initial state, encryption at creation), joins, listing in the room
//!    directory, upgrades.
//! 5. [`invites`]: may this inviter invite this invitee into this room
//!    (at `/invite`, by `m.room.member` state and at `createRoom`)?
//! 6. [`redactions`]: may this event still be redacted? Do its
//!    replacements follow it?
//! 7. [`media`]: may this upload be this large?
//! 8. [`lookups`]: may this user look that user up?
//!
//! A denial by a rule in shadow mode does not stop the checks: it is kept,
//! and if nothing enforced denies, the request is forwarded and recorded as
//! `shadow` with that rule.

mod input;

use sectorgate_action::Classified;
use serde_json::Value;

pub use input::{
    decide_api_not_served, decide_bad_authorization, decide_bad_head, decide_body_timeout,
    decide_body_unreadable, decide_input_error, decide_rate_limited, decide_too_large,
};

use crate::concerns::{
    answers, appservices, content, endpoints, events, federation, invites, lookups, media,
    redactions, rooms,
};
use crate::rules;
use crate::{Context, Decision, FollowUp, Profile, RuleId, Verdict};

/// One request under one profile, with what is known around it.
pub(crate) struct Input<'a> {
    pub(crate) classified: &'a Classified,
    pub(crate) profile: &'a Profile,
    pub(crate) context: &'a Context<'a>,
}

impl Input<'_> {
    /// What selecting users needs: the profile's groups and the allowlist.
    pub(crate) fn groups(&self) -> crate::profile::Groups<'_> {
        crate::profile::Groups {
            named: &self.profile.user_groups,
            allowlist: self.context.federation.map(|facts| facts.allowlist),
        }
    }
}

/// Collects the outcome while the checks run: the rule that allowed, the
/// first shadow denial, an amended body, and what follows.
pub(crate) struct Judge {
    /// The rule that allowed the request.
    pub(crate) allowed_by: RuleId,
    shadowed: Option<Decision>,
    /// The body to forward instead of the client's.
    pub(crate) amended_body: Option<Box<[u8]>>,
    /// What follows once the homeserver has taken the request.
    pub(crate) follow_up: Option<Box<FollowUp>>,
}

impl Judge {
    /// Records a denial: an enforced one ends the checks (`Err`), a shadow
    /// one is kept and the checks go on.
    pub(crate) fn deny(&mut self, decision: Decision) -> Result<(), Decision> {
        match decision.verdict {
            Verdict::Shadow(_) => {
                self.shadowed.get_or_insert(decision);
                Ok(())
            }
            _ => Err(decision),
        }
    }

    fn finish(self) -> Decision {
        let mut decision = self
            .shadowed
            .unwrap_or_else(|| Decision::allow(self.allowed_by));
        decision.amended_body = self.amended_body;
        decision.follow_up = self.follow_up;
        decision
    }
}

/// A denial by a built-in rule applied on the profile's behalf (a default,
/// a size limit, a schema): in shadow mode when the whole profile is.
pub(crate) fn profile_denial(
    profile: &Profile,
    rule: RuleId,
    status: u16,
    errcode: &'static str,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Decision {
    let mut decision = Decision::deny(rule, status, errcode, message);
    if profile.shadow {
        decision.into_shadow();
    }
    decision
}

/// Decides one classified request under a profile, with what is known
/// around it.
pub fn decide(classified: &Classified, profile: &Profile, context: &Context<'_>) -> Decision {
    let input = Input {
        classified,
        profile,
        context,
    };
    let mut judge = Judge {
        allowed_by: rules::ENDPOINT_ALLOWED,
        shadowed: None,
        amended_body: None,
        follow_up: None,
    };
    match run(&input, &mut judge) {
        Ok(()) => judge.finish(),
        Err(decision) => decision,
    }
}

fn run(input: &Input<'_>, judge: &mut Judge) -> Result<(), Decision> {
    federation::check(input, judge)?;
    endpoints::check(input, judge)?;
    appservices::check(input, judge)?;
    answers::check(input, judge)?;
    let mut content: Option<Value> = content::check(input, judge)?;
    events::check(input, content.as_ref(), judge)?;
    rooms::check(input, content.as_mut(), judge)?;
    invites::check(input, content.as_ref(), judge)?;
    redactions::check(input, judge)?;
    media::check(input, judge)?;
    lookups::check(input, judge)?;
    Ok(())
}
