//! The point-transaction workload of bench/throughput.rs on SQLite, for comparison.
//!
//! A minimal server of the same shape as fealty's API: `POST /api/v1/members` makes a member,
//! `POST /api/v1/members/{id}/transactions` with a bearer key and an `Idempotency-Key` earns
//! or redeems points. Each change is one SQLite transaction (the idempotency lookup, the
//! balance row, a ledger row and an idempotency row) committed in WAL mode with
//! `synchronous=FULL`, so every answer waits for its own WAL sync: the usual way to run
//! SQLite durably, one connection, no batching across requests.
//!
//! Usage: `sqlite-baseline --listen ADDR --data DIR --key KEY`; prints `listening on URL`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex, PoisonError};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS members (
        id TEXT PRIMARY KEY,
        balance INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS ledger (
        seq INTEGER PRIMARY KEY,
        member_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        points INTEGER NOT NULL,
        balance_after INTEGER NOT NULL,
        idempotency_key TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ledger_member ON ledger (member_id, seq);
    CREATE TABLE IF NOT EXISTS idempotency (
        key TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        status INTEGER NOT NULL
    ) WITHOUT ROWID;
";

#[derive(Clone)]
struct App {
    db: Arc<Mutex<Connection>>,
    key: Arc<str>,
}

/// Why a request was not served.
enum Refusal {
    Status(StatusCode, &'static str),
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Self {
        Refusal::Db(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Status(status, why) => (status, Json(json!({ "title": why }))).into_response(),
            Refusal::Db(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "title": e.to_string() })),
            )
                .into_response(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Earn,
    Redeem,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionRequest {
    kind: Kind,
    points: i64,
}

fn authorised(app: &App, headers: &HeaderMap) -> Result<(), Refusal> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(&*app.key) {
        Ok(())
    } else {
        Err(Refusal::Status(StatusCode::UNAUTHORIZED, "bad key"))
    }
}

/// Runs `f` on the one connection, off the async threads.
async fn with_db<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&mut Connection) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || f(&mut db.lock().unwrap_or_else(PoisonError::into_inner)))
        .await
        .map_err(|_| Refusal::Status(StatusCode::INTERNAL_SERVER_ERROR, "the task failed"))?
}

async fn create_member(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<serde_json::Value>), Refusal> {
    authorised(&app, &headers)?;
    let id = with_db(&app, |db| {
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n: i64 = tx.query_row("SELECT count(*) FROM members", [], |r| r.get(0))?;
        let id = format!("M{:025}", n + 1);
        tx.execute(
            "INSERT INTO members (id, balance) VALUES (?1, 0)",
            params![id],
        )?;
        tx.commit()?;
        Ok(id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "balance": 0 }))))
}

async fn transact(
    State(app): State<App>,
    Path(member): Path<String>,
    headers: HeaderMap,
    Json(req): Json<TransactionRequest>,
) -> Result<Response, Refusal> {
    authorised(&app, &headers)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or(Refusal::Status(
            StatusCode::BAD_REQUEST,
            "missing Idempotency-Key",
        ))?
        .to_owned();
    if req.points <= 0 {
        return Err(Refusal::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "points must be positive",
        ));
    }
    let (kind, points) = match req.kind {
        Kind::Earn => ("earn", req.points),
        Kind::Redeem => ("redeem", -req.points),
    };
    let (status, entry) = with_db(&app, move |db| {
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: Option<(i64, u16)> = tx
            .query_row(
                "SELECT seq, status FROM idempotency WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((seq, status)) = stored {
            let entry = tx.query_row(
                "SELECT seq, member_id, kind, points, balance_after FROM ledger WHERE seq = ?1",
                params![seq],
                |r| {
                    Ok(json!({
                        "seq": r.get::<_, i64>(0)?,
                        "member_id": r.get::<_, String>(1)?,
                        "kind": r.get::<_, String>(2)?,
                        "points": r.get::<_, i64>(3)?,
                        "balance_after": r.get::<_, i64>(4)?,
                    }))
                },
            )?;
            return Ok((status, entry));
        }
        let balance: i64 = tx
            .query_row(
                "SELECT balance FROM members WHERE id = ?1",
                params![member],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(Refusal::Status(StatusCode::NOT_FOUND, "no such member"))?;
        let after = balance + points;
        if after < 0 {
            return Err(Refusal::Status(StatusCode::CONFLICT, "insufficient points"));
        }
        tx.execute(
            "UPDATE members SET balance = ?1 WHERE id = ?2",
            params![after, member],
        )?;
        tx.execute(
            "INSERT INTO ledger (member_id, kind, points, balance_after, idempotency_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, unixepoch('subsec') * 1000)",
            params![member, kind, points, after, key],
        )?;
        let seq = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO idempotency (key, seq, status) VALUES (?1, ?2, 201)",
            params![key, seq],
        )?;
        tx.commit()?;
        Ok((
            201,
            json!({
                "seq": seq,
                "member_id": member,
                "kind": kind,
                "points": points,
                "balance_after": after,
            }),
        ))
    })
    .await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    Ok((status, Json(json!({ "entry": entry }))).into_response())
}

struct Args {
    listen: String,
    data: std::path::PathBuf,
    key: String,
}

fn args() -> Result<Args, String> {
    let mut listen = None;
    let mut data = None;
    let mut key = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--data" => data = Some(value.into()),
            "--key" => key = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        data: data.ok_or("--data is required")?,
        key: key.ok_or("--key is required")?,
    })
}

fn open(dir: &std::path::Path) -> Result<Connection, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let db = Connection::open(dir.join("baseline.sqlite")).map_err(|e| e.to_string())?;
    let mode: String = db
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if mode != "wal" {
        return Err(format!("SQLite refused WAL mode ({mode})"));
    }
    db.execute_batch("PRAGMA synchronous = FULL;")
        .and_then(|()| db.execute_batch(SCHEMA))
        .map_err(|e| e.to_string())?;
    Ok(db)
}

#[tokio::main]
async fn main() {
    if let Err(e) = serve().await {
        eprintln!("sqlite-baseline: {e}");
        std::process::exit(1);
    }
}

async fn serve() -> Result<(), String> {
    let args = args()?;
    let app = App {
        db: Arc::new(Mutex::new(open(&args.data)?)),
        key: args.key.into(),
    };
    let router = Router::new()
        .route("/api/v1/members", post(create_member))
        .route("/api/v1/members/{id}/transactions", post(transact))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("{}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}");
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}
