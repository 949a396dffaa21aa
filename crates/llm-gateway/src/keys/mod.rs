//! Virtual keys, teams and users: records, their SQLite persistence and an in-memory lookup
//! cache keyed by the key's SHA-256 hash.
//!
//! A key's plaintext exists only in the `/key/generate` (or `/key/regenerate`) response: the
//! store keeps its SHA-256 hash (`token`) and a non-secret display prefix (`key_name`,
//! `sk-...abcd`).

mod access;
pub(crate) mod admin;
pub(crate) mod limits;
pub(crate) mod shared;
pub(crate) mod shared_budget;
pub(crate) mod shared_cooldowns;

pub(crate) use access::{Access, Refusal};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Why the key store failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyStoreError {
    /// SQLite failed.
    #[error("key store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("key store (postgres): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored record could not be read.
    #[error("key store: corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// A virtual key, as stored (never the key itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct KeyRecord {
    /// SHA-256 of the key, hex.
    pub(crate) token: String,
    /// The key's stable id: the hash of its first version (kept by `/key/regenerate`), for spend
    /// rows, budgets and limits.
    pub(crate) key_id: String,
    /// A non-secret display form, `sk-...abcd`.
    pub(crate) key_name: String,
    pub(crate) key_alias: Option<String>,
    /// Model groups the key may call; empty = all.
    pub(crate) models: Vec<String>,
    /// USD.
    pub(crate) max_budget: Option<f64>,
    /// `30d`, `1h`, … (LiteLLM's durations).
    pub(crate) budget_duration: Option<String>,
    pub(crate) rpm_limit: Option<u64>,
    pub(crate) tpm_limit: Option<u64>,
    pub(crate) max_parallel_requests: Option<u32>,
    /// Unix seconds after which the key is refused.
    pub(crate) expires: Option<i64>,
    pub(crate) team_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) blocked: bool,
    /// Unix seconds.
    pub(crate) created_at: i64,
}

impl KeyRecord {
    /// The stable id (the token when unset).
    pub(crate) fn key_id(&self) -> String {
        if self.key_id.is_empty() { self.token.clone() } else { self.key_id.clone() }
    }
}

/// A team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TeamRecord {
    pub(crate) team_id: String,
    pub(crate) team_alias: Option<String>,
    /// Model groups the team's keys may call; empty = all.
    pub(crate) models: Vec<String>,
    pub(crate) max_budget: Option<f64>,
    pub(crate) budget_duration: Option<String>,
    pub(crate) rpm_limit: Option<u64>,
    pub(crate) tpm_limit: Option<u64>,
    pub(crate) max_parallel_requests: Option<u32>,
    /// User ids.
    pub(crate) members: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) blocked: bool,
    pub(crate) created_at: i64,
}

/// A user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct UserRecord {
    pub(crate) user_id: String,
    pub(crate) user_email: Option<String>,
    pub(crate) user_role: Option<String>,
    pub(crate) models: Vec<String>,
    pub(crate) max_budget: Option<f64>,
    pub(crate) budget_duration: Option<String>,
    pub(crate) rpm_limit: Option<u64>,
    pub(crate) tpm_limit: Option<u64>,
    pub(crate) teams: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) created_at: i64,
}

