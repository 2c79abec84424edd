//! The field rules by the event types they name, so that an event is
//! checked against the rules for its type (and those for every type or a
//! pattern) only, however many rules the profile has.

use std::collections::HashMap;

use crate::profile::FieldRule;

/// Where each field rule may apply.
#[derive(Clone, Debug, Default)]
pub struct RuleIndex {
    /// Rules whose types are all plain names (no `*`), by name.
    by_type: HashMap<String, Vec<usize>>,
    /// Rules for every type, or with a pattern among their types.
    always: Vec<usize>,
}

impl RuleIndex {
    /// The index of `rules`.
    pub(crate) fn new(rules: &[FieldRule]) -> Self {
        let mut index = Self::default();
        for (at, rule) in rules.iter().enumerate() {
            let names: Option<Vec<&str>> = rule
                .types
                .as_ref()
                .and_then(|types| types.iter().map(|glob| glob.literal()).collect());
            match names {
                Some(names) => {
                    for name in names {
                        let found = index.by_type.entry(name.to_owned()).or_default();
                        if found.last() != Some(&at) {
                            found.push(at);
                        }
                    }
                }
                None => index.always.push(at),
            }
        }
        index
    }

    /// The positions of the rules that may apply to `event_type`, in the
    /// rules' order (each still checks its types itself).
    pub(crate) fn candidates(&self, event_type: &str) -> impl Iterator<Item = usize> + '_ {
        let named = self.by_type.get(event_type).map_or(&[][..], Vec::as_slice);
        let mut named = named.iter().copied().peekable();
        let mut always = self.always.iter().copied().peekable();
        std::iter::from_fn(move || match (named.peek(), always.peek()) {
            (Some(a), Some(b)) if a < b => named.next(),
            (Some(_), None) => named.next(),
            _ => always.next(),
        })
    }
}
