//! The fast-path cache pattern for real: a `dyn ConfigSource` whose
//! values live in a SQLite database, behind an in-memory cache.
//!
//! - A **hit** returns [`ValueTask::ready`]. The cache stores values as `Arc<str>`, so a
//!   hit hands out a clone of the `Arc`: no allocation at all, where an `async-trait` or
//!   `Pin<Box<dyn Future>>` method would box a future on every call.
//! - A **miss** rents a slot from a [`SourcePool`] and ships its [`Completer`] to a
//!   dedicated database thread, which owns the `rusqlite::Connection` (it is `Send` but
//!   not `Sync`), runs the query off the async threads, fills the cache and completes the
//!   task. Absent keys are cached too, so asking again does not query again.
//!
//! The database is a file in the system's temporary directory
//! (`valuetask_config_cache.db`): the first run creates and seeds it, later runs reuse it.
//!
//! The example counts every allocation of the process with a counting global allocator,
//! measures 100,000 hits, prints allocations per hit, and exits with an error unless hits
//! allocate nothing. For contrast it measures the same hits through a wrapper that boxes
//! the call the way `async-trait` does ([`ValueTask::boxed`], a fresh `Box` per call, not
//! [`ValueTask::from_future`], whose recycled blocks would allocate nothing either), and
//! exits with an error unless that costs exactly one allocation per hit: the contrast
//! cannot silently vanish.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example config_cache
//! ```

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::hint::black_box;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};
use tokio::runtime::{Builder, Runtime};
use valuetask::{Abandoned, Completer, SourcePool, ValueTask};

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{CountingAlloc, allocations_so_far as allocations, counted};

/// Counts every allocation of the process, on every thread, while `main`'s window is
/// open (the whole run, once the runtime's workers have started).
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// The rows a fresh database is seeded with.
const SEED: &[(&str, &str)] = &[
    ("http.port", "8080"),
    ("http.host", "0.0.0.0"),
    ("db.pool_size", "32"),
    ("db.timeout_ms", "2500"),
    ("feature.new_ui", "true"),
    ("log.level", "info"),
];

/// Keys the example looks up: all seeded keys but one, and two that are not there.
const LOOKUPS: &[&str] = &[
    "http.port",
    "http.host",
    "db.pool_size",
    "db.timeout_ms",
    "feature.new_ui",
    "cache.ttl_s",
    "feature.beta",
];

const HITS: usize = 100_000;

/// What a config lookup can fail with.
#[derive(Debug)]
enum ConfigError {
    /// The database could not answer.
    Db(rusqlite::Error),
    /// The database thread went away without answering.
    Abandoned(Abandoned),
}

impl From<Abandoned> for ConfigError {
    fn from(abandoned: Abandoned) -> Self {
        Self::Abandoned(abandoned)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Db(e) => write!(f, "config database error: {e}"),
            Self::Abandoned(e) => write!(f, "config lookup abandoned: {e}"),
        }
    }
}

impl Error for ConfigError {}

type Lookup = Result<Option<Arc<str>>, ConfigError>;

/// A configuration service used as a trait object: the `GetConfigValueAsync` of the .NET pattern.
///
/// `Ok(None)` means the key is not configured.
trait ConfigSource: Send + Sync {
    fn get(&self, key: &str) -> ValueTask<'_, Lookup>;
}

/// Counters of what the cache did.
#[derive(Default)]
struct Counters {
    /// Answered from memory, present or known to be absent.
    hits: AtomicU64,
    /// Sent to the database thread.
    misses: AtomicU64,
    /// Queries the database thread actually ran (a queued miss for a key an earlier
    /// query just cached is answered from the cache).
    queries: AtomicU64,
    /// Queries that found no such key.
    not_found: AtomicU64,
}

/// Keys to values; `None` records that the database has no such key.
type Cache = RwLock<HashMap<Box<str>, Option<Arc<str>>>>;

/// A miss on its way to the database thread.
struct Request {
    key: String,
    completer: Completer<Option<Arc<str>>, ConfigError>,
}

/// Misses waiting for the database thread.
///
/// A `Mutex` and a `Condvar` rather than a std channel: a thread's first blocking `recv`
/// on a std channel allocates, and the database thread first waits whenever it runs out
/// of work, which may be in the middle of the measured hits.
#[derive(Default)]
struct Inbox {
    queue: Mutex<Queue>,
    arrived: Condvar,
}

#[derive(Default)]
struct Queue {
    requests: VecDeque<Request>,
    closed: bool,
}

impl Inbox {
    /// Queues a miss; if the database thread is stopping, the request is dropped with
    /// its completer, which resolves the task to `Err(ConfigError::Abandoned)`.
    fn send(&self, request: Request) {
        let mut queue = self.queue.lock().expect("inbox lock");
        if !queue.closed {
            queue.requests.push_back(request);
            self.arrived.notify_one();
        }
    }

