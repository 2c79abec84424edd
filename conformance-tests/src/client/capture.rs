//! Reading a capture written by sectorgate's `record` option (one JSON
//! object per line; see the gateway's `capture` module for the format).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::report::Exchange;

/// The capture format this suite reads.
pub const CAPTURE_VERSION: u32 = 1;

/// One exchange of the captured user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Line {
    /// The format version.
    pub v: u32,
    /// When it was answered (ms since the epoch).
    pub ts: u64,
    /// The gateway's request id.
    pub request_id: String,
    /// The HTTP method.
    pub method: String,
    /// The client's `User-Agent`, when it sent one.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The path.
    pub path: String,
    /// The query, access tokens redacted.
    #[serde(default)]
    pub query: Option<String>,
    /// The endpoint, as `<api>.<name>`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The action kind the gateway classified it as.
    #[serde(default)]
    pub action: Option<String>,
    /// A JSON body, secrets redacted.
    #[serde(default)]
    pub body: Option<Value>,
    /// The size of a body that is not JSON.
    #[serde(default)]
    pub body_bytes: Option<u64>,
    /// Whether the body was streamed (an upload).
    #[serde(default)]
    pub streamed: bool,
    /// The answer's status.
    pub status: u16,
    /// The rule that refused it, when the gateway did.
    #[serde(default)]
    pub rule: Option<String>,
    /// The errcode of the gateway's refusal.
    #[serde(default)]
    pub errcode: Option<String>,
}

impl Line {
    /// Whether the gateway refused it.
    pub fn refused(&self) -> bool {
        self.rule.is_some()
    }

    /// Whether it is of this action kind.
    pub fn is(&self, action: &str) -> bool {
        self.action.as_deref() == Some(action)
    }

    /// The exchange as evidence; `base` is the gateway's URL, if known.
    pub fn exchange(&self, base: &str) -> Exchange {
        let query = self
            .query
            .as_deref()
            .map(|query| format!("?{query}"))
            .unwrap_or_default();
        let response = self
            .rule
            .as_ref()
            .map(|rule| json!({"errcode": self.errcode, "org.sectorgate.rule": rule}).to_string());
        Exchange {
            method: self.method.clone(),
            url: format!("{base}{}{query}", self.path),
            request_headers: Default::default(),
            request_body: self.body.as_ref().map(Value::to_string),
            status: Some(self.status),
            response_body: response,
            duration_ms: 0,
            error: None,
        }
    }
}

/// A capture file read as it grows.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// The lines read so far.
    pub lines: Vec<Line>,
    /// Lines that could not be read, with why.
    pub problems: Vec<String>,
}

impl Tail {
    /// Reads `path` from its start, or only what is appended from now on.
    pub fn open(path: &Path, from_start: bool) -> Result<Self, String> {
        let offset = if from_start {
            0
        } else {
            std::fs::metadata(path)
                .map_err(|e| format!("cannot read the capture {}: {e}", path.display()))?
                .len()
        };
        Ok(Self {
            path: path.to_owned(),
            offset,
            partial: Vec::new(),
            lines: Vec::new(),
            problems: Vec::new(),
        })
    }

    /// Reads what was appended since the last call; returns how many lines
    /// were added.
    pub fn poll(&mut self) -> Result<usize, String> {
        let mut file = std::fs::File::open(&self.path)
            .map_err(|e| format!("cannot read the capture {}: {e}", self.path.display()))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| format!("cannot read the capture: {e}"))?;
        let mut fresh = Vec::new();
        file.read_to_end(&mut fresh)
            .map_err(|e| format!("cannot read the capture: {e}"))?;
        self.offset += fresh.len() as u64;
        self.partial.extend_from_slice(&fresh);
        let before = self.lines.len();
        while let Some(end) = self.partial.iter().position(|byte| *byte == b'\n') {
            let raw: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&raw[..end]).into_owned();
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Line>(&text) {
                Ok(line) if line.v == CAPTURE_VERSION => self.lines.push(line),
                Ok(line) => self.problems.push(format!(
                    "a line of capture format {} (this suite reads {CAPTURE_VERSION})",
                    line.v
                )),
                Err(error) => self.problems.push(format!("an unreadable line: {error}")),
            }
        }
        Ok(self.lines.len() - before)
    }
}
