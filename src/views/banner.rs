//! The one banner that tells a person, at the top of the page, what their last action did.

use maud::{Markup, html};

/// Id of a refusal banner: the failing field's `aria-describedby` points at it.
pub const REFUSED_ID: &str = "refused";

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// It was done: announced politely (`role=status`).
    Done,
    /// It was refused: announced at once (`role=alert`).
    Refused,
}

/// The result of an action, shown first on the page that answers it.
#[derive(Debug, Clone)]
pub struct Banner {
    /// Done or refused.
    pub tone: Tone,
    /// What happened, as a sentence for a person.
    pub message: String,
}

impl Banner {
    /// A result that went through.
    pub fn done(message: impl Into<String>) -> Self {
        Self {
            tone: Tone::Done,
            message: message.into(),
        }
    }

    /// A refusal.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            tone: Tone::Refused,
            message: message.into(),
        }
    }

    /// The banner with only its message.
    pub fn render(&self) -> Markup {
        banner(self.tone, html! { (self.message) }, false)
    }
}

/// A banner around `body`; `focus` puts the focus on a refusal that has no field to focus.
pub fn banner(tone: Tone, body: Markup, focus: bool) -> Markup {
    match tone {
        Tone::Done => html! { div.banner.result #result role="status" { (body) } },
        // Focusable only when focused on load, so Tab order is not cluttered.
        Tone::Refused => html! {
            div.banner.problem #(REFUSED_ID) role="alert" tabindex=[focus.then_some("-1")] autofocus[focus] { (body) }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_done_banner_is_a_status_and_a_refusal_an_alert() {
        let done = Banner::done("Added 12 points.").render().into_string();
        assert!(done.contains(r#"id="result""#) && done.contains(r#"role="status""#));
        let refused = Banner::refused("Not enough points.").render().into_string();
        assert!(refused.contains(r#"id="refused""#) && refused.contains(r#"role="alert""#));
        assert!(!refused.contains("autofocus"), "{refused}");
        let focused = banner(Tone::Refused, html! { "No." }, true).into_string();
        assert!(focused.contains("autofocus") && focused.contains(r#"tabindex="-1""#));
    }
}
