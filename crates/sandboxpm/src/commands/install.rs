//! `sandboxpm install`: package.json → resolution → verified store → node_modules → lockfile.
//!
//! The stages are the library crates'; this module only wires them together, prints progress
//! and the summary, and decides exit codes. No stage runs package code: packages with install
//! scripts are installed and listed as "scripts not run" (consent and sandboxed execution are the
//! scripts stage's job).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};

use super::install_state;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use sandboxpm_config::{Config, Credential, LoadOptions, RegistryFallback};
use sandboxpm_linker::{LinkOptions, LinkPlan, PackageContents, PlannedPackage};
use sandboxpm_npm::{
    DependencySection, LOCKFILE_NAME, Lockfile, PackageJson, Platform, Verifier, Version,
    normalize_manifest_path,
};
use sandboxpm_registry::{Auth, ClientOptions, NetworkMode, Registry, RegistryClient};
use sandboxpm_resolver::{Graph, NodeVersion, ResolveOptions, ResolvedPackage};
use sandboxpm_store::{ExtractLimits, Sha512Digest, Store};
use serde::Serialize;

/// What `install` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    pub frozen_lockfile: bool,
    pub offline: bool,
    pub prefer_offline: bool,
    pub production: bool,
    pub ignore_scripts: bool,
    pub json: bool,
    pub silent: bool,
}

/// The machine-readable summary (`--json`).
#[derive(Debug, Default, Serialize)]
struct Summary {
    /// Nothing changed since the last install: nothing was checked beyond its recorded inputs.
    up_to_date: bool,
    added: Vec<String>,
    removed: Vec<String>,
    unchanged: usize,
    downloaded: usize,
    reused_from_store: usize,
    scripts_not_run: Vec<String>,
    /// Packages whose approved scripts ran in the sandbox.
    scripts_ran: Vec<String>,
    /// Packages whose scripts were refused (blacklist, or the user said no), with why.
    scripts_refused: Vec<String>,
    /// Of those, the ones `.sandboxpmrc` refuses.
    scripts_blacklisted: Vec<String>,
    /// `--ignore-scripts` was given (otherwise they are not run because consent is not built yet).
    scripts_ignored: bool,
    warnings: Vec<String>,
    seconds: f64,
}