    /// The next miss, or `None` once the inbox is closed and drained.
    fn recv(&self) -> Option<Request> {
        let mut queue = self.queue.lock().expect("inbox lock");
        loop {
            if let Some(request) = queue.requests.pop_front() {
                return Some(request);
            }
            if queue.closed {
                return None;
            }
            queue = self.arrived.wait(queue).expect("inbox lock");
        }
    }

    fn close(&self) {
        self.queue.lock().expect("inbox lock").closed = true;
        self.arrived.notify_one();
    }
}

/// The SQLite-backed config service with its fast-path cache.
struct CachedConfig {
    cache: Arc<Cache>,
    counters: Arc<Counters>,
    pool: SourcePool<Option<Arc<str>>, ConfigError>,
    requests: Arc<Inbox>,
}

impl CachedConfig {
    /// Starts the database thread on the file at `path`.
    fn open(path: &Path) -> Result<(Self, JoinHandle<()>), rusqlite::Error> {
        let connection = Connection::open(path)?;
        let cache = Arc::new(Cache::default());
        let counters = Arc::new(Counters::default());
        let requests = Arc::new(Inbox::default());
        let db = thread::Builder::new()
            .name("config-db".into())
            .spawn({
                let cache = Arc::clone(&cache);
                let counters = Arc::clone(&counters);
                let inbox = Arc::clone(&requests);
                move || serve(&connection, &cache, &counters, &inbox)
            })
            .expect("spawn the database thread");
        let config = Self {
            cache,
            counters,
            pool: SourcePool::with_capacity(16),
            requests,
        };
        Ok((config, db))
    }
}

impl ConfigSource for CachedConfig {
    fn get(&self, key: &str) -> ValueTask<'_, Lookup> {
        // The fast path: no allocation, no boxed future.
        if let Some(value) = self.cache.read().expect("cache lock").get(key) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return ValueTask::ready(Ok(value.clone()));
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let (task, completer) = self.pool.rent();
        let request = Request {
            key: key.to_owned(),
            completer,
        };
        self.requests.send(request);
        task
    }
}

impl Drop for CachedConfig {
    fn drop(&mut self) {
        self.requests.close();
    }
}

/// The database thread: answers misses until the service is dropped.
fn serve(connection: &Connection, cache: &Cache, counters: &Counters, inbox: &Inbox) {
    while let Some(Request { key, completer }) = inbox.recv() {
        if completer.is_cancelled() {
            continue; // nobody waits for this answer
        }
        if let Some(value) = cache.read().expect("cache lock").get(key.as_str()) {
            let _ = completer.succeed(value.clone());
            continue;
        }
        counters.queries.fetch_add(1, Ordering::Relaxed);
        let row = connection
            .prepare_cached("SELECT value FROM config WHERE key = ?1")
            .and_then(|mut query| {
                query
                    .query_row([&key], |row| row.get::<_, String>(0))
                    .optional()
            });
        match row {
            Ok(value) => {
                let value: Option<Arc<str>> = value.map(Arc::from);
                if value.is_none() {
                    counters.not_found.fetch_add(1, Ordering::Relaxed);
                }
                cache
                    .write()
                    .expect("cache lock")
                    .insert(key.into_boxed_str(), value.clone());
                let _ = completer.succeed(value);
            }
            Err(e) => {
                let _ = completer.fail(ConfigError::Db(e));
            }
        }
    }
}

/// The same service behind a boxed future on every call, as `async-trait` compiles it:
/// the cost Pattern A removes. `ValueTask::boxed` is a plain `Pin<Box<dyn Future>>`;
/// `ValueTask::from_future` would recycle its storage and hide the cost.
struct BoxedConfig<'a>(&'a dyn ConfigSource);

impl ConfigSource for BoxedConfig<'_> {
    fn get(&self, key: &str) -> ValueTask<'_, Lookup> {
        ValueTask::boxed(self.0.get(key))
    }
}

/// Creates the table and seeds it when the file is new; returns how many keys it holds
/// and whether this run seeded them.
fn prepare_database(path: &Path) -> Result<(i64, bool), rusqlite::Error> {
    let mut connection = Connection::open(path)?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )?;
    let rows: i64 = connection.query_row("SELECT COUNT(*) FROM config", [], |row| row.get(0))?;
    if rows > 0 {
        return Ok((rows, false));
    }
    let seed = connection.transaction()?;
    for (key, value) in SEED {
        seed.execute(
            "INSERT OR IGNORE INTO config (key, value) VALUES (?1, ?2)",
            [key, value],
        )?;
    }
    seed.commit()?;
    let rows = connection.query_row("SELECT COUNT(*) FROM config", [], |row| row.get(0))?;
    Ok((rows, true))
}