/// The tables of the three kinds of records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Keys,
    Teams,
    Users,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Keys => "gateway_keys",
            Table::Teams => "gateway_teams",
            Table::Users => "gateway_users",
        }
    }
}

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS gateway_keys (id TEXT PRIMARY KEY, alias TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gateway_keys_alias ON gateway_keys (alias);
CREATE TABLE IF NOT EXISTS gateway_teams (id TEXT PRIMARY KEY, alias TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gateway_users (id TEXT PRIMARY KEY, alias TEXT, data TEXT NOT NULL);";

/// How long a cached key or team is trusted before it is read again (so that changes made by
/// another replica sharing the database are seen); changes made here invalidate it at once.
const CACHE_TTL: Duration = Duration::from_secs(5);

const PG_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS gateway_keys (seq BIGSERIAL, id TEXT PRIMARY KEY, alias TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gateway_keys_alias ON gateway_keys (alias);
CREATE TABLE IF NOT EXISTS gateway_teams (seq BIGSERIAL, id TEXT PRIMARY KEY, alias TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gateway_users (seq BIGSERIAL, id TEXT PRIMARY KEY, alias TEXT, data TEXT NOT NULL);";

enum Db {
    Sqlite(Mutex<Connection>),
    Postgres(tokio_postgres::Client),
}

type Cache<T> = RwLock<HashMap<String, (Instant, Arc<T>)>>;
/// Users by id, `None` for ids without a record.
type UserCache = RwLock<HashMap<String, (Instant, Option<Arc<UserRecord>>)>>;

/// Keys, teams and users in SQLite or PostgreSQL, with a write-through cache of keys, teams and
/// users (users also cached when missing: they are looked up by the ids keys name).
pub(crate) struct KeyStore {
    db: Db,
    keys: Cache<KeyRecord>,
    teams: Cache<TeamRecord>,
    users: UserCache,
}

/// Whose spend to sum from the spend log.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SpendOf<'a> {
    /// A key, by its stable id (`key_hash` in the log).
    Key(&'a str),
    /// A team (`team`).
    Team(&'a str),
    /// A user (`user`: the key's user, never the request's `user` field).
    User(&'a str),
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}

fn cached<T>(cache: &Cache<T>, id: &str) -> Option<Arc<T>> {
    let map = cache.read().unwrap_or_else(|p| p.into_inner());
    map.get(id).filter(|(at, _)| at.elapsed() < CACHE_TTL).map(|(_, v)| Arc::clone(v))
}

fn cache_put<T>(cache: &Cache<T>, id: &str, value: Arc<T>) {
    cache.write().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), (Instant::now(), value));
}

fn cache_remove<T>(cache: &Cache<T>, id: &str) {
    cache.write().unwrap_or_else(|p| p.into_inner()).remove(id);
}

impl KeyStore {
    /// Opens (creating) the tables in the SQLite database at `path` (`:memory:` for a private one).
    pub(crate) fn open(path: &str) -> Result<Self, KeyStoreError> {
        let path = path.strip_prefix("sqlite://").unwrap_or(path);
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self::with_db(Db::Sqlite(Mutex::new(conn))))
    }

    /// Connects to PostgreSQL at `url` (no TLS) and creates the tables when missing.
    pub(crate) async fn connect_postgres(url: &str) -> Result<Self, KeyStoreError> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "key store: PostgreSQL connection closed");
            }
        });
        client.batch_execute(PG_SCHEMA).await?;
        Ok(Self::with_db(Db::Postgres(client)))
    }

    /// Opens `url`: a postgres URL, else a SQLite path.
    pub(crate) async fn open_url(url: &str) -> Result<Self, KeyStoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(url).await
        } else {
            Self::open(url)
        }
    }

    fn with_db(db: Db) -> Self {
        Self { db, keys: RwLock::default(), teams: RwLock::default(), users: RwLock::default() }
    }

    async fn put<T: Serialize>(
        &self,
        table: Table,
        id: &str,
        alias: Option<&str>,
        record: &T,
    ) -> Result<(), KeyStoreError> {
        let data = serde_json::to_string(record)?;
        let sql = |p: [&str; 3]| {
            format!(
                "INSERT INTO {} (id, alias, data) VALUES ({}, {}, {}) \
                 ON CONFLICT (id) DO UPDATE SET alias = excluded.alias, data = excluded.data",
                table.name(),
                p[0],
                p[1],
                p[2]
            )
        };
        match &self.db {
            Db::Sqlite(c) => {
                lock(c).execute(&sql(["?1", "?2", "?3"]), params![id, alias, data])?;
            }
            Db::Postgres(c) => {
                c.execute(&sql(["$1", "$2", "$3"]), &[&id, &alias, &data]).await?;
            }
        }
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, table: Table, id: &str) -> Result<Option<T>, KeyStoreError> {
        let data: Option<String> = match &self.db {
            Db::Sqlite(c) => {
                let sql = format!("SELECT data FROM {} WHERE id = ?1", table.name());
                lock(c).query_row(&sql, params![id], |r| r.get(0)).optional()?
            }
            Db::Postgres(c) => {
                let sql = format!("SELECT data FROM {} WHERE id = $1", table.name());
                c.query_opt(&sql, &[&id]).await?.map(|r| r.try_get(0)).transpose()?
            }
        };
        Ok(data.map(|d| serde_json::from_str(&d)).transpose()?)
    }

    /// Every record of `table`, oldest first.
    pub(crate) async fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<T>, KeyStoreError> {
        let rows: Vec<String> = match &self.db {
            Db::Sqlite(c) => {
                let sql = format!("SELECT data FROM {} ORDER BY rowid", table.name());
                let conn = lock(c);
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            }
            Db::Postgres(c) => {
                let sql = format!("SELECT data FROM {} ORDER BY seq", table.name());
                let rows = c.query(&sql, &[]).await?;
                rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?
            }
        };
        rows.iter().map(|d| serde_json::from_str(d).map_err(KeyStoreError::from)).collect()
    }

    async fn delete(&self, table: Table, id: &str) -> Result<bool, KeyStoreError> {
        let n = match &self.db {
            Db::Sqlite(c) => {
                let sql = format!("DELETE FROM {} WHERE id = ?1", table.name());
                lock(c).execute(&sql, params![id])? as u64
            }
            Db::Postgres(c) => {
                let sql = format!("DELETE FROM {} WHERE id = $1", table.name());
                c.execute(&sql, &[&id]).await?
            }
        };
        Ok(n > 0)
    }

    /// The key whose hash is `token`: from the cache, else from the database (then cached).
    pub(crate) async fn key(&self, token: &str) -> Result<Option<Arc<KeyRecord>>, KeyStoreError> {
        if let Some(k) = cached(&self.keys, token) {
            return Ok(Some(k));
        }
        let Some(record) = self.get::<KeyRecord>(Table::Keys, token).await? else {
            cache_remove(&self.keys, token);
            return Ok(None);
        };
        let record = Arc::new(record);
        cache_put(&self.keys, token, Arc::clone(&record));
        Ok(Some(record))
    }

    /// The token of the key named `alias`.
    pub(crate) async fn token_by_alias(&self, alias: &str) -> Result<Option<String>, KeyStoreError> {
        Ok(match &self.db {
            Db::Sqlite(c) => {
                let sql = "SELECT id FROM gateway_keys WHERE alias = ?1";
                lock(c).query_row(sql, params![alias], |r| r.get(0)).optional()?
            }
            Db::Postgres(c) => {
                let sql = "SELECT id FROM gateway_keys WHERE alias = $1";
                c.query_opt(sql, &[&alias]).await?.map(|r| r.try_get(0)).transpose()?
            }
        })
    }

    /// Stores `record` and refreshes the cache.
    pub(crate) async fn put_key(&self, record: KeyRecord) -> Result<Arc<KeyRecord>, KeyStoreError> {
        cache_remove(&self.keys, &record.token);
        self.put(Table::Keys, &record.token, record.key_alias.as_deref(), &record).await?;
        let record = Arc::new(record);
        cache_put(&self.keys, &record.token, Arc::clone(&record));
        Ok(record)
    }

    /// Deletes a key (database and cache); whether it existed.
    pub(crate) async fn delete_key(&self, token: &str) -> Result<bool, KeyStoreError> {
        cache_remove(&self.keys, token);
        self.delete(Table::Keys, token).await
    }

    /// The team `team_id`: from the cache, else from the database (then cached).
    pub(crate) async fn team(&self, team_id: &str) -> Result<Option<Arc<TeamRecord>>, KeyStoreError> {
        if let Some(t) = cached(&self.teams, team_id) {
            return Ok(Some(t));
        }
        let Some(record) = self.get::<TeamRecord>(Table::Teams, team_id).await? else {
            cache_remove(&self.teams, team_id);
            return Ok(None);
        };
        let record = Arc::new(record);
        cache_put(&self.teams, team_id, Arc::clone(&record));
        Ok(Some(record))
    }

    /// Stores a team and refreshes the cache.
    pub(crate) async fn put_team(&self, record: TeamRecord) -> Result<Arc<TeamRecord>, KeyStoreError> {
        cache_remove(&self.teams, &record.team_id);
        self.put(Table::Teams, &record.team_id, record.team_alias.as_deref(), &record).await?;
        let record = Arc::new(record);
        cache_put(&self.teams, &record.team_id, Arc::clone(&record));
        Ok(record)
    }

    /// Deletes a team (database and cache); whether it existed.
    pub(crate) async fn delete_team(&self, team_id: &str) -> Result<bool, KeyStoreError> {
        cache_remove(&self.teams, team_id);
        self.delete(Table::Teams, team_id).await
    }

    /// The user `user_id`: from the cache, else from the database (then cached, found or not).
    pub(crate) async fn user(&self, user_id: &str) -> Result<Option<Arc<UserRecord>>, KeyStoreError> {
        {
            let map = self.users.read().unwrap_or_else(|p| p.into_inner());
            if let Some((_, user)) = map.get(user_id).filter(|(at, _)| at.elapsed() < CACHE_TTL) {
                return Ok(user.clone());
            }
        }
        let user = self.get::<UserRecord>(Table::Users, user_id).await?.map(Arc::new);
        let mut map = self.users.write().unwrap_or_else(|p| p.into_inner());
        // Bounded by the user ids keys name; expired entries go when the map grows.
        if map.len() >= 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        }
        map.insert(user_id.to_owned(), (Instant::now(), user.clone()));
        Ok(user)
    }

    /// Stores a user and refreshes the cache.
    pub(crate) async fn put_user(&self, record: &UserRecord) -> Result<(), KeyStoreError> {
        self.users.write().unwrap_or_else(|p| p.into_inner()).remove(&record.user_id);
        self.put(Table::Users, &record.user_id, record.user_email.as_deref(), record).await?;
        let entry = (Instant::now(), Some(Arc::new(record.clone())));
        self.users.write().unwrap_or_else(|p| p.into_inner()).insert(record.user_id.clone(), entry);
        Ok(())
    }

    /// USD spent by `whom` since `since_ms` (Unix milliseconds; `None`: ever), from the spend log
    /// (`spend_logs`, kept in the same database by the spend store); 0 when there is no log yet.
    pub(crate) async fn logged_spend(
        &self,
        whom: SpendOf<'_>,
        since_ms: Option<i64>,
    ) -> Result<f64, KeyStoreError> {
        let (column, id) = match whom {
            SpendOf::Key(k) => ("key_hash", k),
            SpendOf::Team(t) => ("team", t),
            SpendOf::User(u) => ("\"user\"", u),
        };
        let since = since_ms.unwrap_or(i64::MIN);
        let sql = |p: [&str; 2]| {
            format!(
                "SELECT SUM(cost_usd) FROM spend_logs WHERE {column} = {} AND started_at_ms >= {}",
                p[0], p[1]
            )
        };
        let sum: Option<f64> = match &self.db {
            Db::Sqlite(c) => {
                let conn = lock(c);
                let exists: Option<String> = conn
                    .query_row(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'spend_logs'",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                if exists.is_none() {
                    return Ok(0.0);
                }
                conn.query_row(&sql(["?1", "?2"]), params![id, since], |r| r.get(0))?
            }
            Db::Postgres(c) => {
                let exists = c.query_one("SELECT to_regclass('spend_logs') IS NOT NULL", &[]).await?;
                if !exists.try_get::<_, bool>(0)? {
                    return Ok(0.0);
                }
                c.query_one(&sql(["$1", "$2"]), &[&id, &since]).await?.try_get(0)?
            }
        };
        Ok(sum.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(0.0))
    }
}

