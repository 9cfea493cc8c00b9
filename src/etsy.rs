//! The Etsy poller: a task that reads the shop's receipts changed since the cursor through
//! Etsy's Open API v3, one request at a time, and applies each page in one write with the
//! cursor. It refreshes the hour-long access token when Etsy refuses it, and backs off while
//! Etsy fails. It never runs on a request path.

use crate::clock;
use crate::domain::etsy::{Cursor, EtsyKey, OAuthToken, ShopId, backoff, status_words};
use crate::hooks::etsy::{Receipt, parse_page};
use crate::service::Loyalty;
use crate::storage::etsy::{self as store, EtsyAccount};
use std::time::Duration;

/// Where Etsy is and how often it is looked at, from `fealty serve`'s flags.
#[derive(Debug, Clone)]
pub struct EtsyConfig {
    /// Etsy's API base URL.
    pub api_base: String,
    /// For tests: poll this often instead of the owner's interval.
    pub poll_every: Option<Duration>,
}

impl Default for EtsyConfig {
    fn default() -> Self {
        EtsyConfig {
            api_base: "https://api.etsy.com".into(),
            poll_every: None,
        }
    }
}

/// The most receipts Etsy gives per page.
const LIMIT: usize = 100;
/// Most pages one poll reads; the rest waits for the next poll, so a shop's first poll of
/// years of receipts never holds the writer long.
const MAX_PAGES: usize = 10;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest page read (100 receipts with their transactions stay well under it).
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// How often the settings are looked at while nothing is due.
const IDLE: Duration = Duration::from_secs(5);

/// Starts the poller.
pub fn start(loyalty: Loyalty, config: EtsyConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("FealTY/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let idle = config.poll_every.map_or(IDLE, |e| e.min(IDLE));
        loop {
            let wait = match step(&loyalty, &client, &config, idle).await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "Etsy: reading or recording a poll failed");
                    idle
                }
            };
            tokio::time::sleep(wait).await;
        }
    })
}

/// Polls if a poll is due; returns how long to wait before looking again.
async fn step(
    loyalty: &Loyalty,
    client: &reqwest::Client,
    config: &EtsyConfig,
    idle: Duration,
) -> Result<Duration, crate::service::ServiceError> {
    let status = loyalty.etsy().await?;
    if !status.integration.enabled || !status.account.complete() {
        return Ok(idle);
    }
    let now = clock::now();
    if let Some(next) = status.state.next_poll.filter(|n| *n > now) {
        let left = Duration::try_from(next - now).unwrap_or(idle);
        return Ok(left.min(idle));
    }
    let every = config
        .poll_every
        .unwrap_or_else(|| status.account.poll_every.duration());
    let outcome = poll(loyalty, client, &config.api_base, status.account).await;
    match &outcome {
        Ok(0) => {}
        Ok(n) => tracing::info!(receipts = n, "Etsy: receipts applied"),
        Err(e) => {
            tracing::warn!(error = %e, "Etsy: poll failed (retried later; shown on /admin/integrations)")
        }
    }
    loyalty
        .store()
        .write(move |tx| {
            let at = clock::now();
            let mut s = store::state_for_update(tx)?;
            s.last_poll = Some(at);
            let wait = match &outcome {
                Ok(_) => {
                    s.failures = 0;
                    s.last_error = None;
                    every
                }
                Err(words) => {
                    s.failures = s.failures.saturating_add(1);
                    s.last_error = Some(words.clone());
                    backoff(every, s.failures)
                }
            };
            s.next_poll = Some(at + wait);
            store::save_state(tx, &s)
        })
        .await?;
    Ok(idle)
}

/// Why a request failed.
enum Failure {
    /// Etsy refused the access token: refresh it.
    Unauthorized,
    /// Anything else, in words.
    Other(String),
}

/// One poll: up to [`MAX_PAGES`] pages of receipts changed since the cursor, each applied
/// with the cursor in one write. Returns how many receipts were new, or why it stopped.
async fn poll(
    loyalty: &Loyalty,
    client: &reqwest::Client,
    base: &str,
    account: EtsyAccount,
) -> Result<usize, String> {
    let (Some(key), Some(shop), Some(mut access), Some(refresh)) = (
        account.api_key,
        account.shop_id,
        account.access_token,
        account.refresh_token,
    ) else {
        return Err("Etsy is not fully set up".into());
    };
    let mut refreshed = false;
    let mut offset = 0;
    let mut new = 0;
    for _ in 0..MAX_PAGES {
        let cursor = loyalty
            .store()
            .read(|tx| Ok(store::state(tx)?.cursor))
            .await
            .map_err(|e| e.to_string())?;
        let page = match fetch(client, base, &key, shop, &access, &cursor, offset).await {
            Err(Failure::Unauthorized) if !refreshed => {
                refreshed = true;
                access = refresh_tokens(loyalty, client, base, &key, &refresh).await?;
                fetch(client, base, &key, shop, &access, &cursor, offset).await
            }
            other => other,
        };
        let receipts = match page {
            Ok(r) => r,
            Err(Failure::Unauthorized) => return Err(status_words(401)),
            Err(Failure::Other(words)) => return Err(words),
        };
        let full = receipts.len() >= LIMIT;
        let applied = loyalty
            .store()
            .write(move |tx| store::apply_receipts(tx, &receipts, clock::now()))
            .await
            .map_err(|e| e.to_string())?;
        new += applied;
        if !full {
            break;
        }
        // The cursor moved: ask again from it. A full page of receipts changed in one second
        // moves nothing: read on past them.
        offset = if applied == 0 { offset + LIMIT } else { 0 };
    }
    Ok(new)
}

