//! Host name resolution shared by every connection of one client.
//!
//! An install opens many connections to one registry at once: until the first HTTP/2 connection
//! is up, every concurrent request starts its own. With the system resolver each of them looks
//! the registry up again, a burst of identical DNS queries; a resolver that drops some of them
//! (rate limits, or A and AAAA answers lost on one socket) leaves those connections waiting for
//! the C library's five-second retry, and an install of a few seconds takes five more. Here a
//! host is looked up once: concurrent connections wait for that one answer, and later ones reuse
//! it for the rest of the process. A failed lookup is not kept, so a retry asks again.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::OnceCell;

/// How a host is turned into addresses (the system's `getaddrinfo`, or a stand-in in tests).
type Lookup = Arc<dyn Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// Resolves each host once and shares the answer (see the module documentation).
pub(crate) struct SharedResolver(Arc<Inner>);

struct Inner {
    lookup: Lookup,
    hosts: Mutex<HashMap<String, Arc<OnceCell<Vec<SocketAddr>>>>>,
}

impl SharedResolver {
    /// A resolver backed by the system's resolver.
    pub(crate) fn system() -> Self {
        Self::with_lookup(Arc::new(|host: &str| {
            (host, 0).to_socket_addrs().map(Iterator::collect)
        }))
    }

    fn with_lookup(lookup: Lookup) -> Self {
        SharedResolver(Arc::new(Inner {
            lookup,
            hosts: Mutex::new(HashMap::new()),
        }))
    }
}

impl Inner {
    /// The addresses of `host`, looked up at most once at a time and kept once found.
    async fn addresses(&self, host: String) -> io::Result<Vec<SocketAddr>> {
        let cell = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(hosts.entry(host.clone()).or_default())
        };
        let lookup = Arc::clone(&self.lookup);
        let addrs = cell
            .get_or_try_init(|| async move {
                // getaddrinfo blocks: off the runtime's worker threads.
                let found = tokio::task::spawn_blocking(move || lookup(&host))
                    .await
                    .map_err(io::Error::other)??;
                if found.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "the host name has no addresses",
                    ));
                }
                Ok::<_, io::Error>(found)
            })
            .await?;
        Ok(addrs.clone())
    }
}

impl Resolve for SharedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let inner = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = inner.addresses(host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn counting(fail_first: bool) -> (SharedResolver, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let resolver = SharedResolver::with_lookup(Arc::new(move |host: &str| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            // Slow enough that the concurrent callers below all arrive while it runs.
            std::thread::sleep(Duration::from_millis(50));
            if fail_first && n == 0 {
                return Err(io::Error::other("no answer"));
            }
            assert_eq!(host, "registry.test");
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))])
        }));
        (resolver, calls)
    }

    async fn resolve_all(resolver: &Arc<SharedResolver>, n: usize) -> Vec<io::Result<usize>> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let resolver = Arc::clone(resolver);
                tokio::spawn(async move {
                    let name: Name = "registry.test".parse().unwrap();
                    resolver
                        .resolve(name)
                        .await
                        .map(Iterator::count)
                        .map_err(|e| io::Error::other(e.to_string()))
                })
            })
            .collect();
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_connections_share_one_lookup() {
        let (resolver, calls) = counting(false);
        let resolver = Arc::new(resolver);
        for result in resolve_all(&resolver, 32).await {
            assert_eq!(result.unwrap(), 1);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Later connections reuse the answer.
        resolve_all(&resolver, 4).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_lookup_is_not_kept() {
        let (resolver, calls) = counting(true);
        let resolver = Arc::new(resolver);
        let first = resolve_all(&resolver, 1).await;
        assert!(first[0].is_err());
        let again = resolve_all(&resolver, 1).await;
        assert_eq!(again[0].as_ref().unwrap(), &1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
