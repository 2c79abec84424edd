//! `[[audit.witnesses]]`: each new checkpoint is submitted to every witness
//! (C2SP tlog-witness `add-checkpoint`, with the consistency proof from the
//! last one it cosigned) by a task off the hot path, and once more when the
//! gateway stops. Each cosigned checkpoint is appended to
//! `audit.cosigned_file` (synced), which `audit verify --trusted-checkpoint
//! FILE --witness KEY` reads. A witness that refuses is logged (once until
//! it changes) and tried again at the next checkpoint; requests never wait
//! for witnesses. At start, what each witness last cosigned is read back
//! from the end of that file, so that the first submission after a restart
//! carries the right old size.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sectorgate_audit::{CheckpointRow, Store, WitnessKey};
use tokio::sync::Mutex;

use crate::config::Config;

/// How often the latest checkpoint is looked for.
const EVERY: Duration = Duration::from_secs(1);
/// How long a witness may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The media type of a witness's "409 Conflict" answer: its size.
const SIZE_TYPE: &str = "text/x.tlog.size";
/// How much of the end of `cosigned_file` is read at start: many
/// checkpoints' worth. A witness whose last cosignature is further back is
/// asked from size 0 and answers with its size (409).
const RECALL_BYTES: u64 = 256 * 1024;

/// The witnesses of one log, and what each has cosigned.
#[derive(Clone)]
pub(crate) struct Witnesses(Arc<Mutex<State>>);

struct State {
    store: Store,
    origin: String,
    client: reqwest::Client,
    file: PathBuf,
    witnesses: Vec<Witness>,
}

struct Witness {
    url: String,
    key: WitnessKey,
    /// The size of the largest checkpoint it cosigned, as far as known.
    cosigned: Option<u64>,
    /// The last failure, logged once.
    failing: Option<String>,
}

impl Witnesses {
    /// The witnesses `[audit]` names; `None` without any.
    pub(crate) fn from_config(
        config: &Config,
        store: Store,
        origin: String,
    ) -> Result<Option<Self>, String> {
        let audit = &config.audit;
        let (false, Some(file)) = (audit.witnesses.is_empty(), audit.cosigned_file.clone()) else {
            return Ok(None);
        };
        let client = sectorgate_federation::tls::http_client(&[], TIMEOUT)
            .map_err(|error| format!("audit.witnesses: {error}"))?;
        let mut witnesses = audit
            .witnesses
            .iter()
            .map(|witness| {
                Ok(Witness {
                    url: witness.url.trim_end_matches('/').to_owned(),
                    key: WitnessKey::parse(&witness.key).map_err(|e| e.to_string())?,
                    cosigned: None,
                    failing: None,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        recall(&file, &origin, &mut witnesses);
        Ok(Some(Self(Arc::new(Mutex::new(State {
            store,
            origin,
            client,
            file,
            witnesses,
        })))))
    }

    /// Submits the latest checkpoint to every witness that has not
    /// cosigned it.
    pub(crate) async fn round(&self) {
        let mut state = self.0.lock().await;
        let checkpoint = match state.store.last_checkpoint(&state.origin).await {
            Ok(Some(checkpoint)) => checkpoint,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "audit witnesses: the latest checkpoint could not be read");
                return;
            }
        };
        let State {
            store,
            origin,
            client,
            file,
            witnesses,
        } = &mut *state;
        let log = Log {
            store,
            origin,
            client,
            file,
        };
        for witness in witnesses.iter_mut() {
            if witness.cosigned == Some(checkpoint.size) {
                continue;
            }
            match log.submit(witness, &checkpoint).await {
                Ok(()) => {
                    if witness.failing.take().is_some() {
                        tracing::info!(
                            witness = witness.key.name(),
                            "audit witness: cosigning again"
                        );
                    }
                }
                Err(error) => {
                    if witness.failing.as_ref() != Some(&error) {
                        tracing::warn!(witness = witness.key.name(), %error, size = checkpoint.size, "audit witness: no cosignature; trying again at the next checkpoint");
                    }
                    witness.failing = Some(error);
                }
            }
        }
    }

    /// Submits each new checkpoint until the process ends.
    pub(crate) fn spawn(&self) {
        let witnesses = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                witnesses.round().await;
            }
        });
    }
}