/// One page of receipts changed at or after the cursor's second, oldest change first.
async fn fetch(
    client: &reqwest::Client,
    base: &str,
    key: &EtsyKey,
    shop: ShopId,
    access: &OAuthToken,
    cursor: &Cursor,
    offset: usize,
) -> Result<Vec<Receipt>, Failure> {
    let url = format!(
        "{}/v3/application/shops/{}/receipts",
        base.trim_end_matches('/'),
        shop.get()
    );
    let query = [
        ("min_last_modified", cursor.updated.to_string()),
        ("limit", LIMIT.to_string()),
        ("offset", offset.to_string()),
        ("was_paid", "true".into()),
        ("sort_on", "updated".into()),
        ("sort_order", "asc".into()),
    ];
    let query = serde_urlencoded::to_string(query).map_err(|e| Failure::Other(e.to_string()))?;
    let resp = client
        .get(format!("{url}?{query}"))
        .header("x-api-key", key.expose())
        .header("authorization", format!("Bearer {}", access.expose()))
        .send()
        .await
        .map_err(unreachable_words)?;
    match resp.status().as_u16() {
        200..=299 => {}
        401 => return Err(Failure::Unauthorized),
        s => return Err(Failure::Other(status_words(s))),
    }
    let body = read_capped(resp).await?;
    parse_page(&body)
        .map(|p| p.results)
        .map_err(|e| Failure::Other(format!("Etsy sent receipts we cannot read: {e}")))
}

/// The response body, refused past [`MAX_PAGE_BYTES`].
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unreachable_words)? {
        if body.len() + chunk.len() > MAX_PAGE_BYTES {
            return Err(Failure::Other("Etsy sent a page too large to read".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unreachable_words(e: reqwest::Error) -> Failure {
    let why = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.without_url().to_string()
    };
    Failure::Other(format!("cannot reach Etsy: {why}"))
}

#[derive(serde::Deserialize)]
struct TokenReply {
    access_token: String,
    refresh_token: String,
}

/// Trades the refresh token for a new pair, stores both at once, and returns the new access
/// token. Etsy's refresh tokens are single-use, so the pair is saved before it is used.
async fn refresh_tokens(
    loyalty: &Loyalty,
    client: &reqwest::Client,
    base: &str,
    key: &EtsyKey,
    refresh: &OAuthToken,
) -> Result<OAuthToken, String> {
    let form = serde_urlencoded::to_string([
        ("grant_type", "refresh_token"),
        ("client_id", key.client_id()),
        ("refresh_token", refresh.expose()),
    ])
    .map_err(|e| e.to_string())?;
    let resp = client
        .post(format!(
            "{}/v3/public/oauth/token",
            base.trim_end_matches('/')
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| match unreachable_words(e) {
            Failure::Other(w) => w,
            Failure::Unauthorized => status_words(401),
        })?;
    match resp.status().as_u16() {
        200..=299 => {}
        // Etsy answers a spent or revoked refresh token with 400 invalid_grant.
        400 | 401 => return Err(status_words(401)),
        s => return Err(status_words(s)),
    }
    let body = read_capped(resp).await.map_err(|f| match f {
        Failure::Other(w) => w,
        Failure::Unauthorized => status_words(401),
    })?;
    let reply: TokenReply = serde_json::from_slice(&body)
        .map_err(|_| "Etsy sent a token reply we cannot read".to_owned())?;
    let unreadable = |_| "Etsy sent a token we cannot keep".to_owned();
    let access = OAuthToken::parse("access_token", &reply.access_token).map_err(unreadable)?;
    let refresh = OAuthToken::parse("refresh_token", &reply.refresh_token).map_err(unreadable)?;
    let (a, r) = (access.clone(), refresh);
    loyalty
        .store()
        .write(move |tx| {
            let mut account = store::account_for_update(tx)?;
            account.access_token = Some(a.clone());
            account.refresh_token = Some(r.clone());
            store::save_account(tx, &account)
        })
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("Etsy: access token refreshed");
    Ok(access)
}
