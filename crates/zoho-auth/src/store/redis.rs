//! The Redis token store: one shared, encrypted record per (client id, refresh token), a lease
//! lock, a fleet-wide budget and a change channel. Keys carry a `{hash tag}` so that all of them
//! land in one Redis Cluster slot and the Lua scripts stay single-slot.

use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{Aead, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use redis::{Client, Script};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, watch};

use super::{SharedRecord, Snapshot, StoreError, StoreFuture, TokenStore};
use crate::secret::{AccessToken, Credentials};

/// How long one Redis operation may take before the store counts as unavailable.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// AES-256-GCM keys for the shared record: the primary encrypts; either decrypts, so keys can be
/// rotated without a fleet-wide outage (deploy with the new key as primary and the old one as
/// previous, then drop the previous once every record was rewritten).
#[derive(Clone)]
pub struct EncryptionKeys {
    primary: ([u8; 32], String),
    previous: Option<([u8; 32], String)>,
}

impl std::fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKeys")
            .field("primary", &self.primary.1)
            .field("previous", &self.previous.as_ref().map(|k| &k.1))
            .finish()
    }
}

/// Why an encryption key was refused (the message never contains the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an encryption key must be 32 bytes, given as 64 hex digits or base64 (got {0})")]
pub struct InvalidKey(String);

fn parse_key(text: &str) -> Result<([u8; 32], String), InvalidKey> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| InvalidKey("invalid hex".into()))?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| InvalidKey(format!("{} characters, neither hex nor base64", text.len())))?
    };
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| InvalidKey(format!("{} bytes", b.len())))?;
    // The key id names a key in records without revealing it.
    let id = hex::encode(&Sha256::digest(key)[..4]);
    Ok((key, id))
}

impl EncryptionKeys {
    /// The primary key and, during a rotation, the previous one.
    pub fn parse(primary: &str, previous: Option<&str>) -> Result<Self, InvalidKey> {
        Ok(EncryptionKeys {
            primary: parse_key(primary)?,
            previous: previous.map(parse_key).transpose()?,
        })
    }

    fn encrypt(&self, aad: &str, token: &str) -> Result<String, StoreError> {
        let (key, id) = &self.primary;
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| StoreError("bad key".into()))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: token.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError("encryption failed".into()))?;
        Ok(format!(
            "v1.{id}.{}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    fn decrypt(&self, aad: &str, data: &str) -> Result<String, StoreError> {
        let mut parts = data.split('.');
        let (Some("v1"), Some(id), Some(nonce), Some(sealed), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(StoreError(
                "shared record is not encrypted with a known format".into(),
            ));
        };
        let key = [Some(&self.primary), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|(_, key_id)| key_id == id)
            .ok_or_else(|| {
                StoreError(format!("shared record is encrypted with unknown key {id}"))
            })?;
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| StoreError("bad nonce".into()))?;
        let sealed = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| StoreError("bad ciphertext".into()))?;
        if nonce.len() != 12 {
            return Err(StoreError("bad nonce".into()));
        }
        let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| StoreError("bad key".into()))?;
        let plain = cipher
            .decrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError("shared record failed authentication".into()))?;
        String::from_utf8(plain).map_err(|_| StoreError("shared record is not UTF-8".into()))
    }
}

/// How the token is kept at rest.
#[derive(Debug, Clone)]
enum AtRest {
    Encrypted(EncryptionKeys),
    /// Only when explicitly allowed: anyone who can read Redis can read the token.
    Plaintext,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

/// Keys of one shared record, all in one cluster slot.
#[derive(Debug, Clone)]
struct Keys {
    record: String,
    lock: String,
    budget: String,
    channel: String,
}

/// A [`TokenStore`] in Redis (single node, or Redis Cluster when the URL lists several nodes
/// separated by commas).
pub struct RedisStore {
    target: Target,
    connection: Mutex<Option<Connection>>,
    keys: Keys,
    at_rest: AtRest,
    changes: watch::Receiver<u64>,
}

#[derive(Clone)]
enum Target {
    Single(Client),
    Cluster(Vec<String>),
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("record", &self.keys.record)
            .field("at_rest", &self.at_rest)
            .finish()
    }
}

