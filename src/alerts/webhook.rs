//! The webhook channel: alerts posted to the owner's URL (ntfy, Slack, Discord or anything
//! that takes JSON).

use crate::domain::alerts::{Message, WebhookFormat, WebhookUrl};
use std::time::Duration;

/// Discord refuses `content` longer than this.
const DISCORD_MAX: usize = 2000;

/// Posts `m` to `url` in `format`; the error in plain words (never the URL, which may hold a
/// secret token).
pub async fn send(
    client: &reqwest::Client,
    url: &WebhookUrl,
    format: WebhookFormat,
    m: &Message,
) -> Result<(), String> {
    let text = format!("{}\n\n{}", m.subject, m.body);
    let req = client.post(url.as_str()).timeout(Duration::from_secs(20));
    let req = match format {
        WebhookFormat::Json => {
            let body = serde_json::json!({
                "text": text,
                "content": text.chars().take(DISCORD_MAX).collect::<String>(),
                "title": m.subject,
                "message": m.body,
                "event": m.kind.as_str(),
                "alert": m.key,
                "at": m.created.unix_timestamp(),
            });
            req.header("content-type", "application/json")
                .body(body.to_string())
        }
        // ntfy takes the body as the message and the title from a header (ASCII only there).
        WebhookFormat::Text => req
            .header("title", ascii(&m.subject))
            .header("content-type", "text/plain; charset=utf-8")
            .body(m.body.clone()),
    };
    let resp = req.send().await.map_err(|e| {
        format!(
            "the webhook could not be reached: {}",
            chain(&e.without_url())
        )
    })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {status}"))
    }
}

fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The error and its causes, as one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
