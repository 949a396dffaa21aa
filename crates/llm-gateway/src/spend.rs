//! Spend logs in SQLite: a [`SpendSink`] that queues rows, a background writer that inserts them
//! in batches off the request path, and the queries behind `/spend/logs` and `/spend/report`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use llm_gateway::spend::{SpendFilter, SpendStore};
//! let store = SpendStore::open(":memory:").unwrap();
//! store.flush().await;
//! assert!(store.logs(SpendFilter::default()).await.unwrap().is_empty());
//! # });
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use llm_cost::{SpendRecord, SpendSink, SpendStatus, utc_day};
use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::idle_thread::IdleThread;

/// Rows waiting to be written; past this, `record` hands the row to a task that waits for room.
pub const QUEUE_CAPACITY: usize = 10_000;
const BATCH: usize = 512;
/// How long the writer waits for more rows after the first of a batch: at low load one
/// transaction per request would cost more than the requests; a flush ends the wait at once.
const LINGER: Duration = Duration::from_millis(20);

/// Why the spend store failed.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// SQLite failed.
    #[error("spend store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("spend store (postgres): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The store's worker is gone.
    #[error("spend store: the writer stopped")]
    Closed,
}

/// One spend log row, as stored and as `/spend/logs` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    /// The request id.
    pub request_id: Option<String>,
    /// Start time, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// The UTC day of the start, `YYYY-MM-DD`.
    pub day: String,
    /// SHA-256 of the caller's key (hex), never the key.
    pub key_hash: Option<String>,
    /// The caller's team.
    pub team: Option<String>,
    /// The caller's user (the request's `user`).
    pub user: Option<String>,
    /// The request's tags.
    pub tags: Vec<String>,
    /// The model group requested.
    pub model_group: String,
    /// The deployment that answered.
    pub deployment: Option<String>,
    /// The provider that answered.
    pub provider: Option<String>,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Cache-creation prompt tokens.
    pub cache_creation_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// The cost in USD, `None` when unknown.
    pub cost_usd: Option<f64>,
    /// Latency in milliseconds.
    pub latency_ms: u64,
    /// Time to first token in milliseconds (streams), when known.
    pub ttft_ms: Option<u64>,
    /// `success`, `failed`, `stream_failed` or `stream_abandoned`.
    pub status: String,
    /// The error kind of a failure.
    pub error: Option<String>,
    /// Whether the response was streamed.
    pub stream: bool,
    /// Whether the response came from the cache.
    pub cache_hit: bool,
}

impl SpendRow {
    /// The row for a spend record.
    pub fn from_record(r: SpendRecord) -> Self {
        let usage = r.usage.unwrap_or_default();
        let (status, error) = match &r.status {
            SpendStatus::Success => ("success", None),
            SpendStatus::Failed(k) => ("failed", Some(k.to_string())),
            SpendStatus::StreamFailed(k) => ("stream_failed", Some(k.to_string())),
            SpendStatus::StreamAbandoned => ("stream_abandoned", None),
        };
        let ms = r.started_at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis();
        SpendRow {
            request_id: r.request_id,
            started_at_ms: i64::try_from(ms).unwrap_or(i64::MAX),
            day: utc_day(r.started_at),
            key_hash: r.caller.key_id,
            team: r.caller.team_id,
            user: r.caller.user_id,
            tags: r.tags,
            model_group: r.model,
            deployment: r.deployment,
            provider: r.provider,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: usage.cached_tokens(),
            cache_creation_tokens: usage.cache_creation_tokens(),
            reasoning_tokens: usage.reasoning_tokens(),
            cost_usd: r.cost.as_ref().ok().map(|c| c.usd),
            latency_ms: u64::try_from(r.latency.as_millis()).unwrap_or(u64::MAX),
            ttft_ms: r.time_to_first_token.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            status: status.to_owned(),
            error,
            stream: r.stream,
            cache_hit: r.cache_hit,
        }
    }
}

