//! The network allowlist proxy.
//!
//! A sandboxed command with `Network::Allow` has no route to the outside world: its network
//! namespace holds only loopback, and a bridge there forwards each TCP connection to this proxy's
//! unix socket. The proxy runs in the sandboxpm process, outside the sandbox, and is therefore the
//! single place where the allowlist is enforced (see `DESIGN.md`, "Network allowlist").
//!
//! It speaks the two forms of HTTP/1.1 proxying that package managers use: `CONNECT host:port`
//! tunnels (everything over TLS) and absolute-form `GET http://host/path` forwarding. Each request
//! passes through the same gate:
//!
//! 1. the host and port must match the [`ProxyRules`] (checked *before* any DNS lookup, so the proxy
//!    cannot be used to leak data through name queries for hosts nobody allowed);
//! 2. the proxy resolves the name itself and refuses loopback, private, link-local and similar
//!    addresses ([`non_public_kind`]), so an allowed name cannot be pointed at the host's own
//!    services or the local network (DNS rebinding); only an IP entry written in the allowlist
//!    grants such an address;
//! 3. every refusal is answered with a readable `403` and recorded as a [`Blocked`] attempt, which
//!    feeds the `block` events and the install summary.
//!
//! The proxy uses std threads only (one per connection, bounded), because it serves a handful of
//! connections from one script at a time and must not pull an async runtime into the sandbox crate.

mod address;
mod host;
mod http;
mod rules;
mod server;

pub use address::non_public_kind;
pub use rules::{ProxyRules, RuleError};
pub use server::{BlockReason, Blocked, MAX_CONNECTIONS, Proxy, ProxyLog};

/// Environment variables that npm, pnpm, yarn, bun, pip, curl and most HTTP clients read; the
/// backends point each of them at the proxy's address inside the sandbox.
pub const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "npm_config_proxy",
    "npm_config_https_proxy",
    "YARN_HTTP_PROXY",
    "YARN_HTTPS_PROXY",
    "PIP_PROXY",
];
