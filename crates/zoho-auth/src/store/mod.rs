//! Sharing one token across replicas.
//!
//! A [`TokenStore`] holds the fleet's shared record (token, generation, expiry), a lease lock so
//! only one replica refreshes at a time, the fleet-wide refresh budget, and a change signal.
//! Without a store the manager keeps its token in memory only (one replica). With one, every
//! replica's manager still caches the token locally (reads stay lock-free); the store is consulted
//! only when a refresh is due: adopt a newer shared token if there is one, else take the lock,
//! refresh, and publish with compare-and-set on the generation.
//!
//! [`InMemoryStore`] shares a token between managers of one process (tests, embedding several
//! clients); `RedisStore` (feature `redis`) shares it across processes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::secret::AccessToken;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{EncryptionKeys, InvalidKey, RedisStore};

/// A boxed future, so [`TokenStore`] stays object-safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The fleet's shared token.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedRecord {
    /// Increases by one with every refresh anywhere in the fleet.
    pub generation: u64,
    /// The token.
    pub access_token: AccessToken,
    /// Absolute expiry, unix milliseconds.
    pub expires_at_ms: u64,
    /// When it was obtained, unix milliseconds.
    pub obtained_at_ms: u64,
}

impl std::fmt::Debug for SharedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRecord")
            .field("generation", &self.generation)
            .field("access_token", &self.access_token)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("obtained_at_ms", &self.obtained_at_ms)
            .finish()
    }
}

/// What the store holds: the latest generation ever published (it never goes back, so replicas
/// can tell newer from older), and the token of that generation unless it was invalidated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// 0 when nothing was ever published.
    pub generation: u64,
    /// `None` when nothing was published or the latest token was invalidated after a 401.
    pub record: Option<SharedRecord>,
}

/// The store could not be used (unreachable, timed out, a record it cannot decrypt…). The
/// manager then refreshes locally and reports the degraded mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token store unavailable: {0}")]
pub struct StoreError(pub String);

/// Where a fleet of managers shares its token. See the module docs.
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// The shared generation and token.
    fn load(&self) -> StoreFuture<'_, Snapshot>;
    /// Takes the refresh lock for `lease` if nobody holds it.
    fn try_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool>;
    /// Extends the lease if `owner` still holds it; `false` means it was lost.
    fn renew_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool>;
    /// Releases the lock if `owner` holds it.
    fn unlock<'a>(&'a self, owner: &'a str) -> StoreFuture<'a, ()>;
    /// Writes `record` only if `owner` still holds the lock and the stored generation is
    /// `expected`, then signals the change. `false`: not written.
    fn publish<'a>(
        &'a self,
        record: &'a SharedRecord,
        expected: u64,
        owner: &'a str,
    ) -> StoreFuture<'a, bool>;
    /// Drops the shared token only if it is still `generation` (a 401 on that token); the
    /// generation itself stays, so the next publish is `generation + 1`.
    fn invalidate(&self, generation: u64) -> StoreFuture<'_, bool>;
    /// Counts one refresh against the fleet budget of `limit` per `window`, or says how long until
    /// a slot frees. `now_ms` is the caller's unix clock.
    fn acquire_budget(
        &self,
        now_ms: u64,
        limit: usize,
        window: Duration,
    ) -> StoreFuture<'_, Option<Duration>>;
    /// The latest generation announced by any replica (best effort; callers also poll).
    fn changes(&self) -> watch::Receiver<u64>;
}

/// Unix time in milliseconds on tokio's clock, so that tests with a paused clock see shared
/// records age with the rest of the process. In production tokio's clock is the monotonic clock
/// anchored once to the system clock.
pub fn unix_now_ms() -> u64 {
    static ANCHOR: OnceLock<(SystemTime, Instant)> = OnceLock::new();
    let (system, instant) = *ANCHOR.get_or_init(|| (SystemTime::now(), Instant::now()));
    let now = system + Instant::now().saturating_duration_since(instant);
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Default)]
struct MemoryState {
    snapshot: Snapshot,
    lock: Option<(String, Instant)>,
    attempts: Vec<u64>,
}

/// A [`TokenStore`] in process memory: several managers in one process behave as one client.
#[derive(Debug)]
pub struct InMemoryStore {
    state: Mutex<MemoryState>,
    changes: watch::Sender<u64>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        InMemoryStore {
            state: Mutex::default(),
            changes: watch::channel(0).0,
        }
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryState) -> T) -> Result<T, StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError("poisoned".into()))?;
        Ok(f(&mut state))
    }
}

fn ready<'a, T: Send + 'a>(value: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl TokenStore for InMemoryStore {
    fn load(&self) -> StoreFuture<'_, Snapshot> {
        ready(self.with(|s| s.snapshot.clone()))
    }

    fn try_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool> {
        ready(self.with(|s| {
            let now = Instant::now();
            let free = s.lock.as_ref().is_none_or(|(_, until)| *until <= now);
            if free {
                s.lock = Some((owner.to_owned(), now + lease));
            }
            free
        }))
    }

    fn renew_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool> {
        ready(self.with(|s| match &mut s.lock {
            Some((holder, until)) if holder == owner && *until > Instant::now() => {
                *until = Instant::now() + lease;
                true
            }
            _ => false,
        }))
    }

    fn unlock<'a>(&'a self, owner: &'a str) -> StoreFuture<'a, ()> {
        ready(self.with(|s| {
            if s.lock.as_ref().is_some_and(|(holder, _)| holder == owner) {
                s.lock = None;
            }
        }))
    }

    fn publish<'a>(
        &'a self,
        record: &'a SharedRecord,
        expected: u64,
        owner: &'a str,
    ) -> StoreFuture<'a, bool> {
        let written = self.with(|s| {
            let holds = s
                .lock
                .as_ref()
                .is_some_and(|(holder, until)| holder == owner && *until > Instant::now());
            let ok = holds && s.snapshot.generation == expected;
            if ok {
                s.snapshot = Snapshot {
                    generation: record.generation,
                    record: Some(record.clone()),
                };
            }
            ok
        });
        if written == Ok(true) {
            self.changes.send_replace(record.generation);
        }
        ready(written)
    }

    fn invalidate(&self, generation: u64) -> StoreFuture<'_, bool> {
        ready(self.with(|s| {
            let matches = s
                .snapshot
                .record
                .as_ref()
                .is_some_and(|r| r.generation == generation);
            if matches {
                s.snapshot.record = None;
            }
            matches
        }))
    }

    fn acquire_budget(
        &self,
        now_ms: u64,
        limit: usize,
        window: Duration,
    ) -> StoreFuture<'_, Option<Duration>> {
        ready(self.with(|s| {
            let window_ms = window.as_millis() as u64;
            s.attempts.retain(|t| now_ms.saturating_sub(*t) < window_ms);
            if s.attempts.len() >= limit {
                let oldest = s.attempts.iter().min().copied().unwrap_or(now_ms);
                Some(Duration::from_millis(
                    (oldest + window_ms).saturating_sub(now_ms).max(1),
                ))
            } else {
                s.attempts.push(now_ms);
                None
            }
        }))
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