/// Filters of `/spend/logs` and `/spend/report`; times are `YYYY-MM-DD` days (inclusive) or
/// Unix seconds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SpendFilter {
    /// Key hash.
    pub key: Option<String>,
    /// Team.
    pub team: Option<String>,
    /// Model group.
    pub model: Option<String>,
    /// From (inclusive).
    #[serde(alias = "start_date")]
    pub start: Option<String>,
    /// Until (inclusive).
    #[serde(alias = "end_date")]
    pub end: Option<String>,
    /// Most rows (default 1000).
    pub limit: Option<u32>,
    /// `/spend/report` only: `model` (default), `key`, `team`, `user`, `provider`, `deployment`
    /// or `tag`.
    pub group_by: Option<String>,
}

/// One line of `/spend/report`: a day × group total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendReportRow {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The group's value (model, key hash, team, tag, …).
    pub group: Option<String>,
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost in USD (priced rows only).
    pub cost_usd: f64,
}

enum Msg {
    Row(Box<SpendRow>),
    Flush(oneshot::Sender<()>),
}

/// The SQLite spend store: cloning shares it.
#[derive(Clone)]
pub struct SpendStore {
    tx: mpsc::Sender<Msg>,
    db: Backend,
    /// Transactions the writer has committed (one per batch).
    batches: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Arc<tokio_postgres::Client>),
}

/// A filter or limit value bound to a query.
enum Arg {
    Text(String),
    Int(i64),
}

impl std::fmt::Debug for SpendStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpendStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spend_logs (
    request_id TEXT, started_at_ms BIGINT NOT NULL, day TEXT NOT NULL, key_hash TEXT, team TEXT,
    \"user\" TEXT, tags TEXT NOT NULL, model_group TEXT NOT NULL, deployment TEXT, provider TEXT,
    prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
    cache_creation_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL, cost_usd DOUBLE PRECISION,
    latency_ms BIGINT NOT NULL, ttft_ms BIGINT, status TEXT NOT NULL, error TEXT,
    stream BOOLEAN NOT NULL, cache_hit BOOLEAN NOT NULL);
CREATE INDEX IF NOT EXISTS spend_logs_day ON spend_logs (day);
CREATE INDEX IF NOT EXISTS spend_logs_key ON spend_logs (key_hash, started_at_ms);";

const COLUMNS: &str = "request_id, started_at_ms, day, key_hash, team, \"user\", tags, model_group, deployment, \
    provider, prompt_tokens, completion_tokens, cached_tokens, cache_creation_tokens, reasoning_tokens, \
    cost_usd, latency_ms, ttft_ms, status, error, stream, cache_hit";

impl SpendStore {
    /// Opens (creating) the SQLite file at `path` (`:memory:` for a private in-memory database)
    /// and starts the writer on the current tokio runtime.
    pub fn open(path: &str) -> Result<Self, SpendError> {
        let path = path.strip_prefix("sqlite://").unwrap_or(path);
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Write-ahead log: readers (`/spend/logs`, the key store) never wait for the writer, and
        // a commit is an append, synced at checkpoints (`synchronous = NORMAL`: a power loss may
        // lose the last commits, an application crash loses none).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self::start(Backend::Sqlite(Arc::new(Mutex::new(conn)))))
    }

