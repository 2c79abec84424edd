//! Event content schemas (JSON Schema, draft 2020-12), compiled once when
//! the profile loads and picked per event type, and per `msgtype` for
//! `m.room.message`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use jsonschema::{Draft, PatternOptions, Validator};
use serde_json::Value;

/// The custom `format` for a string that is exactly one emoji (used for
/// reaction keys).
pub const EMOJI_FORMAT: &str = "org.sectorgate.emoji";

/// One compiled schema and the file it came from.
#[derive(Clone)]
pub struct Schema {
    /// Where the schema came from (`matrix-core/schemas/m.room.message.json`).
    pub file: String,
    validator: Arc<Validator>,
    source: Arc<Value>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema").field("file", &self.file).finish()
    }
}

impl Schema {
    /// Compiles a schema; the error names the location in the schema.
    pub(crate) fn compile(file: &str, schema: &Value) -> Result<Self, (String, String)> {
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_format(EMOJI_FORMAT, is_one_emoji)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(false)
            .with_pattern_options(PatternOptions::regex())
            .build(schema)
            .map_err(|error| {
                // Compiling checks the schema against the draft's meta-schema:
                // the instance is the schema itself, so its instance path is
                // the location inside the profile's file.
                let at = error.instance_path().as_str().to_owned();
                let at = if at.is_empty() {
                    error.schema_path().as_str().to_owned()
                } else {
                    at
                };
                (at, error.to_string())
            })?;
        Ok(Self {
            file: file.to_owned(),
            validator: Arc::new(validator),
            source: Arc::new(schema.clone()),
        })
    }

    /// The schema as written.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Checks `content`; on a violation, says where and what.
    pub fn check(&self, content: &Value) -> Result<(), String> {
        self.validator.validate(content).map_err(|error| {
            let at = error.instance_path().as_str();
            let at = if at.is_empty() { "/" } else { at };
            format!("{at}: {error}")
        })
    }
}

/// Whether `text` is exactly one emoji (with or without its variation
/// selector and skin tone).
pub fn is_one_emoji(text: &str) -> bool {
    emojis::get(text).is_some() || emojis::get(text.trim_end_matches('\u{fe0f}')).is_some()
}

/// The schemas of a profile.
#[derive(Clone, Debug, Default)]
pub struct Schemas {
    /// Per event type.
    pub by_type: HashMap<String, Schema>,
    /// Per `msgtype` of `m.room.message`.
    pub by_msgtype: HashMap<String, Schema>,
}

impl Schemas {
    /// The schemas that apply to a content of `event_type`: the type's,
    /// and for `m.room.message` the msgtype's.
    pub fn for_content<'s>(
        &'s self,
        event_type: &str,
        content: &Value,
    ) -> impl Iterator<Item = &'s Schema> {
        let by_type = self.by_type.get(event_type);
        let by_msgtype = (event_type == "m.room.message")
            .then(|| content.get("msgtype").and_then(Value::as_str))
            .flatten()
            .and_then(|msgtype| self.by_msgtype.get(msgtype));
        by_type.into_iter().chain(by_msgtype)
    }
}