/// Awaits `HITS` lookups of cached keys; returns the allocations they made.
async fn measure_hits(config: &dyn ConfigSource) -> Result<usize, ConfigError> {
    let before = allocations();
    for i in 0..HITS {
        let value = config.get(LOOKUPS[i % LOOKUPS.len()]).await?;
        black_box(value);
    }
    Ok(allocations() - before)
}

fn db_path() -> PathBuf {
    std::env::temp_dir().join("valuetask_config_cache.db")
}

/// Runtime worker threads that have gone idle at least once.
static WORKERS_IDLE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WAS_IDLE: Cell<bool> = const { Cell::new(false) };
}

/// A multi-thread runtime whose workers have all started and gone idle once. A thread's
/// start-up allocates, and on a busy machine a worker can start late, in the middle of a
/// measurement; waiting for each worker's first park keeps that out of the count.
fn runtime() -> io::Result<Runtime> {
    let workers = thread::available_parallelism().map_or(2, NonZeroUsize::get);
    let runtime = Builder::new_multi_thread()
        .worker_threads(workers)
        .on_thread_park(|| {
            if !WAS_IDLE.replace(true) {
                WORKERS_IDLE.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()?;
    while WORKERS_IDLE.load(Ordering::SeqCst) < workers {
        thread::sleep(Duration::from_micros(100));
    }
    Ok(runtime)
}

fn main() -> Result<(), Box<dyn Error>> {
    let runtime = runtime()?;
    counted(|| runtime.block_on(run())).1
}

async fn run() -> Result<(), Box<dyn Error>> {
    let path = db_path();
    let (rows, seeded) = prepare_database(&path)?;
    if seeded {
        println!(
            "database: created {} and seeded {rows} keys",
            path.display()
        );
    } else {
        println!("database: reusing {} ({rows} keys)", path.display());
    }

    let (service, db_thread) = CachedConfig::open(&path)?;
    let config: &dyn ConfigSource = &service;

    println!("\ncold: every key is a miss, all looked up at once");
    let cold = futures::future::join_all(LOOKUPS.iter().map(|&key| config.get(key))).await;
    for (key, value) in LOOKUPS.iter().zip(cold) {
        match value? {
            Some(value) => println!("  {key:<16} = {value}"),
            None => println!("  {key:<16}   (not configured)"),
        }
    }

    println!("\nwarm: every key is a hit, answered without waiting");
    for &key in LOOKUPS {
        let task = config.get(key);
        if !task.is_ready() {
            return Err(format!("{key} was not answered from the cache").into());
        }
        let value = task.await?;
        println!(
            "  {key:<16} -> {}",
            value.as_deref().unwrap_or("(not configured)")
        );
    }

    let hits_before = service.counters.hits.load(Ordering::Relaxed);
    let fast = measure_hits(config).await?;
    let hits_measured = service.counters.hits.load(Ordering::Relaxed) - hits_before;
    let boxed = measure_hits(&BoxedConfig(config)).await?;

    let counters = &service.counters;
    println!("\nwhat the cache did:");
    println!(
        "  hits                {} ({} warm, {HITS} measured, {HITS} through the boxed wrapper)",
        counters.hits.load(Ordering::Relaxed),
        LOOKUPS.len()
    );
    println!(
        "  misses              {}",
        counters.misses.load(Ordering::Relaxed)
    );
    println!(
        "  database queries    {}",
        counters.queries.load(Ordering::Relaxed)
    );
    println!(
        "  keys not found      {}",
        counters.not_found.load(Ordering::Relaxed)
    );
    let slots = service.pool.stats();
    println!(
        "  miss slots          capacity {}, in use {}, available {}, chunks {}",
        slots.capacity, slots.in_use, slots.available, slots.chunks
    );

    println!("\nallocations over {HITS} hits (counted process-wide):");
    println!(
        "  ValueTask::ready                 {fast:>7} total, {:.2} per hit",
        fast as f64 / HITS as f64
    );
    println!(
        "  boxed future (async-trait style) {boxed:>7} total, {:.2} per hit",
        boxed as f64 / HITS as f64
    );

    drop(service);
    db_thread.join().expect("database thread panicked");

    if hits_measured != HITS as u64 {
        return Err(format!("expected {HITS} hits, the cache counted {hits_measured}").into());
    }
    if fast != 0 {
        return Err(format!("cache hits allocated {fast} times, expected 0").into());
    }
    if boxed != HITS {
        return Err(format!(
            "{HITS} hits through the boxed wrapper allocated {boxed} times, expected one \
             per hit: the comparison no longer measures a boxed future"
        )
        .into());
    }
    println!("\nok: {HITS} hits allocated nothing; boxed, they allocated once each");
    Ok(())
}
