//! The admin API (master key only), with LiteLLM's paths and field names: `/key/*`, `/team/*`,
//! `/user/*`.

use std::sync::Arc;

use axum::Router as HttpRouter;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use llm_core::{ErrorKind, LlmError};
use llm_cost::{BudgetScope, BudgetWindow};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{Access, KeyRecord, Table, TeamRecord, UserRecord, display_name, hash_key, new_key, unix_now};

type Result<T, E = Fail> = std::result::Result<T, E>;

/// An admin API error, answered in OpenAI's shape.
#[derive(Debug)]
struct Fail {
    kind: ErrorKind,
    message: String,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let e = LlmError::new(self.kind, self.message);
        let status =
            StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(e.to_openai_body())).into_response()
    }
}

/// The admin routes, on `access`.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(access: Arc<Access>) -> HttpRouter<S> {
    HttpRouter::new()
        .route("/key/generate", post(key_generate))
        .route("/key/update", post(key_update))
        .route("/key/delete", post(key_delete))
        .route("/key/info", get(key_info))
        .route("/key/list", get(key_list))
        .route("/key/regenerate", post(key_regenerate))
        .route("/key/{key}/regenerate", post(key_regenerate_path))
        .route("/key/block", post(key_block))
        .route("/key/unblock", post(key_unblock))
        .route("/team/new", post(team_new))
        .route("/team/update", post(team_update))
        .route("/team/delete", post(team_delete))
        .route("/team/info", get(team_info))
        .route("/team/list", get(team_list))
        .route("/user/new", post(user_new))
        .route("/user/info", get(user_info))
        .with_state(access)
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Fail {
    Fail { kind, message: message.into() }
}

fn bad(message: impl Into<String>) -> Fail {
    error(ErrorKind::BadRequest, message)
}

fn not_found(message: impl Into<String>) -> Fail {
    error(ErrorKind::NotFound, message)
}

fn internal(e: impl std::fmt::Display) -> Fail {
    tracing::error!(error = %e, "key store failed");
    error(ErrorKind::Internal, "key store failed")
}

fn body(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>> {
    let bytes = body.map_err(|r| bad(format!("cannot read the request body: {}", r.body_text())))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad("the body must be a JSON object")),
        Err(e) => Err(bad(format!("malformed JSON body: {e}"))),
    }
}

/// `base` with the fields of `patch` (except `protected`) replaced, read back as a `T`.
fn merge<T: serde::Serialize + DeserializeOwned>(
    base: &T,
    patch: Map<String, Value>,
    protected: &[&str],
) -> Result<T> {
    let mut value = serde_json::to_value(base).map_err(internal)?;
    if let Value::Object(fields) = &mut value {
        for (k, v) in patch {
            if !protected.contains(&k.as_str()) {
                fields.insert(k, v);
            }
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        bad(format!("invalid field `{path}`: {}", e.into_inner()))
    })
}

fn check_budget(max: Option<f64>, duration: Option<&str>) -> Result<()> {
    if let Some(m) = max.filter(|m| !m.is_finite() || *m < 0.0) {
        return Err(bad(format!("max_budget {m} is not >= 0")));
    }
    if let Some(d) = duration {
        d.parse::<BudgetWindow>().map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

/// Takes LiteLLM's `duration` (`30d`) out of `patch` as an `expires` time.
fn take_duration(patch: &mut Map<String, Value>) -> Result<()> {
    match patch.remove("duration") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(d)) => {
            let w = d.parse::<BudgetWindow>().map_err(|e| bad(e.to_string()))?;
            let secs = i64::try_from(w.period().as_secs()).unwrap_or(i64::MAX);
            patch.insert("expires".into(), json!(unix_now().saturating_add(secs)));
            Ok(())
        }
        Some(_) => Err(bad("invalid field `duration`: expected a string like `30d`")),
    }
}