fn lock(c: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// SHA-256 of `text`, hex.
pub(crate) fn hash_key(text: &str) -> String {
    crate::app::hex(&Sha256::digest(text.as_bytes()))
}

/// A new key: `sk-` and 48 hex characters (24 bytes from the operating system's CSPRNG).
pub(crate) fn new_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)?;
    Ok(format!("sk-{}", crate::app::hex(&bytes)))
}

/// The non-secret display form of a key: `sk-...` and its last four characters.
pub(crate) fn display_name(key: &str) -> String {
    let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("sk-...{tail}")
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let (a, b) = (new_key().unwrap(), new_key().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("sk-") && a.len() == 51, "{a}");
        assert_eq!(hash_key(&a).len(), 64);
        assert_eq!(display_name("sk-123456789abcd"), "sk-...abcd");
    }

    #[tokio::test]
    async fn cache_is_invalidated_on_update_and_delete() {
        let store = KeyStore::open(":memory:").unwrap();
        let record = KeyRecord { token: "t".into(), key_alias: Some("a".into()), ..KeyRecord::default() };
        store.put_key(record.clone()).await.unwrap();
        assert!(!store.key("t").await.unwrap().unwrap().blocked);
        store.put_key(KeyRecord { blocked: true, ..record }).await.unwrap();
        assert!(store.key("t").await.unwrap().unwrap().blocked);
        assert_eq!(store.token_by_alias("a").await.unwrap().as_deref(), Some("t"));
        assert!(store.delete_key("t").await.unwrap());
        assert!(store.key("t").await.unwrap().is_none());
    }
}
