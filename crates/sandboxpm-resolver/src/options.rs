//! What a resolution is asked to do.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use sandboxpm_npm::{Platform, Version};
use tokio::sync::mpsc::UnboundedSender;

use crate::graph::ResolvedPackage;

/// Packument requests in flight at once when nothing else is said. The registry client has its
/// own (larger) connection limit; this one only keeps the resolver from queueing thousands of
/// futures for a huge graph.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Options of one resolution.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Install `devDependencies` (false for `--prod` / `--omit=dev`). Dev dependencies are
    /// resolved either way, as npm does, so the lockfile stays complete; when this is false they
    /// only go to [`crate::Graph::lock_only`].
    pub include_dev: bool,
    /// The platform optional packages are filtered for.
    pub platform: Platform,
    /// The version of the `node` that will run the packages (from `node --version`), for
    /// `engines` warnings and npm's preference for engine-compatible versions. None skips both.
    pub node_version: NodeVersion,
    /// Fail instead of changing anything when `package.json` and the lockfile disagree
    /// (`--frozen-lockfile`, `npm ci`).
    pub frozen: bool,
    /// The default registry URL. Lockfile tarball paths are relative to it.
    pub registry: String,
    /// Packument requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Receives each package as soon as the walk picks it (unless it does not support the
    /// platform), so that its tarball can be fetched while the rest is resolved. The final graph
    /// may still leave a package out (an optional dependency that fails): what was fetched for
    /// it is only cached. Dropped when the resolution ends, which closes the channel.
    pub prefetch: Option<UnboundedSender<ResolvedPackage>>,
}

impl ResolveOptions {
    /// Options for `platform` against `registry`: dev dependencies included, no node version,
    /// not frozen, [`DEFAULT_CONCURRENCY`].
    pub fn new(platform: Platform, registry: impl Into<String>) -> Self {
        ResolveOptions {
            include_dev: true,
            platform,
            node_version: NodeVersion::default(),
            frozen: false,
            registry: registry.into(),
            concurrency: DEFAULT_CONCURRENCY,
            prefetch: None,
        }
    }
}

/// A node version that may still be being asked for: asking node takes milliseconds, which pass
/// while the first packuments are on their way. Clones share the answer.
#[derive(Clone, Default)]
pub struct NodeVersion(Arc<Answer>);

#[derive(Default)]
struct Answer {
    asking: Mutex<Option<JoinHandle<Option<Version>>>>,
    answer: OnceLock<Option<Version>>,
}

impl NodeVersion {
    /// An answer already known (`None`: no node, or not wanted).
    pub fn known(version: Option<Version>) -> Self {
        let answer = Answer::default();
        let _ = answer.answer.set(version);
        NodeVersion(Arc::new(answer))
    }

    /// Asks `question` on a thread of its own; [`NodeVersion::get`] waits for its answer.
    pub fn ask(question: impl FnOnce() -> Option<Version> + Send + 'static) -> Self {
        NodeVersion(Arc::new(Answer {
            asking: Mutex::new(Some(std::thread::spawn(question))),
            answer: OnceLock::new(),
        }))
    }

    /// The version, once asked (`None` if nobody asked, or node could not say).
    pub fn get(&self) -> Option<&Version> {
        self.0
            .answer
            .get_or_init(|| {
                let asking = self
                    .0
                    .asking
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                asking.and_then(|thread| thread.join().ok().flatten())
            })
            .as_ref()
    }
}

impl From<Option<Version>> for NodeVersion {
    fn from(version: Option<Version>) -> Self {
        NodeVersion::known(version)
    }
}

impl fmt::Debug for NodeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.answer.get() {
            Some(version) => f.debug_tuple("NodeVersion").field(version).finish(),
            None => f.write_str("NodeVersion(asking)"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_version_asked_for_is_answered_once_to_every_clone() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let asked = NodeVersion::ask(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Version::parse("20.11.0").ok()
        });
        let clone = asked.clone();
        assert_eq!(clone.get().unwrap().to_string(), "20.11.0");
        assert_eq!(asked.get().unwrap().to_string(), "20.11.0");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn no_answer_means_no_version() {
        assert!(NodeVersion::default().get().is_none());
        assert!(NodeVersion::known(None).get().is_none());
        assert!(NodeVersion::ask(|| None).get().is_none());
        let known = NodeVersion::from(Version::parse("18.0.0").ok());
        assert_eq!(known.get().unwrap().to_string(), "18.0.0");
    }
}