impl RedisStore {
    /// A store for `credentials` at `url` (`redis://`, `rediss://`; several comma-separated
    /// node URLs for a cluster). `encryption: None` stores the token in plain text — only pass it when
    /// the operator allowed that explicitly. Nothing is contacted yet: a Redis that is down makes
    /// the manager run degraded until it returns. Must be called inside a tokio runtime.
    pub fn new(
        url: &str,
        credentials: &Credentials,
        encryption: Option<EncryptionKeys>,
    ) -> Result<Arc<Self>, StoreError> {
        let nodes: Vec<String> = url
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        let target = match nodes.as_slice() {
            [single] => Target::Single(
                Client::open(single.as_str())
                    .map_err(|e| StoreError(format!("REDIS_URL: {}", e.category())))?,
            ),
            [] => return Err(StoreError("REDIS_URL is empty".into())),
            _ => Target::Cluster(nodes),
        };
        // Keyed by a hash of client id and refresh token: never the token itself.
        let digest = Sha256::new()
            .chain_update(credentials.client_id().as_bytes())
            .chain_update([0])
            .chain_update(credentials.refresh_token().expose_secret().as_bytes())
            .finalize();
        let tag = hex::encode(&digest[..16]);
        let keys = Keys {
            record: format!("zoho-gateway:{{{tag}}}:token"),
            lock: format!("zoho-gateway:{{{tag}}}:lock"),
            budget: format!("zoho-gateway:{{{tag}}}:budget"),
            channel: format!("zoho-gateway:{{{tag}}}:updates"),
        };
        let (tx, rx) = watch::channel(0);
        if let Target::Single(client) = &target {
            // Pub/sub is a wake-up hint; readers poll too, so a cluster (no listener) still works.
            tokio::spawn(listen(client.clone(), keys.channel.clone(), tx));
        }
        let at_rest = encryption.map_or(AtRest::Plaintext, AtRest::Encrypted);
        Ok(Arc::new(RedisStore {
            target,
            connection: Mutex::new(None),
            keys,
            at_rest,
            changes: rx,
        }))
    }

    /// A connection, reconnecting when the last one failed.
    async fn connection(&self) -> Result<Connection, StoreError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connect = async {
            match &self.target {
                Target::Single(client) => ConnectionManager::new(client.clone())
                    .await
                    .map(Connection::Single),
                Target::Cluster(nodes) => {
                    let client = redis::cluster::ClusterClient::new(nodes.clone())?;
                    client.get_async_connection().await.map(Connection::Cluster)
                }
            }
        };
        let connection = tokio::time::timeout(OP_TIMEOUT, connect)
            .await
            .map_err(|_| StoreError("connecting to Redis timed out".into()))?
            .map_err(|e| StoreError(format!("connecting to Redis failed ({})", e.category())))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Runs a script invocation, bounded by [`OP_TIMEOUT`]. A broken connection (Redis restarted)
    /// is replaced and the call tried once more, so a restart costs no degraded refresh.
    /// Runs a lease script (`TRY_LOCK`, `RENEW`) on the lock for `owner`: whether it answered 1
    /// (the lease is `owner`'s for `lease` from now).
    async fn lease_lock(
        &self,
        script: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let script = Script::new(script);
        let mut invocation = script.key(&self.keys.lock);
        invocation.arg(owner).arg(lease.as_millis() as u64);
        let granted: i64 = self.run(invocation).await?;
        Ok(granted == 1)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut last_error = None;
        for _ in 0..2 {
            let connection = self.connection().await?;
            let call = async {
                match connection {
                    Connection::Single(mut c) => invocation.invoke_async(&mut c).await,
                    Connection::Cluster(mut c) => invocation.invoke_async(&mut c).await,
                }
            };
            let (error, retry) = match tokio::time::timeout(OP_TIMEOUT, call).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => {
                    let broken = error.is_connection_dropped()
                        || error.is_io_error()
                        || error.is_connection_refusal();
                    (
                        StoreError(format!("Redis error ({})", error.category())),
                        broken,
                    )
                }
                Err(_) => (StoreError("Redis operation timed out".into()), false),
            };
            *self.connection.lock().await = None;
            last_error = Some(error);
            if !retry {
                break;
            }
        }
        Err(last_error.unwrap_or_else(|| StoreError("Redis unavailable".into())))
    }

    fn aad(&self, generation: u64) -> String {
        format!("{}|{generation}", self.keys.record)
    }
}

/// Forwards published generations to `changes` until the store is dropped; reconnects on error.
async fn listen(client: Client, channel: String, changes: watch::Sender<u64>) {
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                if let Ok(generation) = message.get_payload::<u64>() {
                    changes.send_replace(generation);
                }
            }
            Ok::<_, redis::RedisError>(())
        };
        tokio::select! {
            _ = subscribed => {}
            _ = changes.closed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = changes.closed() => return,
        }
    }
}

const LOAD: &str = r"
return redis.call('HMGET', KEYS[1], 'gen', 'data', 'exp', 'obtained')
";

const TRY_LOCK: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Compare-and-set: only the lock holder, only over the generation it read.
const PUBLISH: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local current = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if current ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'gen', ARGV[3], 'data', ARGV[4], 'exp', ARGV[5], 'obtained', ARGV[6])
redis.call('PUBLISH', ARGV[7], ARGV[3])
return 1
";

/// Drops the token (not the generation) only if it is still the rejected one.
const INVALIDATE: &str = r"
if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] and redis.call('HEXISTS', KEYS[1], 'data') == 1 then
  redis.call('HDEL', KEYS[1], 'data', 'exp', 'obtained')
  return 1
end
return 0
";

