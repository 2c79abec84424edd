//! What asks for a reload: `SIGHUP`, or a change to a watched file (the
//! config file and the profile's folders), seen by polling their sizes and
//! modification times. A change is acted on once it has held still for one
//! poll, so that a file being written is not read half-way; one a
//! `SIGHUP` reload has read already is not acted on again. Polling, not
//! inotify, because it also sees a Kubernetes ConfigMap or Secret whose
//! symbolic links are swapped.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

/// How often the watched files are looked at.
const POLL: Duration = Duration::from_secs(2);
/// At most this many files are watched under each folder.
const MAX_FILES: usize = 2_000;
/// Folders are walked at most this deep.
const MAX_DEPTH: usize = 4;

/// Why a reload was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Nothing yet.
    Start,
    /// `SIGHUP`.
    Hangup,
    /// A watched file changed.
    Changed,
}

/// The asks for a reload, as they come: each one changes the value.
pub(crate) type Asks = watch::Receiver<(u64, Cause)>;

/// The files and folders watched; a reload names them anew.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watched(Arc<Mutex<Vec<PathBuf>>>);

impl Watched {
    /// Watches `roots` from now on.
    pub(crate) fn set(&self, roots: Vec<PathBuf>) {
        if let Ok(mut watched) = self.0.lock() {
            *watched = roots;
        }
    }

    fn roots(&self) -> Vec<PathBuf> {
        self.0.lock().map(|roots| roots.clone()).unwrap_or_default()
    }
}

/// Listens for `SIGHUP` and polls `watched`; every ask goes to the
/// receivers (each reloads what it holds).
pub(crate) fn spawn(watched: Watched) -> Asks {
    let (asks, receiver) = watch::channel((0, Cause::Start));
    let asks = Arc::new(asks);
    let on_signal = Arc::clone(&asks);
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::error!("cannot listen for SIGHUP: reloads only when watched files change");
            return;
        };
        while hangups.recv().await.is_some() {
            ask(&on_signal, Cause::Hangup);
        }
    });
    let mut signalled = receiver.clone();
    tokio::spawn(async move {
        let mut last = fingerprint_of(&watched).await;
        let mut pending = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                changed = signalled.changed() => {
                    // A reload for SIGHUP reads the files as they are now:
                    // a change already seen by it is not one to act on.
                    if changed.is_ok() && signalled.borrow_and_update().1 == Cause::Hangup {
                        last = fingerprint_of(&watched).await;
                        pending = None;
                    }
                    continue;
                }
            }
            let now = fingerprint_of(&watched).await;
            if now == last {
                pending = None;
            } else if pending.as_ref() == Some(&now) {
                tracing::info!("a watched file changed: reloading");
                ask(&asks, Cause::Changed);
                last = now;
                pending = None;
            } else {
                pending = Some(now);
            }
        }
    });
    receiver
}

fn ask(asks: &watch::Sender<(u64, Cause)>, cause: Cause) {
    asks.send_modify(|(count, last)| {
        *count += 1;
        *last = cause;
    });
}

/// Each watched file's path, size and modification time (`None`: gone).
type Fingerprint = Vec<(PathBuf, Option<(u64, SystemTime)>)>;

async fn fingerprint_of(watched: &Watched) -> Fingerprint {
    let roots = watched.roots();
    tokio::task::spawn_blocking(move || fingerprint(&roots))
        .await
        .unwrap_or_default()
}

fn fingerprint(roots: &[PathBuf]) -> Fingerprint {
    let mut files = Vec::new();
    for root in roots {
        if root.is_dir() {
            let mut found = Vec::new();
            walk(root, MAX_DEPTH, &mut found);
            found.sort();
            files.extend(found);
        } else {
            files.push(root.clone());
        }
    }
    files
        .into_iter()
        .map(|path| {
            // Following symbolic links: a swapped link shows as a change.
            let seen = std::fs::metadata(&path)
                .and_then(|meta| Ok((meta.len(), meta.modified()?)))
                .ok();
            (path, seen)
        })
        .collect()
}

fn walk(folder: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        if found.len() >= MAX_FILES {
            return;
        }
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 {
                walk(&path, depth - 1, found);
            }
        } else {
            found.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_changes_with_a_file_in_a_watched_folder() {
        let folder = tempfile::tempdir().expect("folder");
        let file = folder.path().join("schemas/a.json");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, "{}").expect("write");
        let roots = vec![folder.path().to_owned(), folder.path().join("missing")];
        let first = fingerprint(&roots);
        assert_eq!(first.len(), 2, "{first:?}");
        assert_eq!(first, fingerprint(&roots));
        std::fs::write(&file, "{\"type\": 1}").expect("write");
        assert_ne!(first, fingerprint(&roots), "a longer file");
        std::fs::write(folder.path().join("new.yaml"), "").expect("write");
        assert_eq!(fingerprint(&roots).len(), 3);
    }
}