    /// Connects to PostgreSQL at `url` (`postgres://user@host:port/db`, no TLS), creates the
    /// table when missing and starts the writer.
    pub async fn connect_postgres(url: &str) -> Result<Self, SpendError> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "spend store: PostgreSQL connection closed");
            }
        });
        client.batch_execute(SCHEMA).await?;
        Ok(Self::start(Backend::Postgres(Arc::new(client))))
    }

    /// Opens `url`: a postgres URL, else a SQLite path.
    pub async fn open_url(url: &str) -> Result<Self, SpendError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(url).await
        } else {
            Self::open(url)
        }
    }

    fn start(db: Backend) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let batches = Arc::default();
        tokio::spawn(writer(rx, db.clone(), Arc::clone(&batches)));
        Self { tx, db, batches }
    }

    /// The sink to give `CostLayer`.
    pub fn sink(&self) -> SpendLog {
        SpendLog { tx: self.tx.clone() }
    }

    /// Transactions the writer has committed so far (rows go in batches: one per transaction).
    pub fn batches_written(&self) -> u64 {
        self.batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every row queued before this call is written.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Whether the database answers (for `/health/readiness`).
    pub async fn ping(&self) -> Result<(), SpendError> {
        match &self.db {
            Backend::Sqlite(db) => {
                with_sqlite(db, |c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(SpendError::from)).await
            }
            Backend::Postgres(c) => Ok(c.simple_query("SELECT 1").await.map(drop)?),
        }
    }

    /// Rows matching `filter`, newest first.
    pub async fn logs(&self, filter: SpendFilter) -> Result<Vec<SpendRow>, SpendError> {
        let postgres = matches!(self.db, Backend::Postgres(_));
        let (clause, args) = where_clause(&filter, postgres);
        let limit = filter.limit.unwrap_or(1000).min(100_000);
        let order = if postgres { "started_at_ms DESC" } else { "started_at_ms DESC, rowid DESC" };
        let sql = format!("SELECT {COLUMNS} FROM spend_logs {clause} ORDER BY {order} LIMIT {limit}");
        match &self.db {
            Backend::Sqlite(db) => {
                with_sqlite(db, move |c| {
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map(params_from_iter(sqlite_args(args)), read_row)?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Backend::Postgres(c) => {
                let rows = c.query(&sql, &pg_args(&args)).await?;
                rows.iter().map(read_pg_row).collect::<Result<Vec<_>, _>>().map_err(SpendError::from)
            }
        }
    }

    /// Totals by day and `filter.group_by`.
    pub async fn report(&self, filter: SpendFilter) -> Result<Vec<SpendReportRow>, SpendError> {
        let postgres = matches!(self.db, Backend::Postgres(_));
        let (clause, args) = where_clause(&filter, postgres);
        let tags = if postgres {
            "spend_logs, jsonb_array_elements_text(spend_logs.tags::jsonb) AS t(value)"
        } else {
            "spend_logs, json_each(spend_logs.tags) AS t"
        };
        let (from, group) = match filter.group_by.as_deref().unwrap_or("model") {
            "key" => ("spend_logs", "key_hash"),
            "team" => ("spend_logs", "team"),
            "user" => ("spend_logs", "\"user\""),
            "provider" => ("spend_logs", "provider"),
            "deployment" => ("spend_logs", "deployment"),
            "tag" => (tags, "t.value"),
            _ => ("spend_logs", "model_group"),
        };
        let sql = format!(
            "SELECT day, {group}, COUNT(*), CAST(SUM(CASE WHEN status = 'success' THEN 0 ELSE 1 END) AS BIGINT), \
             CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT), \
             CAST(COALESCE(SUM(cost_usd), 0.0) AS DOUBLE PRECISION) FROM {from} {clause} \
             GROUP BY day, {group} ORDER BY day, {group}"
        );
        let make = |day, group, n: [i64; 4], cost_usd| SpendReportRow {
            day,
            group,
            requests: n[0].max(0) as u64,
            failures: n[1].max(0) as u64,
            prompt_tokens: n[2].max(0) as u64,
            completion_tokens: n[3].max(0) as u64,
            cost_usd,
        };
        match &self.db {
            Backend::Sqlite(db) => {
                with_sqlite(db, move |c| {
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map(params_from_iter(sqlite_args(args)), |r| {
                        Ok(make(
                            r.get(0)?,
                            r.get(1)?,
                            [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                            r.get(6)?,
                        ))
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Backend::Postgres(c) => {
                let rows = c.query(&sql, &pg_args(&args)).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(make(
                        r.try_get(0)?,
                        r.try_get(1)?,
                        [r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?],
                        r.try_get(6)?,
                    ));
                }
                Ok(out)
            }
        }
    }
}

async fn with_sqlite<T: Send + 'static>(
    db: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&Connection) -> Result<T, SpendError> + Send + 'static,
) -> Result<T, SpendError> {
    let db = Arc::clone(db);
    tokio::task::spawn_blocking(move || {
        let conn = db.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    })
    .await
    .map_err(|_| SpendError::Closed)?
}

fn sqlite_args(args: Vec<Arg>) -> Vec<SqlValue> {
    args.into_iter()
        .map(|a| match a {
            Arg::Text(t) => SqlValue::Text(t),
            Arg::Int(i) => SqlValue::Integer(i),
        })
        .collect()
}

fn pg_args(args: &[Arg]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            Arg::Text(t) => t as &(dyn tokio_postgres::types::ToSql + Sync),
            Arg::Int(i) => i as &(dyn tokio_postgres::types::ToSql + Sync),
        })
        .collect()
}

fn where_clause(f: &SpendFilter, postgres: bool) -> (String, Vec<Arg>) {
    let mut parts = Vec::new();
    let mut args = Vec::new();
    let mark = |args: &Vec<Arg>| if postgres { format!("${}", args.len() + 1) } else { "?".to_owned() };
    for (col, value) in [("key_hash", &f.key), ("team", &f.team), ("model_group", &f.model)] {
        if let Some(v) = value {
            parts.push(format!("spend_logs.{col} = {}", mark(&args)));
            args.push(Arg::Text(v.clone()));
        }
    }
    for (op, value) in [(">=", &f.start), ("<=", &f.end)] {
        let Some(v) = value else { continue };
        if let Ok(secs) = v.parse::<i64>() {
            let ms = secs.saturating_mul(1000) + if op == "<=" { 999 } else { 0 };
            parts.push(format!("spend_logs.started_at_ms {op} {}", mark(&args)));
            args.push(Arg::Int(ms));
        } else {
            parts.push(format!("spend_logs.day {op} {}", mark(&args)));
            args.push(Arg::Text(v.chars().take(10).collect()));
        }
    }
    let clause = if parts.is_empty() { String::new() } else { format!("WHERE {}", parts.join(" AND ")) };
    (clause, args)
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SpendRow> {
    let tags: String = r.get(6)?;
    let int = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(SpendRow {
        request_id: r.get(0)?,
        started_at_ms: r.get(1)?,
        day: r.get(2)?,
        key_hash: r.get(3)?,
        team: r.get(4)?,
        user: r.get(5)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        model_group: r.get(7)?,
        deployment: r.get(8)?,
        provider: r.get(9)?,
        prompt_tokens: int(10)?,
        completion_tokens: int(11)?,
        cached_tokens: int(12)?,
        cache_creation_tokens: int(13)?,
        reasoning_tokens: int(14)?,
        cost_usd: r.get(15)?,
        latency_ms: int(16)?,
        ttft_ms: r.get::<_, Option<i64>>(17)?.map(|v| v.max(0) as u64),
        status: r.get(18)?,
        error: r.get(19)?,
        stream: r.get(20)?,
        cache_hit: r.get(21)?,
    })
}

fn read_pg_row(r: &tokio_postgres::Row) -> Result<SpendRow, tokio_postgres::Error> {
    let tags: String = r.try_get(6)?;
    let int = |i: usize| -> Result<u64, tokio_postgres::Error> { Ok(r.try_get::<_, i64>(i)?.max(0) as u64) };
    Ok(SpendRow {
        request_id: r.try_get(0)?,
        started_at_ms: r.try_get(1)?,
        day: r.try_get(2)?,
        key_hash: r.try_get(3)?,
        team: r.try_get(4)?,
        user: r.try_get(5)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        model_group: r.try_get(7)?,
        deployment: r.try_get(8)?,
        provider: r.try_get(9)?,
        prompt_tokens: int(10)?,
        completion_tokens: int(11)?,
        cached_tokens: int(12)?,
        cache_creation_tokens: int(13)?,
        reasoning_tokens: int(14)?,
        cost_usd: r.try_get(15)?,
        latency_ms: int(16)?,
        ttft_ms: r.try_get::<_, Option<i64>>(17)?.map(|v| v.max(0) as u64),
        status: r.try_get(18)?,
        error: r.try_get(19)?,
        stream: r.try_get(20)?,
        cache_hit: r.try_get(21)?,
    })
}

/// One multi-row insert of `rows` (at most [`BATCH`], well under PostgreSQL's parameter limit).
async fn insert_pg(client: &tokio_postgres::Client, rows: &[SpendRow]) -> Result<(), tokio_postgres::Error> {
    use tokio_postgres::types::ToSql;
    if rows.is_empty() {
        return Ok(());
    }
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    struct Owned {
        tags: String,
        ints: [i64; 6],
        ttft: Option<i64>,
    }
    let owned: Vec<Owned> = rows
        .iter()
        .map(|r| Owned {
            tags: serde_json::to_string(&r.tags).unwrap_or_else(|_| "[]".into()),
            ints: [
                n(r.prompt_tokens),
                n(r.completion_tokens),
                n(r.cached_tokens),
                n(r.cache_creation_tokens),
                n(r.reasoning_tokens),
                n(r.latency_ms),
            ],
            ttft: r.ttft_ms.map(n),
        })
        .collect();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(rows.len() * 22);
    let mut values = Vec::with_capacity(rows.len());
    for (r, o) in rows.iter().zip(&owned) {
        let base = params.len();
        values
            .push(format!("({})", (1..=22).map(|i| format!("${}", base + i)).collect::<Vec<_>>().join(", ")));
        params.extend_from_slice(&[
            &r.request_id as &(dyn ToSql + Sync),
            &r.started_at_ms,
            &r.day,
            &r.key_hash,
            &r.team,
            &r.user,
            &o.tags,
            &r.model_group,
            &r.deployment,
            &r.provider,
            &o.ints[0],
            &o.ints[1],
            &o.ints[2],
            &o.ints[3],
            &o.ints[4],
            &r.cost_usd,
            &o.ints[5],
            &o.ttft,
            &r.status,
            &r.error,
            &r.stream,
            &r.cache_hit,
        ]);
    }
    let sql = format!("INSERT INTO spend_logs ({COLUMNS}) VALUES {}", values.join(", "));
    client.execute(&sql, &params).await.map(drop)
}

fn insert(conn: &mut Connection, rows: &[SpendRow]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let placeholders = vec!["?"; 22].join(", ");
        let mut stmt =
            tx.prepare_cached(&format!("INSERT INTO spend_logs ({COLUMNS}) VALUES ({placeholders})"))?;
        for row in rows {
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            stmt.execute(rusqlite::params![
                row.request_id,
                row.started_at_ms,
                row.day,
                row.key_hash,
                row.team,
                row.user,
                serde_json::to_string(&row.tags).unwrap_or_else(|_| "[]".into()),
                row.model_group,
                row.deployment,
                row.provider,
                n(row.prompt_tokens),
                n(row.completion_tokens),
                n(row.cached_tokens),
                n(row.cache_creation_tokens),
                n(row.reasoning_tokens),
                row.cost_usd,
                n(row.latency_ms),
                row.ttft_ms.map(n),
                row.status,
                row.error,
                row.stream,
                row.cache_hit,
            ])?;
        }
    }
    tx.commit()
}

/// Receives the next batch into `buf`: what is queued, then whatever arrives within [`LINGER`]
/// until the batch is full or holds a flush. Returns `false` when the channel is closed and empty.
async fn next_batch(rx: &mut mpsc::Receiver<Msg>, buf: &mut Vec<Msg>) -> bool {
    if rx.recv_many(buf, BATCH).await == 0 {
        return false;
    }
    let until = tokio::time::Instant::now() + LINGER;
    while buf.len() < BATCH && !buf.iter().any(|m| matches!(m, Msg::Flush(_))) {
        match tokio::time::timeout_at(until, rx.recv_many(buf, BATCH - buf.len())).await {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    true
}

/// Rows the SQLite writer commits per transaction on its idle-priority thread (see
/// [`crate::idle_thread`]): few, so that a transaction held up by busy CPUs keeps the connection
/// (and `/spend/logs`) only briefly.
const IDLE_BATCH: usize = 64;

/// Rows queued beyond which the SQLite writer stops waiting for idle CPU time and writes on an
/// ordinary blocking thread, until the queue is short again.
const URGENT_BACKLOG: usize = 1_024;

/// How the writer writes its next rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextWrite {
    /// This many rows, on the idle-priority thread.
    Idle(usize),
    /// Every pending row, on an ordinary blocking thread.
    Urgent,
}

/// Idle CPU time suffices while the writer keeps up; a flush (shutdown, tests) or a backlog
/// must not wait for the CPUs to go idle.
fn next_write(pending: usize, queued: usize, flushing: bool) -> NextWrite {
    if flushing || queued >= URGENT_BACKLOG {
        NextWrite::Urgent
    } else {
        NextWrite::Idle(pending.min(IDLE_BATCH))
    }
}

async fn writer(mut rx: mpsc::Receiver<Msg>, db: Backend, batches: Arc<std::sync::atomic::AtomicU64>) {
    let idle = matches!(db, Backend::Sqlite(_)).then(|| IdleThread::new("spend-writer"));
    let mut buf = Vec::with_capacity(BATCH);
    while next_batch(&mut rx, &mut buf).await {
        let mut rows = Vec::new();
        let mut acks = Vec::new();
        for msg in buf.drain(..) {
            match msg {
                Msg::Row(r) => rows.push(*r),
                Msg::Flush(ack) => acks.push(ack),
            }
        }
        while !rows.is_empty() {
            let (count, on_idle) = match next_write(rows.len(), rx.len(), !acks.is_empty()) {
                NextWrite::Idle(n) => (n, true),
                NextWrite::Urgent => (rows.len(), false),
            };
            // The oldest `count` rows; the rest wait for the next round.
            let rest = rows.split_off(count);
            let chunk = std::mem::replace(&mut rows, rest);
            match write_rows(&db, idle.as_ref().filter(|_| on_idle), chunk).await {
                Ok(()) => {
                    batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(count, "spend rows written");
                }
                Err(e) => tracing::error!(count, error = %e, "spend rows could not be written"),
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// Writes `rows` in one transaction: SQLite on `idle` when given, else on a blocking thread.
async fn write_rows(db: &Backend, idle: Option<&IdleThread>, rows: Vec<SpendRow>) -> Result<(), String> {
    match db {
        Backend::Sqlite(db) => {
            let db = Arc::clone(db);
            let job = move || {
                let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
                insert(&mut conn, &rows).map_err(|e| e.to_string())
            };
            match idle {
                Some(thread) => thread
                    .run(job)
                    .await
                    .unwrap_or_else(|| Err("the writer's thread panicked or could not start".into())),
                None => tokio::task::spawn_blocking(job).await.map_err(|e| e.to_string()).and_then(|r| r),
            }
        }
        Backend::Postgres(c) => insert_pg(c, &rows).await.map_err(|e| e.to_string()),
    }
}

/// The [`SpendSink`] of a [`SpendStore`]: queues rows without blocking.
#[derive(Debug, Clone)]
pub struct SpendLog {
    tx: mpsc::Sender<Msg>,
}

impl SpendSink for SpendLog {
    fn record(&self, record: SpendRecord) {
        let row = Box::new(SpendRow::from_record(record));
        match self.tx.try_send(Msg::Row(row)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                // Never drop a row: wait for room on a task of its own.
                let tx = self.tx.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(handle) => {
                        handle.spawn(async move {
                            let _ = tx.send(msg).await;
                        });
                    }
                    Err(_) => tracing::error!("spend queue full outside a runtime: row lost"),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => tracing::error!("spend writer stopped: row lost"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use llm_core::{Caller, ErrorKind, Usage};
    use llm_cost::CostUnknown;

    use super::*;

    fn record(model: &str, key: &str, status: SpendStatus) -> SpendRecord {
        SpendRecord {
            request_id: Some("r".into()),
            model: model.into(),
            provider: Some("openai".into()),
            deployment: Some(format!("{model}-0")),
            caller: Caller { key_id: Some(key.into()), user_id: None, team_id: Some("t".into()) },
            tags: vec!["a".into(), "b".into()],
            usage: Some(Usage::new(10, 5).with_cached_tokens(2)),
            cost: Err(CostUnknown::NoUsage),
            latency: Duration::from_millis(12),
            time_to_first_token: None,
            status,
            started_at: SystemTime::now(),
            stream: false,
            cache_hit: false,
        }
    }

    #[test]
    fn the_writer_waits_for_idle_cpus_only_while_it_keeps_up() {
        assert_eq!(next_write(10, 0, false), NextWrite::Idle(10));
        assert_eq!(next_write(500, URGENT_BACKLOG - 1, false), NextWrite::Idle(IDLE_BATCH));
        assert_eq!(next_write(500, URGENT_BACKLOG, false), NextWrite::Urgent);
        assert_eq!(next_write(3, 0, true), NextWrite::Urgent);
    }

    /// Rows written without a flush go through the idle-priority thread, in transactions of at
    /// most [`IDLE_BATCH`] rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_without_a_flush_are_written_on_the_idle_thread() {
        let store = SpendStore::open(":memory:").unwrap();
        let sink = store.sink();
        for _ in 0..(IDLE_BATCH + 1) {
            sink.record(record("m", "k", SpendStatus::Success));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while store.batches_written() < 2 {
            assert!(std::time::Instant::now() < deadline, "rows not written without a flush");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(store.logs(SpendFilter::default()).await.unwrap().len(), IDLE_BATCH + 1);
        assert_eq!(store.batches_written(), 2, "{} rows in transactions of {IDLE_BATCH}", IDLE_BATCH + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_trickling_in_share_a_transaction_in_a_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spend.db");
        let store = SpendStore::open(path.to_str().unwrap()).unwrap();
        let sink = store.sink();
        for _ in 0..10 {
            sink.record(record("m", "k", SpendStatus::Success));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        store.flush().await;
        assert_eq!(store.logs(SpendFilter::default()).await.unwrap().len(), 10);
        let batches = store.batches_written();
        assert!(batches <= 2, "10 rows 1 ms apart took {batches} transactions");
        let other = Connection::open(&path).unwrap();
        let mode: String = other.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_rows_are_written_batched_and_queried() {
        let store = SpendStore::open(":memory:").unwrap();
        let sink = store.sink();
        for i in 0..(QUEUE_CAPACITY + 500) {
            let model = if i % 2 == 0 { "m1" } else { "m2" };
            sink.record(record(model, "k", SpendStatus::Success));
        }
        sink.record(record("m1", "k2", SpendStatus::Failed(ErrorKind::Timeout)));
        // Rows that waited for room are queued by their own tasks; give them a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.flush().await;
        let all = store.logs(SpendFilter { limit: Some(100_000), ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), QUEUE_CAPACITY + 501);
        let failed = store.logs(SpendFilter { key: Some("k2".into()), ..Default::default() }).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].status, "failed");
        assert_eq!(failed[0].error.as_deref(), Some(ErrorKind::Timeout.to_string().as_str()));
        assert_eq!((failed[0].prompt_tokens, failed[0].cached_tokens), (10, 2));
        assert_eq!(failed[0].tags, ["a", "b"]);
        let report = store.report(SpendFilter::default()).await.unwrap();
        assert_eq!(report.len(), 2);
        assert_eq!(report[0].group.as_deref(), Some("m1"));
        assert_eq!(report[0].failures, 1);
        let by_tag =
            store.report(SpendFilter { group_by: Some("tag".into()), ..Default::default() }).await.unwrap();
        assert_eq!(by_tag.len(), 2);
        let none =
            store.logs(SpendFilter { start: Some("2999-01-01".into()), ..Default::default() }).await.unwrap();
        assert!(none.is_empty());
        store.ping().await.unwrap();
    }
}
