//! The fleet path of a refresh: adopt a fresher shared token, or take the lease lock, refresh,
//! and publish with compare-and-set. Store failures never stop token service: the manager falls
//! back to refreshing on its own (degraded mode) and rejoins when the store answers again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::error::RefreshError;
use crate::store::{SharedRecord, Snapshot, StoreError, TokenStore, unix_now_ms};
use crate::telemetry;
use crate::token_endpoint::Grant;

/// What a refresh produced.
pub(crate) enum Obtained {
    /// A token this manager obtained from Zoho; `generation` is the shared one when published.
    Minted {
        grant: Grant,
        generation: Option<u64>,
    },
    /// A fresher token another replica obtained.
    Adopted(SharedRecord),
}

/// What the fleet path needs to know about the refresh at hand.
pub(crate) struct Ask {
    /// Expiry of the token this manager holds, if any.
    pub(crate) local_expiry: Option<Instant>,
    /// A shared generation Zoho rejected (a 401), to invalidate first.
    pub(crate) rejected: Option<u64>,
    /// Set for forced refreshes: only a token obtained after this instant (unix ms) will do.
    pub(crate) forced_at_ms: Option<u64>,
    /// A token with less life than this is useless.
    pub(crate) skew: Duration,
    /// The fleet budget.
    pub(crate) budget: (usize, Duration),
}

/// The store and this replica's identity in it.
pub(crate) struct Fleet {
    store: Arc<dyn TokenStore>,
    owner: String,
    lease: Duration,
    wait_timeout: Duration,
    poll: Duration,
    /// Shared with the recovery probe, which holds it weakly so it ends with this replica.
    degraded: Arc<AtomicBool>,
}

/// While degraded, how often the store is probed, so the replica reports itself rejoined when
/// the store is back instead of at its next refresh (up to a token lifetime later).
const RECOVERY_PROBE_EVERY: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("store", &self.store)
            .field("owner", &self.owner)
            .finish()
    }
}

