//! [`CheckpointSink`]: copies of each signed checkpoint, sent away from the
//! database host, so that a rewritten database cannot also rewrite them.
//!
//! - A file: each note appended, followed by a blank line, and synced. Give
//!   it to `audit verify --trusted-checkpoint`, which checks every note in it.
//! - Syslog over UDP (RFC 5424, facility `auth`, severity `notice`), the
//!   note's lines joined by `" | "`; a collector keeps them.
//!
//! Sending happens on a task of its own and never holds up a write.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::sync::mpsc;

/// Where checkpoints are copied.
#[derive(Clone, Debug, Default)]
pub struct SinkConfig {
    /// Append each note to this file.
    pub file: Option<PathBuf>,
    /// Send each note to this syslog collector (UDP).
    pub syslog: Option<SocketAddr>,
}

/// The sending end; cheap to call.
#[derive(Clone, Debug)]
pub struct CheckpointSink {
    queue: Option<mpsc::UnboundedSender<String>>,
}

impl CheckpointSink {
    /// A sink that copies nowhere.
    pub fn none() -> Self {
        Self { queue: None }
    }

    /// Starts the sending task. Must be called inside a Tokio runtime.
    pub fn spawn(config: SinkConfig) -> Self {
        if config.file.is_none() && config.syslog.is_none() {
            return Self::none();
        }
        let (queue, mut receiver) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let socket = match config.syslog {
                Some(_) => tokio::net::UdpSocket::bind("0.0.0.0:0").await.ok(),
                None => None,
            };
            while let Some(note) = receiver.recv().await {
                if let Some(path) = &config.file {
                    let path = path.clone();
                    let text = note.clone();
                    let written =
                        tokio::task::spawn_blocking(move || append_note(&path, &text)).await;
                    if !matches!(written, Ok(Ok(()))) {
                        tracing::error!(
                            alarm = "audit.checkpoint_export_failed",
                            "checkpoint not written to its file"
                        );
                    }
                }
                if let (Some(socket), Some(target)) = (&socket, config.syslog)
                    && socket
                        .send_to(&syslog_message(&note), target)
                        .await
                        .is_err()
                {
                    tracing::error!(
                        alarm = "audit.checkpoint_export_failed",
                        "checkpoint not sent to syslog"
                    );
                }
            }
        });
        Self { queue: Some(queue) }
    }

    /// Queues a note for sending.
    pub fn send(&self, note: String) {
        if let Some(queue) = &self.queue {
            let _ = queue.send(note);
        }
    }
}

/// Appends a note to a file of notes (followed by a blank line, as
/// [`split_notes`] reads them) and syncs it.
pub fn append_note(path: &std::path::Path, note: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(note.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_data()
}

/// `<facility auth (4) * 8 + notice (5)>1 - - sectorgate - checkpoint - MSG`.
fn syslog_message(note: &str) -> Vec<u8> {
    let lines: Vec<&str> = note.lines().filter(|line| !line.is_empty()).collect();
    format!("<37>1 - - sectorgate - checkpoint - {}", lines.join(" | ")).into_bytes()
}

/// Splits a file of notes (as the file sink writes them) into notes.
pub fn split_notes(text: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut in_signatures = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if bare.is_empty() && in_signatures {
            notes.push(std::mem::take(&mut current));
            in_signatures = false;
            continue;
        }
        if bare.is_empty() && current.is_empty() {
            continue;
        }
        if bare.is_empty() {
            in_signatures = true;
        }
        current.push_str(line);
    }
    if !current.trim().is_empty() {
        notes.push(current);
    }
    notes
}