pub fn install(options: &InstallOptions) -> anyhow::Result<u8> {
    let started = Instant::now();
    let mut load = LoadOptions::from_process().context("reading the current directory")?;
    if let Some(registry) = cached_npm_registry() {
        load.registry_fallback = RegistryFallback::Fixed(registry);
    }
    let config = Config::load(&load)?;
    let project = find_project(&load.cwd)?;
    let manifest_path = project.join("package.json");
    let manifest_bytes = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = PackageJson::from_slice(&manifest_bytes, &manifest_path)?;
    let lock_path = project.join(LOCKFILE_NAME);
    let lock_bytes = match std::fs::read(&lock_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", lock_path.display())),
    };
    if options.frozen_lockfile && lock_bytes.is_none() {
        bail!("--frozen-lockfile: {} does not exist", lock_path.display());
    }
    let out = Output::new(options);
    for warning in &config.warnings {
        out.warn(warning);
    }
    let sandboxpmrc = format!("{:?}", config.sandboxpm);
    if let Some(lock) = &lock_bytes {
        let inputs =
            install_state::inputs_digest(&manifest_bytes, lock, &sandboxpmrc, options.production);
        if install_state::is_up_to_date(&project, &inputs, options.ignore_scripts) {
            let summary = Summary {
                up_to_date: true,
                seconds: started.elapsed().as_secs_f64(),
                ..Summary::default()
            };
            if options.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else if !options.silent {
                println!("Already up to date ({:.3}s)", summary.seconds);
            }
            return Ok(0);
        }
    }
    install_state::clear(&project);
    let lockfile = match &lock_bytes {
        Some(bytes) => Some(Lockfile::from_text(
            &String::from_utf8_lossy(bytes),
            &lock_path,
        )?),
        None => None,
    };

    let runtime = runtime()?;
    let (mut summary, candidates) = runtime.block_on(run(
        options,
        &config,
        &project,
        &manifest,
        lockfile.as_ref(),
        &out,
    ))?;
    drop(runtime);

    // Scripts run after linking and outside the async runtime: each goes through a re-executed
    // single-threaded sandbox helper.
    if !options.ignore_scripts && !candidates.is_empty() {
        let ran = super::scripts::run_install_scripts(
            &config,
            &project,
            &candidates,
            &out_sink(options),
        )?;
        summary
            .scripts_not_run
            .retain(|key| !ran.ran.contains(key) && !ran.earlier.contains(key));
        summary.scripts_ran = ran.ran;
        summary.scripts_refused = ran.refused;
        summary.scripts_blacklisted = ran.blacklisted;
        summary.warnings.extend(ran.warnings);
    }

    // Record what this install was computed from, for the next one's shortcut. The lockfile may
    // have been written just now, so it is read again.
    if let Ok(lock) = std::fs::read(&lock_path) {
        let inputs =
            install_state::inputs_digest(&manifest_bytes, &lock, &sandboxpmrc, options.production);
        let settled = summary
            .scripts_not_run
            .iter()
            .all(|key| summary.scripts_blacklisted.contains(key));
        let root_links = DependencySection::ALL
            .iter()
            .filter(|s| !(options.production && **s == DependencySection::DevDependencies))
            .flat_map(|s| manifest.section(*s).keys())
            .filter(|name| {
                std::fs::symlink_metadata(project.join("node_modules").join(name)).is_ok()
            })
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        install_state::record(
            &project,
            &install_state::InstallState {
                inputs,
                scripts_settled: settled,
                root_links,
            },
        );
    }
    let summary = Summary {
        seconds: started.elapsed().as_secs_f64(),
        ..summary
    };
    if options.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !options.silent {
        print_summary(&summary);
    }
    Ok(0)
}

/// The async runtime of an install: one thread, this one. It runs the registry client (one HTTP/2
/// connection that all requests share), the resolver's walk, and the small packuments' parsing;
/// what costs CPU (extracting tarballs, parsing large packuments, linking) goes to the blocking
/// pool and rayon's threads. With a worker thread per core instead, the connection's task and
/// the requests reading from it passed every frame between threads: each a wake-up of another
/// thread, and contention on the connection's state, for about 7% more CPU on a clean install.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The nearest directory at or above `cwd` with a package.json.
pub(crate) fn find_project(cwd: &Path) -> anyhow::Result<PathBuf> {
    cwd.ancestors()
        .find(|d| d.join("package.json").is_file())
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "no package.json in {} or any parent directory",
                cwd.display()
            )
        })
}