impl Fleet {
    pub(crate) fn new(store: Arc<dyn TokenStore>, request_timeout: Duration) -> Self {
        Fleet {
            store,
            owner: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            // The lease outlives one token request; it is renewed while the request runs.
            lease: request_timeout * 2,
            // Wait as long as a dead holder's lease can last: then the lock is free and this
            // replica takes over (a healthy holder publishes within one request timeout).
            wait_timeout: request_timeout * 2 + Duration::from_secs(1),
            poll: Duration::from_millis(250),
            degraded: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Gets a token for `ask`, calling `mint` (which calls Zoho) only when no replica has a
    /// fresher one and this replica holds the lock — or when the store is unavailable.
    pub(crate) async fn obtain<M, F>(&self, ask: Ask, mint: M) -> Result<Obtained, RefreshError>
    where
        M: FnOnce() -> F,
        F: Future<Output = Result<Grant, RefreshError>>,
    {
        let mut mint = Some(mint);
        match self.coordinate(&ask, &mut mint).await {
            Ok(result) => {
                self.store_answered();
                result
            }
            // The store failed before anything was minted: refresh alone, as one replica would.
            Err(error) => {
                self.store_failed(&error);
                match mint.take() {
                    Some(mint) => mint().await.map(|grant| Obtained::Minted {
                        grant,
                        generation: None,
                    }),
                    None => Err(RefreshError::Fleet("token store failed after minting")),
                }
            }
        }
    }

    async fn coordinate<M, F>(
        &self,
        ask: &Ask,
        mint: &mut Option<M>,
    ) -> Result<Result<Obtained, RefreshError>, StoreError>
    where
        M: FnOnce() -> F,
        F: Future<Output = Result<Grant, RefreshError>>,
    {
        if let Some(generation) = ask.rejected.filter(|g| *g > 0) {
            self.store.invalidate(generation).await?;
        }
        let mut changes = self.store.changes();
        let started = Instant::now();
        let mut contended = false;
        loop {
            let snapshot = self.store.load().await?;
            if let Some(record) = adoptable(&snapshot, ask) {
                if contended {
                    metrics::histogram!(telemetry::STORE_WAIT_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                }
                return Ok(Ok(Obtained::Adopted(record)));
            }
            if self.store.try_lock(&self.owner, self.lease).await? {
                metrics::counter!(telemetry::STORE_LOCK_TOTAL, "result" => "acquired").increment(1);
                let result = self.refresh_holding_lock(ask, mint).await;
                if let Err(error) = self.store.unlock(&self.owner).await {
                    // The lease expires by itself; nothing else to do.
                    warn!(message = "[Zoho Token] Could not release the refresh lock", error = %error);
                }
                return result;
            }
            if !contended {
                contended = true;
                metrics::counter!(telemetry::STORE_LOCK_TOTAL, "result" => "contended")
                    .increment(1);
                info!(
                    message = "[Zoho Token] Another replica is refreshing; waiting for its token"
                );
            }
            if started.elapsed() >= self.wait_timeout {
                metrics::histogram!(telemetry::STORE_WAIT_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                return Ok(Err(RefreshError::Fleet(
                    "another replica holds the refresh lock and published nothing in time",
                )));
            }
            // Pub/sub wakes us early; polling is the backstop.
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    async fn refresh_holding_lock<M, F>(
        &self,
        ask: &Ask,
        mint: &mut Option<M>,
    ) -> Result<Result<Obtained, RefreshError>, StoreError>
    where
        M: FnOnce() -> F,
        F: Future<Output = Result<Grant, RefreshError>>,
    {
        // Another replica may have published between our look and the lock.
        let snapshot = self.store.load().await?;
        if let Some(record) = adoptable(&snapshot, ask) {
            return Ok(Ok(Obtained::Adopted(record)));
        }
        let (limit, window) = ask.budget;
        if let Some(wait) = self
            .store
            .acquire_budget(unix_now_ms(), limit, window)
            .await?
        {
            warn!(
                message = "[Zoho Token] Fleet refresh budget spent; not calling Zoho",
                limit,
                retry_in_secs = wait.as_secs(),
            );
            return Ok(Err(RefreshError::BudgetExhausted { limit, window }));
        }
        let renewal = self.keep_lease();
        let Some(mint) = mint.take() else {
            return Ok(Err(RefreshError::Fleet("refresh attempted twice")));
        };
        let minted = mint().await;
        renewal.abort();
        let grant = match minted {
            Ok(grant) => grant,
            Err(error) => return Ok(Err(error)),
        };
        let now_ms = unix_now_ms();
        let record = SharedRecord {
            generation: snapshot.generation + 1,
            access_token: grant.access_token.clone(),
            expires_at_ms: now_ms + grant.expires_in.as_millis() as u64,
            obtained_at_ms: now_ms,
        };
        // From here on a store failure must not lose the token we hold: use it locally.
        match self
            .store
            .publish(&record, snapshot.generation, &self.owner)
            .await
        {
            Ok(true) => Ok(Ok(Obtained::Minted {
                grant,
                generation: Some(record.generation),
            })),
            Ok(false) => {
                metrics::counter!(telemetry::STORE_LOCK_LOST_TOTAL).increment(1);
                warn!(
                    message = "[Zoho Token] Refresh lock lost before publishing; keeping the token locally"
                );
                Ok(Ok(Obtained::Minted {
                    grant,
                    generation: None,
                }))
            }
            Err(error) => {
                self.store_failed(&error);
                Ok(Ok(Obtained::Minted {
                    grant,
                    generation: None,
                }))
            }
        }
    }

    /// Renews the lease every third of it until aborted.
    fn keep_lease(&self) -> tokio::task::JoinHandle<()> {
        let (store, owner, lease) = (self.store.clone(), self.owner.clone(), self.lease);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match store.renew_lock(&owner, lease).await {
                    Ok(true) => {}
                    _ => {
                        metrics::counter!(telemetry::STORE_LOCK_LOST_TOTAL).increment(1);
                        warn!(message = "[Zoho Token] Could not renew the refresh lock");
                        return;
                    }
                }
            }
        })
    }

    fn store_failed(&self, error: &StoreError) {
        metrics::counter!(telemetry::STORE_ERRORS_TOTAL).increment(1);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            metrics::gauge!(telemetry::STORE_DEGRADED).set(1.0);
            warn!(
                message = "[Zoho Token] Shared token store unavailable; refreshing locally",
                error = %error,
            );
            self.probe_until_recovered();
        }
    }

    fn store_answered(&self) {
        rejoined(&self.degraded);
    }

    /// Reads the store every [`RECOVERY_PROBE_EVERY`] until it answers (then the replica is no
    /// longer degraded) or this replica is gone. A read only: nothing is minted to rejoin.
    fn probe_until_recovered(&self) {
        let store = self.store.clone();
        let degraded = Arc::downgrade(&self.degraded);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RECOVERY_PROBE_EVERY).await;
                let Some(degraded) = degraded.upgrade() else {
                    return;
                };
                if !degraded.load(Ordering::Relaxed) {
                    return;
                }
                if store.load().await.is_ok() {
                    rejoined(&degraded);
                    return;
                }
            }
        });
    }
}

fn rejoined(degraded: &AtomicBool) {
    if degraded.swap(false, Ordering::Relaxed) {
        metrics::gauge!(telemetry::STORE_DEGRADED).set(0.0);
        info!(message = "[Zoho Token] Shared token store is back; rejoined the fleet");
    }
}

/// The shared token, when it is usable and better than what this replica holds.
fn adoptable(snapshot: &Snapshot, ask: &Ask) -> Option<SharedRecord> {
    let record = snapshot.record.as_ref()?;
    if ask.rejected == Some(record.generation) {
        return None;
    }
    let now_ms = unix_now_ms();
    let life = Duration::from_millis(record.expires_at_ms.saturating_sub(now_ms));
    if life <= ask.skew
        || ask
            .forced_at_ms
            .is_some_and(|forced| record.obtained_at_ms < forced)
    {
        return None;
    }
    // Fresher than ours by more than clock noise, or we hold nothing.
    let expires = Instant::now() + life;
    let fresher = ask
        .local_expiry
        .is_none_or(|local| expires > local + Duration::from_secs(1));
    fresher.then(|| record.clone())
}