/// Sets what each witness last cosigned of `origin`'s log, as far as the
/// end of `file` shows it (a file that cannot be read shows nothing).
fn recall(file: &std::path::Path, origin: &str, witnesses: &mut [Witness]) {
    let Ok(tail) = read_tail(file, RECALL_BYTES) else {
        return;
    };
    for note in sectorgate_audit::split_notes(&tail) {
        let mut lines = note.lines();
        let (Some(of), Some(size)) = (lines.next(), lines.next()) else {
            continue;
        };
        let Ok(size) = size.parse::<u64>() else {
            continue;
        };
        if of != origin {
            continue;
        }
        for witness in witnesses.iter_mut() {
            if let Ok(Some(_)) = sectorgate_audit::cosigned_by(&note, &witness.key) {
                witness.cosigned = witness.cosigned.max(Some(size));
            }
        }
    }
    for witness in witnesses.iter() {
        if let Some(size) = witness.cosigned {
            tracing::info!(
                witness = witness.key.name(),
                size,
                "audit witness: last cosigned checkpoint read back"
            );
        }
    }
}

/// The last `bytes` of `file` (all of a smaller one), as text; a note cut
/// at the start does not parse and is passed over.
fn read_tail(file: &std::path::Path, bytes: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut opened = std::fs::File::open(file)?;
    let length = opened.metadata()?.len();
    opened.seek(SeekFrom::Start(length.saturating_sub(bytes)))?;
    let mut tail = Vec::new();
    opened.read_to_end(&mut tail)?;
    Ok(String::from_utf8_lossy(&tail).into_owned())
}

/// The log's side of a submission.
struct Log<'a> {
    store: &'a Store,
    origin: &'a str,
    client: &'a reqwest::Client,
    file: &'a PathBuf,
}

impl Log<'_> {
    /// Submits `checkpoint` to `witness`; on its cosignature, appends the
    /// cosigned checkpoint to the file. A witness that knows a size other
    /// than the one assumed says so (409): it is asked once more from there.
    async fn submit(
        &self,
        witness: &mut Witness,
        checkpoint: &CheckpointRow,
    ) -> Result<(), String> {
        for _ in 0..2 {
            let old = witness.cosigned.unwrap_or(0);
            if old > checkpoint.size {
                return Err(format!(
                    "the witness cosigned a tree of {old} records; the log's latest checkpoint covers {}: the log was cut short or rewritten, or another log has its origin",
                    checkpoint.size
                ));
            }
            let body = sectorgate_audit::add_checkpoint_body(
                self.store,
                self.origin,
                old,
                checkpoint.size,
                &checkpoint.note,
            )
            .await
            .map_err(|error| error.to_string())?;
            let answer = self
                .client
                .post(format!("{}/add-checkpoint", witness.url))
                .body(body)
                .send()
                .await
                .map_err(|error| format!("{}: {error}", witness.url))?;
            let status = answer.status();
            let sized = answer
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .is_some_and(|kind| kind.as_bytes().starts_with(SIZE_TYPE.as_bytes()));
            let text = answer.text().await.map_err(|error| error.to_string())?;
            match status.as_u16() {
                200 => {
                    let cosigned =
                        sectorgate_audit::take_cosignatures(&checkpoint.note, &text, &witness.key)
                            .map_err(|error| error.to_string())?;
                    self.append(cosigned).await?;
                    witness.cosigned = Some(checkpoint.size);
                    return Ok(());
                }
                409 if sized => {
                    let known: u64 = text
                        .trim()
                        .parse()
                        .map_err(|_| format!("409 with a size that is not one: {text:?}"))?;
                    if known == old {
                        return Err(format!(
                            "409: the witness holds another tree of {known} records"
                        ));
                    }
                    witness.cosigned = Some(known);
                }
                _ => return Err(format!("{status}: {}", text.trim())),
            }
        }
        Err("the witness's size changed while it was asked".to_owned())
    }

    /// Appends a cosigned checkpoint to the file, synced.
    async fn append(&self, cosigned: String) -> Result<(), String> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || sectorgate_audit::append_note(&file, &cosigned))
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| format!("{}: {error}", self.file.display()))
    }
}
