//! Fetching packuments concurrently, ahead of the resolver, without letting arrival order leak
//! into the result.
//!
//! The resolver walks the graph strictly in order and, when it needs a packument, waits for
//! that one ([`Fetcher::get`]). Meanwhile the fetcher keeps up to `limit` requests in flight:
//! every time a packument arrives it guesses which version each pending request will pick and
//! queues the packuments that version depends on, so the whole frontier of the graph is being
//! downloaded while the resolver is still waiting on the first one. A wrong guess (the
//! resolver later reuses another version) costs one unneeded request, never a different
//! graph: guesses only decide *what is downloaded early*, never *what is chosen*.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, StreamExt as _};
use sandboxpm_npm::{PackageSpec, Version, VersionRequest};
use sandboxpm_registry::{BundleDependencies, Packument};

use crate::error::SourceError;
use crate::options::NodeVersion;
use crate::pick::{pick, satisfies};
use crate::source::PackumentSource;

/// A packument, or why there is none.
pub(crate) type Fetched = Result<Arc<Packument>, SourceError>;

/// The fetcher lost track of a request (a bug, reported instead of hanging).
#[derive(Debug)]
struct Lost(String);

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "internal error: the request for `{}` was lost", self.0)
    }
}

impl std::error::Error for Lost {}

pub(crate) struct Fetcher<'s, S: PackumentSource> {
    source: &'s S,
    limit: usize,
    node: NodeVersion,
    /// Versions the lockfile has, by name: requests they satisfy will not need the registry.
    locked: HashMap<String, Vec<Version>>,
    /// Not started yet, next first.
    queue: VecDeque<String>,
    /// Queued, in flight or done.
    known: HashSet<String>,
    done: HashMap<String, Fetched>,
    in_flight: FuturesUnordered<BoxFuture<'s, (String, Fetched)>>,
    /// Requests seen for each name, for guessing.
    wanted: HashMap<String, Vec<VersionRequest>>,
    /// `name@version`s whose dependencies were already queued.
    guessed: HashSet<String>,
}

impl<S: PackumentSource> fmt::Debug for Fetcher<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight.len())
            .field("done", &self.done.len())
            .finish_non_exhaustive()
    }
}

impl<'s, S: PackumentSource> Fetcher<'s, S> {
    pub(crate) fn new(
        source: &'s S,
        limit: usize,
        node: NodeVersion,
        locked: HashMap<String, Vec<Version>>,
    ) -> Self {
        Fetcher {
            source,
            limit: limit.max(1),
            node,
            locked,
            queue: VecDeque::new(),
            known: HashSet::new(),
            done: HashMap::new(),
            in_flight: FuturesUnordered::new(),
            wanted: HashMap::new(),
            guessed: HashSet::new(),
        }
    }

    /// Notes that `name` will probably be asked for with `request`, and queues its packument
    /// (unless the lockfile already has a version that satisfies it).
    pub(crate) fn want(&mut self, name: &str, request: &VersionRequest) {
        let mut work = vec![(name.to_owned(), request.clone())];
        while let Some((name, request)) = work.pop() {
            let locked = self
                .locked
                .get(&name)
                .is_some_and(|versions| versions.iter().any(|v| satisfies(&request, v)));
            if locked {
                continue;
            }
            let requests = self.wanted.entry(name.clone()).or_default();
            if requests.contains(&request) {
                continue;
            }
            requests.push(request.clone());
            match self.done.get(&name) {
                Some(Ok(packument)) => {
                    let packument = Arc::clone(packument);
                    work.extend(self.guess(&packument, &request));
                }
                Some(Err(_)) => {}
                None => {
                    if self.known.insert(name.clone()) {
                        self.queue.push_back(name);
                    }
                }
            }
        }
    }

    /// The dependencies of the version `request` will probably pick, if not queued before.
    fn guess(
        &mut self,
        packument: &Packument,
        request: &VersionRequest,
    ) -> Vec<(String, VersionRequest)> {
        let Some((version, packed)) = pick(packument, request, self.node.get()) else {
            return Vec::new();
        };
        if !self.guessed.insert(format!("{}@{version}", packument.name)) {
            return Vec::new();
        }
        // Undecodable: the resolver reports it when it gets there; a guess just has nothing.
        let Ok(manifest) = packed.manifest() else {
            return Vec::new();
        };
        let bundled = |name: &str| match &manifest.bundle_dependencies {
            BundleDependencies::All(all) => *all,
            BundleDependencies::Names(names) => names.iter().any(|n| n == name),
            BundleDependencies::None => false,
        };
        let required_peers = manifest.peer_dependencies.iter().filter(|(name, _)| {
            !manifest
                .peer_dependencies_meta
                .get(*name)
                .is_some_and(|m| m.optional)
        });
        manifest
            .dependencies
            .iter()
            .chain(&manifest.optional_dependencies)
            .chain(required_peers)
            .filter(|(name, _)| !bundled(name))
            .filter_map(|(name, spec)| {
                let spec = PackageSpec::from_dependency(name, spec).ok()?;
                Some((spec.registry_name()?.to_string(), spec.request()?.clone()))
            })
            .collect()
    }

    /// The packument of `name`, fetched now (ahead of the queue) if it was not requested yet.
    pub(crate) async fn get(&mut self, name: &str) -> Fetched {
        if self.known.insert(name.to_owned()) {
            self.queue.push_front(name.to_owned());
        } else if let Some(position) = self.queue.iter().position(|n| n == name) {
            // Queued behind guesses: the resolver is waiting for this one, so it goes first.
            if let Some(entry) = self.queue.remove(position) {
                self.queue.push_front(entry);
            }
        }
        loop {
            if let Some(result) = self.done.get(name) {
                return result.clone();
            }
            self.fill();
            match self.in_flight.next().await {
                Some((done, result)) => self.complete(done, result),
                None => return Err(Arc::new(Lost(name.to_owned()))),
            }
        }
    }

    fn fill(&mut self) {
        while self.in_flight.len() < self.limit {
            let Some(name) = self.queue.pop_front() else {
                break;
            };
            let source = self.source;
            self.in_flight.push(
                async move {
                    let result = source
                        .packument(&name)
                        .await
                        .map_err(|e| Arc::new(e) as SourceError);
                    (name, result)
                }
                .boxed(),
            );
        }
    }

    fn complete(&mut self, name: String, result: Fetched) {
        let guesses = match &result {
            Ok(packument) => {
                let packument = Arc::clone(packument);
                let requests = self.wanted.get(&name).cloned().unwrap_or_default();
                requests
                    .iter()
                    .flat_map(|request| self.guess(&packument, request))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        self.done.insert(name, result);
        for (name, request) in guesses {
            self.want(&name, &request);
        }
        self.fill();
    }
}