async fn run(
    options: &InstallOptions,
    config: &Config,
    project: &Path,
    manifest: &PackageJson,
    lockfile: Option<&Lockfile>,
    out: &Output,
) -> anyhow::Result<(Summary, Vec<super::scripts::Candidate>)> {
    let registry = config.settings.registry().to_string();
    // Built on first use: loading the system's certificates costs tens of milliseconds, and an
    // up-to-date install never touches the network.
    let client = LazyClient {
        options: client_options(config, options)?,
        client: std::sync::OnceLock::new(),
        received: AtomicUsize::new(0),
        live: out.live,
    };
    let client = &client;

    // Resolve.
    out.progress("resolving");
    let mut resolve_options = ResolveOptions::new(Platform::current(), registry.clone());
    resolve_options.include_dev = !options.production;
    resolve_options.frozen = options.frozen_lockfile;
    // `engines` warnings need node's version, and asking node costs milliseconds: only ask when
    // the lockfile does not already decide everything, and while the first packuments come.
    let lock_decides = lockfile.is_some_and(|l| l.check_manifest(manifest).is_ok());
    if !lock_decides {
        resolve_options.node_version = NodeVersion::ask(node_version);
    }

    // Each package's tarball is fetched as soon as the walk picks it, while the rest resolves.
    let store =
        Arc::new(Store::open(&config.paths.store_dir).with_context(|| {
            format!("opening the store at {}", config.paths.store_dir.display())
        })?);
    let fetching = Fetching::new();
    let fetching = &fetching;
    let (prefetch, mut picked) = tokio::sync::mpsc::unbounded_channel();
    resolve_options.prefetch = Some(prefetch);
    let resolving = async move {
        let graph = sandboxpm_resolver::resolve(manifest, &resolve_options, lockfile, client).await;
        // Dropping the options closes the channel: the prefetch stream ends.
        drop(resolve_options);
        if graph.is_err() {
            fetching.stop.store(true, Ordering::Relaxed);
        }
        graph
    };
    let prefetching = stream::poll_fn(move |cx| picked.poll_recv(cx))
        // A tarball that cannot be checked against SHA-512 waits for the user's decision below.
        .filter(|p: &ResolvedPackage| {
            std::future::ready(p.integrity.as_ref().is_some_and(|i| !i.is_weak()))
        })
        .map(|package| {
            let store = Arc::clone(&store);
            async move {
                if fetching.stop.load(Ordering::Relaxed) {
                    return None;
                }
                let fetched = fetch(client, &store, &package, fetching, !lock_decides).await;
                Some((package.key(), fetched))
            }
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .filter_map(std::future::ready)
        .collect::<HashMap<_, _>>();
    let (graph, mut prefetched) = futures_util::future::join(resolving, prefetching).await;
    let mut graph = graph?;
    client.forget_packuments();
    let mut warnings: Vec<String> = Vec::new();
    let mut skipped_optional = 0;
    for warning in &graph.warnings {
        if matches!(warning, sandboxpm_resolver::Warning::SkippedOptional { .. }) && !options.json {
            skipped_optional += 1;
        } else {
            warnings.push(warning.to_string());
        }
    }
    if skipped_optional > 0 {
        warnings.push(format!(
            "{skipped_optional} optional dependencies skipped (other platforms, or unavailable); `--json` lists them"
        ));
    }

    // A tarball that can only be checked against sha1, or not at all, is a warn event, decided
    // before anything of it is downloaded or extracted.
    let weak: Vec<String> = graph
        .packages
        .values()
        .filter(|p| p.integrity.as_ref().is_none_or(|i| i.is_weak()))
        .map(|p| {
            let how = if p.integrity.is_some() {
                "sha1 only"
            } else {
                "no integrity"
            };
            format!("{} ({how})", p.key())
        })
        .collect();
    if !weak.is_empty() {
        super::events::on_warn(
            config.sandboxpm.on_warn,
            &format!(
                "{} package(s) cannot be verified with SHA-512 by their registry metadata: {}",
                weak.len(),
                weak.join(", ")
            ),
            options.silent || options.json,
        )?;
    }

    // Fetch what the store lacks and was not fetched during the walk, verifying each tarball
    // before a single entry is extracted. A prefetch that failed fails here, for a package the
    // graph kept.
    let total = graph.packages.len();
    let mut fetched: Vec<Fetched> = Vec::with_capacity(total);
    let mut missing = Vec::new();
    for (key, package) in &graph.packages {
        match prefetched.remove(key) {
            Some(result) => fetched.push(result?),
            None => missing.push(package),
        }
    }
    let done = AtomicUsize::new(fetched.len());
    let late: Vec<Fetched> = stream::iter(missing)
        .map(|package| {
            let (store, done) = (Arc::clone(&store), &done);
            async move {
                let result = fetch(client, &store, package, fetching, !lock_decides).await;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if out.live {
                    draw_progress("fetching", n, Some(total));
                }
                result
            }
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    fetched.extend(late);
    // Every archive is extracted: the buffers kept for the next ones are not needed.
    sandboxpm_store::free_spare_buffers();
    let mut contents: BTreeMap<String, PackageContents> = BTreeMap::new();
    let mut file_lists: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let downloaded = fetched.iter().filter(|f| f.downloaded).count();
    for Fetched {
        key,
        contents: c,
        files,
        ..
    } in fetched
    {
        // A `binding.gyp` means npm's implicit `node-gyp rebuild`, whatever the metadata said:
        // the package gets a private copy (its build must never write into the store), the
        // lockfile records it, and its script is a candidate like any other.
        if files.contains("binding.gyp")
            && let Some(package) = graph.packages.get_mut(&key)
        {
            package.has_install_script = true;
        }
        contents.insert(key.clone(), c);
        file_lists.insert(key, files);
    }

    // Link.
    out.progress("linking");
    let plan = link_plan(project, &graph, &mut contents, options, &mut warnings)?;
    let link_store = Arc::clone(&store);
    let link_options = LinkOptions {
        shared: config.sandboxpm.share_packages,
        ..LinkOptions::default()
    };
    let linking = tokio::task::spawn_blocking(move || {
        sandboxpm_linker::link(&link_store, &plan, &link_options)
    });
    // The lockfile, only when its text changes: written and synced while the links are made
    // (the sync is most of its cost), and put in place once they are.
    let new_lockfile = (!options.frozen_lockfile)
        .then(|| graph.to_lockfile(&registry))
        .filter(|new| lockfile.is_none_or(|old| old.to_text() != new.to_text()));
    let lock_path = project.join(LOCKFILE_NAME);
    let preparing =
        new_lockfile.map(|new| tokio::task::spawn_blocking(move || new.prepare_write(&lock_path)));
    let report = linking.await??;
    if let Some(preparing) = preparing {
        preparing.await??.commit()?;
    }
    warnings.extend(report.warnings.iter().map(ToString::to_string));
    out.clear();

    let candidates = script_candidates(&graph, &file_lists);
    let scripts_not_run = candidates.iter().map(|c| c.key.clone()).collect();
    let summary = Summary {
        added: report.linked.clone(),
        removed: report.removed.clone(),
        unchanged: report.unchanged,
        downloaded,
        reused_from_store: total - downloaded,
        scripts_not_run,
        scripts_ran: Vec::new(),
        scripts_refused: Vec::new(),
        scripts_blacklisted: Vec::new(),
        up_to_date: false,
        scripts_ignored: options.ignore_scripts,
        warnings,
        seconds: 0.0,
    };
    Ok((summary, candidates))
}

/// Packages that may have install scripts: the registry's `hasInstallScript` (which covers an
/// implicit `binding.gyp` build), or a `binding.gyp` seen while extracting.
fn script_candidates(
    graph: &Graph,
    file_lists: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<super::scripts::Candidate> {
    graph
        .packages
        .values()
        .filter(|p| {
            p.has_install_script
                || file_lists
                    .get(&p.key())
                    .is_some_and(|f| f.contains("binding.gyp"))
        })
        .map(|p| super::scripts::Candidate {
            key: p.key(),
            name: p.name.clone(),
            version: p.version.to_string(),
            optional: p.optional,
            dependencies: p
                .edges()
                .into_iter()
                .map(|(_, target, _)| target.to_string())
                .collect(),
        })
        .collect()
}

/// Tarball downloads in flight at once.
const FETCH_CONCURRENCY: usize = 32;

/// One package's store contents.
struct Fetched {
    key: String,
    contents: PackageContents,
    /// Its files, when its index was read (for `binding.gyp`).
    files: BTreeSet<String>,
    /// Downloaded now, rather than found in the store.
    downloaded: bool,
}

/// What the fetches of one install share.
struct Fetching {
    /// Extraction is CPU work (inflate, hashing, file creation): more of it at once than two per
    /// core only holds more tarballs in memory.
    extracting: tokio::sync::Semaphore,
    /// The resolution failed: prefetches not yet started are skipped.
    stop: AtomicBool,
}

impl Fetching {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Fetching {
            extracting: tokio::sync::Semaphore::new(cores * 2),
            stop: AtomicBool::new(false),
        }
    }
}

/// The store contents of one package: reused when the store has its index, else downloaded,
/// verified and added.
async fn fetch(
    client: &LazyClient,
    store: &Arc<Store>,
    package: &ResolvedPackage,
    fetching: &Fetching,
    look_for_gyp: bool,
) -> anyhow::Result<Fetched> {
    let key = package.key();
    let sha512 = package.integrity.as_ref().and_then(|i| i.sha512());
    // An index exists only once all its blobs do (the store writes it last); the linker reads
    // it only for packages it has to (re)link.
    if let Some(digest) = sha512
        && store.index_path(&digest).is_file()
    {
        // Without a lockfile that already says whether it builds, a stored package's index is
        // read for a `binding.gyp` (an implicit install script the metadata may not announce),
        // and handed to the linker so that it is not read twice.
        if look_for_gyp
            && !package.has_install_script
            && let Some(index) = store
                .index(&digest)
                .with_context(|| format!("reading the store index of {key}"))?
        {
            let files = index.files.keys().cloned().collect();
            return Ok(Fetched {
                key,
                contents: PackageContents::Index(Arc::new(index)),
                files,
                downloaded: false,
            });
        }
        return Ok(Fetched {
            key,
            contents: PackageContents::Stored(Sha512Digest::from(digest)),
            files: BTreeSet::new(),
            downloaded: false,
        });
    }
    let bytes = client
        .get()?
        .tarball(&package.tarball)
        .await
        .with_context(|| format!("downloading {key}"))?;
    if sha512.is_none() {
        // What can be checked (sha1) is, before extraction; the user accepted the rest.
        let mut verifier = Verifier::new(package.integrity.as_ref());
        verifier.update(&bytes);
        verifier
            .finish()
            .with_context(|| format!("{key}: the tarball does not match its integrity"))?;
    }
    let adding = Arc::clone(store);
    let _slot = fetching.extracting.acquire().await?;
    let index = tokio::task::spawn_blocking(move || match sha512 {
        Some(digest) => adding.add_tarball(&bytes, &digest, &ExtractLimits::default()),
        None => adding.add_tarball_without_integrity(&bytes, &ExtractLimits::default()),
    })
    .await?
    .with_context(|| format!("adding {key} to the store"))?;
    let files = index.files.keys().cloned().collect();
    Ok(Fetched {
        key,
        contents: PackageContents::Index(Arc::new(index)),
        files,
        downloaded: true,
    })
}

fn link_plan(
    project: &Path,
    graph: &Graph,
    contents: &mut BTreeMap<String, PackageContents>,
    options: &InstallOptions,
    warnings: &mut Vec<String>,
) -> anyhow::Result<LinkPlan> {
    let mut packages = Vec::with_capacity(graph.packages.len());
    for (key, package) in &graph.packages {
        let Some(c) = contents.remove(key) else {
            bail!("{key} was resolved but not fetched");
        };
        let mut planned = PlannedPackage::new(&package.name, &package.version.to_string(), c);
        planned.key = key.clone();
        // A package whose install script may run gets its own copy of its files, never hard
        // links into the store that other projects share.
        if package.has_install_script && !options.ignore_scripts {
            planned = planned.with_private_copy(true);
        }
        for (edge, target, _) in package.edges() {
            if graph.packages.contains_key(target) {
                planned = planned.with_dependency(edge, target);
            }
        }
        for (command, path) in &package.bin {
            match normalize_manifest_path(path) {
                Ok(path) => planned = planned.with_bin(command, path.as_str()),
                Err(e) => warnings.push(format!("{key}: bin `{command}` ignored: {e}")),
            }
        }
        packages.push(planned);
    }
    let direct = graph
        .direct_dependencies()
        .into_iter()
        .filter(|d| !(options.production && d.section == DependencySection::DevDependencies))
        .filter(|d| graph.packages.contains_key(&d.package))
        .map(|d| (d.name, d.package))
        .collect();
    Ok(LinkPlan {
        root: project.to_path_buf(),
        packages,
        direct,
    })
}

/// The registry client, created on first use.
struct LazyClient {
    options: ClientOptions,
    client: std::sync::OnceLock<Result<RegistryClient, String>>,
    /// Packuments received, for the progress line (drawn only when `live`).
    received: AtomicUsize,
    live: bool,
}

impl LazyClient {
    fn get(&self) -> anyhow::Result<&RegistryClient> {
        self.client
            .get_or_init(|| RegistryClient::new(self.options.clone()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("creating the registry client: {e}"))
    }

    /// Frees the packuments of a finished resolution (if the client was ever built).
    fn forget_packuments(&self) {
        if let Some(Ok(client)) = self.client.get() {
            client.forget_packuments();
        }
    }
}

impl sandboxpm_resolver::PackumentSource for LazyClient {
    type Error = sandboxpm_registry::Error;

    async fn packument(
        &self,
        name: &str,
    ) -> Result<Arc<sandboxpm_registry::Packument>, Self::Error> {
        let client = self
            .client
            .get_or_init(|| RegistryClient::new(self.options.clone()).map_err(|e| e.to_string()));
        if self.live {
            let n = self.received.fetch_add(1, Ordering::Relaxed) + 1;
            draw_progress("resolving", n, None);
        }
        match client {
            Ok(client) => client.packument(name).await,
            // Build it again to return the typed error.
            Err(_) => {
                RegistryClient::new(self.options.clone())?
                    .packument(name)
                    .await
            }
        }
    }
}

pub(crate) fn client_options(
    config: &Config,
    options: &InstallOptions,
) -> anyhow::Result<ClientOptions> {
    let settings = &config.settings;
    let parse = |u: &str| url::Url::parse(u).with_context(|| format!("invalid registry URL `{u}`"));
    let mut client = ClientOptions::new(parse(settings.registry())?);
    let mut urls = vec![settings.registry().to_string()];
    for (scope, url) in settings.scoped_registries() {
        client.scopes.insert(scope.clone(), parse(url)?);
        urls.push(url.clone());
    }
    for url in urls {
        let auth = settings.auth_for(&url).map(|a| match &a.credential {
            Credential::Bearer(token) => Ok(Auth::Bearer(token.clone())),
            Credential::Basic(encoded) => basic(encoded),
        });
        client.registries.push(Registry {
            url: parse(&url)?,
            auth: auth.transpose()?,
        });
    }
    client.cache_dir = Some(config.paths.cache_dir.clone());
    client.network_mode = if options.offline {
        NetworkMode::Offline
    } else if options.prefer_offline {
        NetworkMode::PreferOffline
    } else {
        NetworkMode::Online
    };
    client.proxy = settings.proxy().map(parse).transpose()?;
    client.https_proxy = settings.https_proxy().map(parse).transpose()?;
    client.no_proxy = settings.noproxy().to_vec();
    client.cafile = settings.cafile().map(Path::to_path_buf);
    client.strict_ssl = settings.strict_ssl();
    Ok(client)
}

fn basic(encoded: &str) -> anyhow::Result<Auth> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("the registry's `_auth` is not valid base64")?;
    let text = String::from_utf8(decoded).context("the registry's `_auth` is not UTF-8")?;
    let (username, password) = text
        .split_once(':')
        .context("the registry's `_auth` has no `user:password`")?;
    Ok(Auth::Basic {
        username: username.to_string(),
        password: password.to_string(),
    })
}

/// npm's registry when no `.npmrc` names one, as the configuration's fallback finds it, cached
/// under `$SANDBOXPM_HOME/cache` and keyed by the npm executable and its modification time: an
/// up-to-date install reads one small file instead (finding it may start node, hundreds of
/// milliseconds).
pub(crate) fn cached_npm_registry() -> Option<String> {
    let npm = sandboxpm_sandbox::doctor::which("npm")?;
    let npm = std::fs::canonicalize(npm).ok()?;
    let mtime = std::fs::metadata(&npm).ok()?.modified().ok()?;
    let stamp = mtime.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let home = std::env::var_os("SANDBOXPM_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".sandboxpm")))?;
    let cache = home.join("cache").join("npm-registry.json");
    let key = format!("{}\n{stamp}", npm.display());
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some((cached_key, registry)) = text.rsplit_once('\n')
        && cached_key == key
        && registry.starts_with("http")
    {
        return Some(registry.to_string());
    }
    let registry = sandboxpm_config::ask_npm_registry(
        &npm,
        sandboxpm_config::NPM_TIMEOUT,
        &sandboxpm_config::Environment::from_process(),
    )
    .ok()?;
    // Best effort, written atomically: a torn cache file would only cost another npm call.
    let _ = std::fs::create_dir_all(cache.parent()?);
    let tmp = cache.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, format!("{key}\n{registry}")).is_ok() {
        let _ = std::fs::rename(&tmp, &cache);
    }
    Some(registry)
}

fn node_version() -> Option<Version> {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Version::parse(text.trim().trim_start_matches('v')).ok()
}

fn print_summary(s: &Summary) {
    for warning in &s.warnings {
        eprintln!("warning: {warning}");
    }
    if !s.scripts_ran.is_empty() {
        println!(
            "ran the install scripts of {} package(s), each in its own sandbox:",
            s.scripts_ran.len()
        );
        for key in &s.scripts_ran {
            println!("  {key}");
        }
    }
    if !s.scripts_not_run.is_empty() {
        let why = if s.scripts_ignored {
            "--ignore-scripts"
        } else {
            "no consent given yet"
        };
        println!(
            "{} package(s) have install scripts, which were not run ({why}):",
            s.scripts_not_run.len()
        );
        for key in &s.scripts_not_run {
            println!("  {key}  (scripts not run)");
        }
    }
    println!(
        "+ {} added, - {} removed, {} unchanged ({} downloaded, {} from the store) in {:.2}s",
        s.added.len(),
        s.removed.len(),
        s.unchanged,
        s.downloaded,
        s.reused_from_store,
        s.seconds
    );
}

fn out_sink(options: &InstallOptions) -> super::scripts::Say {
    super::scripts::Say {
        quiet: options.silent || options.json,
    }
}

/// Progress on one terminal line, only when stderr is a terminal and output is wanted.
struct Output {
    live: bool,
    quiet: bool,
}

impl Output {
    fn new(options: &InstallOptions) -> Output {
        let quiet = options.silent || options.json;
        Output {
            live: !quiet && std::io::stderr().is_terminal(),
            quiet,
        }
    }
    fn progress(&self, what: &str) {
        // (phases without a count)
        if self.live {
            eprint!("\r\x1b[2K{what}");
        }
    }
    fn clear(&self) {
        if self.live {
            eprint!("\r\x1b[2K");
        }
    }
    fn warn(&self, what: &str) {
        if !self.quiet {
            eprintln!("warning: {what}");
        }
    }
}

/// One progress line on stderr: `fetching [#######.............]  523/1341`, or a running count
/// when the total is not known yet (resolution discovers packages as it goes).
fn draw_progress(phase: &str, done: usize, total: Option<usize>) {
    // Redrawing costs a write per update; a few hundred per second is plenty.
    if total.is_some_and(|t| done != t && !done.is_multiple_of(8)) {
        return;
    }
    eprint!("\r\x1b[2K{}", progress_line(phase, done, total));
}

fn progress_line(phase: &str, done: usize, total: Option<usize>) -> String {
    const WIDTH: usize = 30;
    match total {
        Some(total) if total > 0 => {
            let filled = (done.min(total) * WIDTH) / total;
            format!(
                "{phase:<9} [{}{}] {done}/{total}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled)
            )
        }
        _ => format!("{phase:<9} {done} packages"),
    }
}

#[cfg(test)]
mod tests {
    use super::progress_line;

    #[test]
    fn progress_lines() {
        assert_eq!(
            progress_line("fetching", 15, Some(30)),
            format!("fetching  [{}{}] 15/30", "#".repeat(15), ".".repeat(15))
        );
        assert_eq!(
            progress_line("fetching", 30, Some(30)),
            format!("fetching  [{}] 30/30", "#".repeat(30))
        );
        assert_eq!(progress_line("resolving", 7, None), "resolving 7 packages");
    }
}