/// Reads `expires` in `patch` as Unix seconds: an integer (Unix seconds, also as a string), an
/// ISO 8601 / RFC 3339 datetime string as LiteLLM sends it (`2026-12-01T00:00:00Z`, with an
/// offset, or without one for UTC), or `null` (never expires).
fn take_expires(patch: &mut Map<String, Value>) -> Result<()> {
    let Some(value) = patch.get_mut("expires") else { return Ok(()) };
    let secs = match &*value {
        Value::Null => return Ok(()),
        Value::Number(n) => n.as_i64().or_else(|| {
            // Whole seconds of a fractional time; out of any sensible range is an error.
            n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15).map(|f| f.floor() as i64)
        }),
        Value::String(text) => parse_time(text.trim()),
        _ => None,
    };
    match secs {
        Some(secs) => {
            *value = json!(secs);
            Ok(())
        }
        None => Err(bad("invalid field `expires`: expected Unix seconds, an ISO 8601 datetime like \
             `2026-12-01T00:00:00Z`, or null")),
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the inverse of
/// [`llm_core::civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix seconds of `text`: digits (Unix seconds), or `YYYY-MM-DD` optionally followed by `T` (or
/// a space) and `HH:MM[:SS[.fraction]]` and an offset (`Z` or `±HH[:MM]`; none: UTC).
/// Fractions of a second are dropped.
fn parse_time(text: &str) -> Option<i64> {
    if !text.is_empty() && text.strip_prefix('-').unwrap_or(text).bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (year, month, day) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut rest = &b[10..];
    if rest.is_empty() {
        return Some(secs);
    }
    if !matches!(rest[0], b'T' | b't' | b' ') {
        return None;
    }
    rest = &rest[1..];
    let two = |s: &[u8]| -> Option<u32> {
        let d = s.get(..2)?;
        d.iter().all(u8::is_ascii_digit).then(|| u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'))
    };
    let hour = two(rest)?;
    if rest.get(2) != Some(&b':') {
        return None;
    }
    let minute = two(&rest[3..])?;
    rest = &rest[5..];
    let mut second = 0;
    if rest.first() == Some(&b':') {
        second = two(&rest[1..])?;
        rest = &rest[3..];
        if matches!(rest.first(), Some(b'.' | b',')) {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            rest = &rest[1 + digits..];
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    secs += i64::from(hour * 3600 + minute * 60 + second);
    let offset = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (h, m) = match tail {
                [_, _] => (two(tail)?, 0),
                [_, _, b':', _, _] => (two(tail)?, two(&tail[3..])?),
                [_, _, _, _] => (two(tail)?, two(&tail[2..])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let offset = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    Some(secs - offset)
}

const KEY_PROTECTED: &[&str] = &["token", "key_id", "key_name", "created_at", "key", "spend"];

async fn resolve_key(access: &Access, key: Option<&Value>) -> Result<Arc<KeyRecord>> {
    let key = key.and_then(Value::as_str).ok_or_else(|| bad("missing field `key`"))?;
    // The plaintext key or its hash (`token`).
    let token = if key.starts_with("sk-") { hash_key(key) } else { key.to_owned() };
    let record = access.store.key(&token).await.map_err(internal)?.ok_or_else(|| not_found("no such key"))?;
    // A key made or changed on another replica: its budget and spend so far, for `spend`.
    access.ensure_key_budget(&record).await;
    Ok(record)
}

async fn validate_key(access: &Access, record: &KeyRecord) -> Result<()> {
    check_budget(record.max_budget, record.budget_duration.as_deref())?;
    if let Some(team) = &record.team_id
        && access.store.team(team).await.map_err(internal)?.is_none()
    {
        return Err(bad(format!("team `{team}` does not exist")));
    }
    if let Some(alias) = &record.key_alias
        && access.store.token_by_alias(alias).await.map_err(internal)?.is_some_and(|t| t != record.token)
    {
        return Err(bad(format!("key_alias `{alias}` is already used")));
    }
    Ok(())
}

async fn save_key(access: &Access, record: KeyRecord) -> Result<Arc<KeyRecord>> {
    let record = access.store.put_key(record).await.map_err(internal)?;
    access.sync_key_budget(&record).await;
    Ok(record)
}

async fn key_json(access: &Access, record: &KeyRecord) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or_default();
    v["spend"] = json!(access.spent(&BudgetScope::Key(record.key_id())).await);
    v
}

async fn key_generate(
    State(access): State<Arc<Access>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let mut patch = body(b)?;
    take_duration(&mut patch)?;
    take_expires(&mut patch)?;
    let key = new_key().map_err(internal)?;
    let token = hash_key(&key);
    let base = KeyRecord {
        token: token.clone(),
        key_id: token,
        key_name: display_name(&key),
        created_at: unix_now(),
        ..KeyRecord::default()
    };
    let record = merge(&base, patch, KEY_PROTECTED)?;
    validate_key(&access, &record).await?;
    let record = save_key(&access, record).await?;
    let mut v = key_json(&access, &record).await;
    v["key"] = json!(key);
    Ok(axum::Json(v).into_response())
}

async fn key_update(State(access): State<Arc<Access>>, b: Result<Bytes, BytesRejection>) -> Result<Response> {
    let mut patch = body(b)?;
    let current = resolve_key(&access, patch.get("key")).await?;
    take_duration(&mut patch)?;
    take_expires(&mut patch)?;
    let record = merge(&*current, patch, KEY_PROTECTED)?;
    validate_key(&access, &record).await?;
    let record = save_key(&access, record).await?;
    Ok(axum::Json(key_json(&access, &record).await).into_response())
}

fn strings(patch: &Map<String, Value>, field: &str) -> Result<Vec<String>> {
    match patch.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| bad(format!("invalid field `{field}`: expected a list of strings"))),
    }
}

async fn key_delete(State(access): State<Arc<Access>>, b: Result<Bytes, BytesRejection>) -> Result<Response> {
    let patch = body(b)?;
    let mut tokens = Vec::new();
    for key in strings(&patch, "keys")? {
        tokens.push(resolve_key(&access, Some(&json!(key))).await?.token.clone());
    }
    for alias in strings(&patch, "key_aliases")? {
        let token = access.store.token_by_alias(&alias).await.map_err(internal)?;
        tokens.push(token.ok_or_else(|| not_found(format!("no key with alias `{alias}`")))?);
    }
    if tokens.is_empty() {
        return Err(bad("give `keys` or `key_aliases`"));
    }
    for t in &tokens {
        access.store.delete_key(t).await.map_err(internal)?;
    }
    Ok(axum::Json(json!({"deleted_keys": tokens})).into_response())
}

#[derive(Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

async fn key_info(State(access): State<Arc<Access>>, Query(q): Query<KeyQuery>) -> Result<Response> {
    let record = resolve_key(&access, q.key.map(Value::String).as_ref()).await?;
    let info = key_json(&access, &record).await;
    Ok(axum::Json(json!({"key": record.token, "info": info})).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<String>,
    user_id: Option<String>,
    key_alias: Option<String>,
    #[serde(default)]
    return_full_object: bool,
}

async fn key_list(State(access): State<Arc<Access>>, Query(q): Query<ListQuery>) -> Result<Response> {
    let keys: Vec<KeyRecord> = access.store.list(Table::Keys).await.map_err(internal)?;
    let keys: Vec<KeyRecord> = keys
        .into_iter()
        .filter(|k| q.team_id.is_none() || k.team_id == q.team_id)
        .filter(|k| q.user_id.is_none() || k.user_id == q.user_id)
        .filter(|k| q.key_alias.is_none() || k.key_alias == q.key_alias)
        .collect();
    let mut out = Vec::with_capacity(keys.len());
    for k in &keys {
        out.push(if q.return_full_object { key_json(&access, k).await } else { json!(k.token) });
    }
    Ok(axum::Json(json!({"keys": out, "total_count": keys.len()})).into_response())
}

async fn regenerate(access: &Access, current: &KeyRecord) -> Result<Response> {
    let key = new_key().map_err(internal)?;
    let token = hash_key(&key);
    let record =
        KeyRecord { token, key_id: current.key_id(), key_name: display_name(&key), ..current.clone() };
    access.store.delete_key(&current.token).await.map_err(internal)?;
    let record = save_key(access, record).await?;
    let mut v = key_json(access, &record).await;
    v["key"] = json!(key);
    Ok(axum::Json(v).into_response())
}

async fn key_regenerate(
    State(access): State<Arc<Access>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let patch = body(b)?;
    let current = resolve_key(&access, patch.get("key")).await?;
    regenerate(&access, &current).await
}

async fn key_regenerate_path(State(access): State<Arc<Access>>, Path(key): Path<String>) -> Result<Response> {
    let current = resolve_key(&access, Some(&Value::String(key))).await?;
    regenerate(&access, &current).await
}

async fn set_blocked(access: &Access, b: Result<Bytes, BytesRejection>, blocked: bool) -> Result<Response> {
    let patch = body(b)?;
    let current = resolve_key(access, patch.get("key")).await?;
    let record = access.store.put_key(KeyRecord { blocked, ..(*current).clone() }).await.map_err(internal)?;
    Ok(axum::Json(key_json(access, &record).await).into_response())
}

async fn key_block(State(access): State<Arc<Access>>, b: Result<Bytes, BytesRejection>) -> Result<Response> {
    set_blocked(&access, b, true).await
}

async fn key_unblock(
    State(access): State<Arc<Access>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response> {
    set_blocked(&access, b, false).await
}

const TEAM_PROTECTED: &[&str] = &["team_id", "created_at", "spend"];

/// LiteLLM's `members_with_roles: [{user_id, role}]`, folded into `members`.
fn take_members(patch: &mut Map<String, Value>) {
    if let Some(Value::Array(list)) = patch.remove("members_with_roles") {
        let ids: Vec<Value> = list.iter().filter_map(|m| m.get("user_id").cloned()).collect();
        patch.insert("members".into(), Value::Array(ids));
    }
}

async fn save_team(access: &Access, record: TeamRecord) -> Result<Value> {
    check_budget(record.max_budget, record.budget_duration.as_deref())?;
    let record = access.store.put_team(record).await.map_err(internal)?;
    let scope = BudgetScope::Team(record.team_id.clone());
    access.sync_team_budget(&record).await;
    let mut v = serde_json::to_value(&*record).unwrap_or_default();
    v["spend"] = json!(access.spent(&scope).await);
    Ok(v)
}

async fn team_new(State(access): State<Arc<Access>>, b: Result<Bytes, BytesRejection>) -> Result<Response> {
    let mut patch = body(b)?;
    take_members(&mut patch);
    let team_id = match patch.get("team_id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        Some(_) => return Err(bad("invalid field `team_id`: expected a non-empty string")),
    };
    if access.store.team(&team_id).await.map_err(internal)?.is_some() {
        return Err(bad(format!("team `{team_id}` already exists")));
    }
    let base = TeamRecord { team_id, created_at: unix_now(), ..TeamRecord::default() };
    let record = merge(&base, patch, TEAM_PROTECTED)?;
    Ok(axum::Json(save_team(&access, record).await?).into_response())
}

async fn resolve_team(access: &Access, team_id: Option<&str>) -> Result<Arc<TeamRecord>> {
    let id = team_id.ok_or_else(|| bad("missing field `team_id`"))?;
    access.store.team(id).await.map_err(internal)?.ok_or_else(|| not_found(format!("no team `{id}`")))
}

async fn team_update(
    State(access): State<Arc<Access>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let mut patch = body(b)?;
    take_members(&mut patch);
    let current = resolve_team(&access, patch.get("team_id").and_then(Value::as_str)).await?;
    let record = merge(&*current, patch, TEAM_PROTECTED)?;
    Ok(axum::Json(save_team(&access, record).await?).into_response())
}

async fn team_delete(
    State(access): State<Arc<Access>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let patch = body(b)?;
    let ids = strings(&patch, "team_ids")?;
    if ids.is_empty() {
        return Err(bad("give `team_ids`"));
    }
    for id in &ids {
        resolve_team(&access, Some(id)).await?;
    }
    for id in &ids {
        access.store.delete_team(id).await.map_err(internal)?;
    }
    Ok(axum::Json(json!({"deleted_teams": ids})).into_response())
}

#[derive(Deserialize)]
struct TeamQuery {
    team_id: Option<String>,
}

async fn team_info(State(access): State<Arc<Access>>, Query(q): Query<TeamQuery>) -> Result<Response> {
    let team = resolve_team(&access, q.team_id.as_deref()).await?;
    access.ensure_team_budget(&team).await;
    let mut info = serde_json::to_value(&*team).unwrap_or_default();
    info["spend"] = json!(access.spent(&BudgetScope::Team(team.team_id.clone())).await);
    let keys: Vec<KeyRecord> = access.store.list(Table::Keys).await.map_err(internal)?;
    let keys: Vec<&str> = keys
        .iter()
        .filter(|k| k.team_id.as_deref() == Some(&team.team_id))
        .map(|k| k.token.as_str())
        .collect();
    Ok(axum::Json(json!({"team_id": team.team_id, "team_info": info, "keys": keys})).into_response())
}

async fn team_list(State(access): State<Arc<Access>>) -> Result<Response> {
    let teams: Vec<TeamRecord> = access.store.list(Table::Teams).await.map_err(internal)?;
    Ok(axum::Json(teams).into_response())
}

async fn user_new(State(access): State<Arc<Access>>, b: Result<Bytes, BytesRejection>) -> Result<Response> {
    let patch = body(b)?;
    let user_id = match patch.get("user_id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(u)) if !u.trim().is_empty() => u.clone(),
        Some(_) => return Err(bad("invalid field `user_id`: expected a non-empty string")),
    };
    if access.store.user(&user_id).await.map_err(internal)?.is_some() {
        return Err(bad(format!("user `{user_id}` already exists")));
    }
    let base = UserRecord { user_id, created_at: unix_now(), ..UserRecord::default() };
    let record: UserRecord = merge(&base, patch, &["user_id", "created_at", "spend"])?;
    check_budget(record.max_budget, record.budget_duration.as_deref())?;
    access.store.put_user(&record).await.map_err(internal)?;
    access.sync_user_budget(&record).await;
    Ok(axum::Json(record).into_response())
}

#[derive(Deserialize)]
struct UserQuery {
    user_id: Option<String>,
}

async fn user_info(State(access): State<Arc<Access>>, Query(q): Query<UserQuery>) -> Result<Response> {
    let id = q.user_id.ok_or_else(|| bad("missing field `user_id`"))?;
    let user = access
        .store
        .user(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no user `{id}`")))?;
    access.ensure_user_budget(&user).await;
    let mut info = serde_json::to_value(&*user).unwrap_or_default();
    info["spend"] = json!(access.spent(&BudgetScope::User(id.clone())).await);
    let keys: Vec<KeyRecord> = access.store.list(Table::Keys).await.map_err(internal)?;
    let keys: Vec<&str> =
        keys.iter().filter(|k| k.user_id.as_deref() == Some(&id)).map(|k| k.token.as_str()).collect();
    Ok(axum::Json(json!({"user_id": id, "user_info": info, "keys": keys})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in [-800_000, -719_468, -1, 0, 1, 11_016, 20_000, 20_788, 2_932_896] {
            let (y, m, d) = llm_core::civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn expires_takes_unix_seconds_and_iso_8601() {
        // 2026-12-01T00:00:00Z.
        const DEC_1: i64 = 1_796_083_200;
        for (text, want) in [
            ("2026-12-01T00:00:00Z", Some(DEC_1)),
            ("2026-12-01t00:00:00z", Some(DEC_1)),
            ("2026-12-01T00:00:00+00:00", Some(DEC_1)),
            ("2026-12-01T01:30:00+01:30", Some(DEC_1)),
            ("2026-11-30T19:00:00-0500", Some(DEC_1)),
            ("2026-11-30T23:00-01", Some(DEC_1)),
            ("2026-12-01 00:00:00", Some(DEC_1)),
            ("2026-12-01T00:00:00.999999", Some(DEC_1)),
            ("2026-12-01", Some(DEC_1)),
            ("2026-12-01T00:00:01Z", Some(DEC_1 + 1)),
            ("2024-02-29T12:00:00Z", Some(1_709_208_000)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("1796083200", Some(DEC_1)),
            ("2023-02-29", None),
            ("2026-13-01", None),
            ("2026-12-01T24:00:00Z", None),
            ("2026-12-01T00:60:00Z", None),
            ("2026-12-01T00:00:00+25:00", None),
            ("2026-12-01T00:00:00.Z", None),
            ("2026-12-01T00", None),
            ("2026-12-01X00:00:00", None),
            ("2026-12-01T00:00:00Zjunk", None),
            ("26-12-01", None),
            ("next tuesday", None),
            ("", None),
            ("ÿÿÿÿ-12-01", None),
        ] {
            assert_eq!(parse_time(text), want, "{text}");
        }
        let take = |v: Value| {
            let mut patch = Map::from_iter([("expires".to_owned(), v)]);
            take_expires(&mut patch).map(|()| patch["expires"].clone())
        };
        assert_eq!(take(json!(DEC_1)).unwrap(), json!(DEC_1));
        assert_eq!(take(json!(1.5)).unwrap(), json!(1));
        assert_eq!(take(json!("2026-12-01T00:00:00Z")).unwrap(), json!(DEC_1));
        assert_eq!(take(Value::Null).unwrap(), Value::Null);
        for wrong in [json!("soon"), json!(true), json!([1]), json!(1e300)] {
            let e = take(wrong.clone()).unwrap_err();
            assert!(e.message.contains("`expires`"), "{wrong}: {}", e.message);
        }
        let mut untouched = Map::new();
        take_expires(&mut untouched).unwrap();
        assert!(untouched.is_empty());
    }
}