/// A sliding-window budget: -1 when granted, else milliseconds until a slot frees.
const BUDGET: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
";

impl TokenStore for RedisStore {
    fn load(&self) -> StoreFuture<'_, Snapshot> {
        Box::pin(async move {
            let script = Script::new(LOAD);
            let (generation, data, expires, obtained): (
                Option<u64>,
                Option<String>,
                Option<u64>,
                Option<u64>,
            ) = self.run(script.key(&self.keys.record)).await?;
            let generation = generation.unwrap_or(0);
            let record = match (data, expires, obtained) {
                (Some(data), Some(expires_at_ms), Some(obtained_at_ms)) => {
                    let token = match &self.at_rest {
                        AtRest::Encrypted(keys) => keys.decrypt(&self.aad(generation), &data)?,
                        AtRest::Plaintext => data
                            .strip_prefix("plain.")
                            .map(str::to_owned)
                            .ok_or_else(|| {
                                StoreError(
                                    "shared record is encrypted but no key is configured".into(),
                                )
                            })?,
                    };
                    Some(SharedRecord {
                        generation,
                        access_token: AccessToken::new(token),
                        expires_at_ms,
                        obtained_at_ms,
                    })
                }
                _ => None,
            };
            Ok(Snapshot { generation, record })
        })
    }

    fn try_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool> {
        Box::pin(self.lease_lock(TRY_LOCK, owner, lease))
    }

    fn renew_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool> {
        Box::pin(self.lease_lock(RENEW, owner, lease))
    }

    fn unlock<'a>(&'a self, owner: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let script = Script::new(UNLOCK);
            let mut invocation = script.key(&self.keys.lock);
            invocation.arg(owner);
            let _: i64 = self.run(invocation).await?;
            Ok(())
        })
    }

    fn publish<'a>(
        &'a self,
        record: &'a SharedRecord,
        expected: u64,
        owner: &'a str,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let data = match &self.at_rest {
                AtRest::Encrypted(keys) => keys.encrypt(
                    &self.aad(record.generation),
                    record.access_token.expose_secret(),
                )?,
                AtRest::Plaintext => format!("plain.{}", record.access_token.expose_secret()),
            };
            let script = Script::new(PUBLISH);
            let mut invocation = script.key(&self.keys.record);
            invocation
                .key(&self.keys.lock)
                .arg(owner)
                .arg(expected)
                .arg(record.generation)
                .arg(data)
                .arg(record.expires_at_ms)
                .arg(record.obtained_at_ms)
                .arg(&self.keys.channel);
            let written: i64 = self.run(invocation).await?;
            Ok(written == 1)
        })
    }

    fn invalidate(&self, generation: u64) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let script = Script::new(INVALIDATE);
            let mut invocation = script.key(&self.keys.record);
            invocation.arg(generation);
            let dropped: i64 = self.run(invocation).await?;
            Ok(dropped == 1)
        })
    }

    fn acquire_budget(
        &self,
        now_ms: u64,
        limit: usize,
        window: Duration,
    ) -> StoreFuture<'_, Option<Duration>> {
        Box::pin(async move {
            let script = Script::new(BUDGET);
            let mut invocation = script.key(&self.keys.budget);
            let member = format!("{now_ms}-{:016x}", fastrand::u64(..));
            invocation
                .arg(now_ms)
                .arg(window.as_millis() as u64)
                .arg(limit)
                .arg(member);
            let wait_ms: i64 = self.run(invocation).await?;
            Ok((wait_ms >= 0).then(|| Duration::from_millis(wait_ms.max(1) as u64)))
        })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_hex_and_base64_and_round_trip() {
        let hex_key = "00".repeat(32);
        let b64_key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let keys = EncryptionKeys::parse(&hex_key, Some(&b64_key)).unwrap();
        let sealed = keys.encrypt("aad", "1000.secret.token").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(keys.decrypt("aad", &sealed).unwrap(), "1000.secret.token");
        assert!(
            keys.decrypt("other-aad", &sealed).is_err(),
            "bound to its record and generation"
        );
        // Rotation: a record sealed with the old primary still opens while it is the previous key.
        let old = EncryptionKeys::parse(&b64_key, None).unwrap();
        let sealed_old = old.encrypt("aad", "1000.old.token").unwrap();
        assert_eq!(keys.decrypt("aad", &sealed_old).unwrap(), "1000.old.token");
        assert!(
            EncryptionKeys::parse(&hex_key, None)
                .unwrap()
                .decrypt("aad", &sealed_old)
                .is_err()
        );
        for bad in [
            "",
            "short",
            &"zz".repeat(32),
            &base64::engine::general_purpose::STANDARD.encode([1u8; 16]),
        ] {
            let error = EncryptionKeys::parse(bad, None).unwrap_err().to_string();
            assert!(!error.contains(bad) || bad.is_empty(), "{error}");
        }
        assert!(!format!("{keys:?}").contains(&hex_key));
    }
}
