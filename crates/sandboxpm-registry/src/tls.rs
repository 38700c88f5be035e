//! TLS set-up: the system's trust store, plus the user's extra CAs.
//!
//! Corporate networks (and this project's own CI machines) intercept TLS with a private CA
//! that is installed in the operating system's store. A client with a bundled root list fails
//! there, so certificates are verified by `rustls-platform-verifier` (through reqwest), which
//! reads the system store, and `cafile` / `ca` are added on top, as npm does.
//!
//! reqwest is built without a bundled crypto provider; we use *ring* (a small C/asm build)
//! rather than aws-lc (a much larger C build) to keep compile times low on small
//! machines. It is installed as the process default only if the application has not chosen one.

use std::path::Path;
use std::sync::Arc;

use reqwest::{Certificate, ClientBuilder};

use crate::error::Error;

/// Make sure rustls has a process-wide crypto provider.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed a provider in the meantime, which is
        // exactly the state we want.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Apply `cafile`, `ca` and `strict_ssl` to `builder`.
pub(crate) fn configure(
    mut builder: ClientBuilder,
    cafile: Option<&Path>,
    ca: &[String],
    strict_ssl: bool,
) -> Result<ClientBuilder, Error> {
    if let Some(path) = cafile {
        let pem = std::fs::read(path).map_err(|e| Error::CaFile {
            path: path.to_owned(),
            source: Arc::new(e),
        })?;
        for cert in parse_bundle(&pem, &format!("cafile {}", path.display()))? {
            builder = builder.add_root_certificate(cert);
        }
    }
    for pem in ca {
        for cert in parse_bundle(pem.as_bytes(), "ca")? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if !strict_ssl {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

fn parse_bundle(pem: &[u8], origin: &str) -> Result<Vec<Certificate>, Error> {
    Certificate::from_pem_bundle(pem).map_err(|e| Error::Certificate {
        origin: origin.to_owned(),
        source: Arc::new(e),
    })
}
