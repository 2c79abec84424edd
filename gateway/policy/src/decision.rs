//! [`Decision`]: what policy says about one request, with its stable rule id.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::concerns::redactions::RedactionCascade;
use crate::concerns::rooms::StateCarry;
use crate::profile::RuleMeta;

/// A stable rule identifier such as `endpoint.unrecognized` or
/// `healthcare.url_preview_disabled`. The same id appears in the response,
/// the audit record, the metrics and conformance reports.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleId(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    Builtin(&'static str),
    Profile(Arc<str>),
}

impl RuleId {
    /// A rule id built into the gateway.
    pub const fn builtin(id: &'static str) -> Self {
        Self(Repr::Builtin(id))
    }

    /// A rule id defined by a profile.
    pub fn profile(id: &str) -> Self {
        Self(Repr::Profile(Arc::from(id)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Builtin(id) => id,
            Repr::Profile(id) => id,
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request is refused, as the Matrix error it is answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The HTTP status.
    pub status: u16,
    /// The Matrix `errcode`, e.g. `M_FORBIDDEN`.
    pub errcode: &'static str,
    /// Human-readable text for the `error` field.
    pub message: Cow<'static, str>,
    /// The body to answer with instead of the Matrix error, where the API
    /// defines its own (a transaction's per-PDU results).
    pub body: Option<Box<serde_json::Value>>,
}

/// The member of a refusal's body that names the rule that refused it.
pub const RULE_FIELD: &str = "org.sectorgate.rule";

/// Allow, deny, or deny in shadow mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The request is forwarded.
    Allow,
    /// The request is answered with this error and not forwarded.
    Deny(Denial),
    /// A rule in shadow mode would refuse the request with this error; it is
    /// recorded as `shadow` and forwarded anyway.
    Shadow(Denial),
}

/// The outcome of [`decide`](crate::decide): a verdict and the rule that gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The rule that decided.
    pub rule: RuleId,
    /// The body to forward instead of the client's, when the profile fills
    /// in defaults (`rooms.create.defaults`).
    pub amended_body: Option<Box<[u8]>>,
    /// What the gateway does itself, on the user's behalf, once the
    /// homeserver has taken the request. (Boxed: most decisions have none.)
    pub follow_up: Option<Box<FollowUp>>,
}

/// What the gateway does on the user's behalf once the homeserver has
/// taken their request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowUp {
    /// The redacted event's replacements are redacted
    /// (`redactions.cascade_replacements`).
    Redactions(RedactionCascade),
    /// State is set in an upgraded room's replacement
    /// (`rooms.upgrade.carry_state`).
    CarryState(StateCarry),
}

impl FollowUp {
    /// The rule that makes its requests.
    pub fn rule(&self) -> &RuleId {
        match self {
            Self::Redactions(cascade) => &cascade.rule,
            Self::CarryState(carry) => &carry.rule,
        }
    }
}

impl Decision {
    /// An allow by `rule`.
    pub fn allow(rule: RuleId) -> Self {
        Self {
            verdict: Verdict::Allow,
            rule,
            amended_body: None,
            follow_up: None,
        }
    }

    /// A denial by `rule`.
    pub fn deny(
        rule: RuleId,
        status: u16,
        errcode: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            verdict: Verdict::Deny(Denial {
                status,
                errcode,
                message: message.into(),
                body: None,
            }),
            rule,
            amended_body: None,
            follow_up: None,
        }
    }

    /// A denial by a profile rule: a shadow verdict when the rule is in
    /// shadow mode.
    pub fn deny_by(
        meta: &RuleMeta,
        status: u16,
        errcode: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        let (status, errcode) = meta.answer.unwrap_or((status, errcode));
        let mut decision = Self::deny(meta.id.clone(), status, errcode, message);
        if meta.shadow {
            decision.into_shadow();
        }
        decision
    }

    /// The redaction cascade that follows, if any.
    pub fn cascade(&self) -> Option<&RedactionCascade> {
        match self.follow_up.as_deref() {
            Some(FollowUp::Redactions(cascade)) => Some(cascade),
            _ => None,
        }
    }

    /// Turns a denial into its shadow-mode form (forwarded, recorded `shadow`).
    pub fn into_shadow(&mut self) {
        if let Verdict::Deny(denial) = &self.verdict {
            self.verdict = Verdict::Shadow(denial.clone());
        }
    }

    /// Whether the request may pass (allowed, or denied in shadow mode only).
    pub fn is_allowed(&self) -> bool {
        matches!(self.verdict, Verdict::Allow | Verdict::Shadow(_))
    }

    /// `allow`, `deny` or `shadow`, as recorded.
    pub fn verdict_str(&self) -> &'static str {
        match self.verdict {
            Verdict::Allow => "allow",
            Verdict::Deny(_) => "deny",
            Verdict::Shadow(_) => "shadow",
        }
    }
}
