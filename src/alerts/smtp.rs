//! The email channel: alerts sent over SMTP with lettre (rustls).

use crate::domain::alerts::Message;
use crate::domain::email::Email;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (usually port 587); refused without it.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption: only to a mail server on this machine (loopback).
    Plain,
}

impl Security {
    /// Parses `starttls`, `tls` or `plain`.
    pub fn parse(raw: &str) -> Result<Security, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            "plain" => Ok(Self::Plain),
            _ => Err(format!(
                "--smtp-security {raw:?} is not one of starttls, tls, plain"
            )),
        }
    }

    /// The port usual for it.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::Plain => 25,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "STARTTLS",
            Self::Tls => "TLS",
            Self::Plain => "plain",
        }
    }
}

/// A password that never shows in logs or debug output.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(p: String) -> Password {
        Password(p)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// The mail server alerts are sent through.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Its host name.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
    /// The user and password, if it wants a log-in.
    pub login: Option<(String, Password)>,
    /// The sender address.
    pub from: Email,
    /// A CA certificate (PEM) trusted beside the public ones, for a mail server with a private CA.
    pub ca_pem: Option<Vec<u8>>,
}

impl SmtpConfig {
    /// Checks the parts: plain connections only to loopback, a log-in needs both parts.
    pub fn new(
        host: &str,
        port: Option<u16>,
        security: Security,
        login: Option<(String, Password)>,
        from: &str,
    ) -> Result<SmtpConfig, String> {
        let host = host.trim().to_owned();
        if host.is_empty() {
            return Err("--smtp-host is empty".into());
        }
        if security == Security::Plain && !is_loopback(&host) {
            return Err(format!(
                "--smtp-security plain sends the password and alerts unencrypted: it is allowed \
                 only to a mail server on this machine (localhost), not {host}"
            ));
        }
        let from = Email::parse(from)
            .map_err(|_| format!("--smtp-from {from:?} is not a valid email address"))?;
        Ok(SmtpConfig {
            port: port.unwrap_or(security.default_port()),
            host,
            security,
            login,
            from,
            ca_pem: None,
        })
    }

    /// Also trusts the CA certificate(s) in `pem` for the mail server's certificate.
    pub fn trusting(mut self, pem: Vec<u8>) -> Result<SmtpConfig, String> {
        // lettre skips other PEM sections silently: a key alone would trust nothing.
        let has_certificate = pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----");
        lettre::transport::smtp::client::Certificate::from_pem(&pem)
            .ok()
            .filter(|_| has_certificate)
            .ok_or("--smtp-ca-cert is not a PEM certificate")?;
        self.ca_pem = Some(pem);
        Ok(self)
    }

    fn tls_parameters(&self) -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.ca_pem {
            let ca = lettre::transport::smtp::client::Certificate::from_pem(pem)
                .map_err(|e| format!("the mail server's CA certificate: {e}"))?;
            b = b.add_root_certificate(ca);
        }
        b.build_rustls()
            .map_err(|e| format!("the mail server {}: {e}", self.host))
    }

    /// What `fealty status` shows (no secrets).
    pub fn describe(&self) -> String {
        format!(
            "{}:{} ({}) from {}",
            self.host,
            self.port,
            self.security.as_str(),
            self.from.as_str()
        )
    }

    /// Sends the owner alert `m` to `to`; the error in plain words.
    pub async fn send(&self, m: &Message, to: &[Email]) -> Result<(), String> {
        if to.is_empty() {
            return Err("no alert email address is set".into());
        }
        self.send_mail(&Outgoing {
            to,
            subject: &m.subject,
            text: &m.body,
            html: None,
            unsubscribe: None,
        })
        .await
    }

    /// Sends one mail; the error in plain words.
    pub async fn send_mail(&self, m: &Outgoing<'_>) -> Result<(), String> {
        let mut builder = lettre::Message::builder()
            .from(mailbox(&self.from)?)
            .subject(m.subject.to_owned());
        for t in m.to {
            builder = builder.to(mailbox(t)?);
        }
        if let Some(url) = m.unsubscribe {
            // RFC 8058: mail clients offer an unsubscribe button that posts to the URL at once.
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let email = match m.html {
            Some(html) => builder.multipart(lettre::message::MultiPart::alternative_plain_html(
                m.text.to_owned(),
                html.to_owned(),
            )),
            None => builder
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(m.text.to_owned()),
        }
        .map_err(|e| format!("cannot write the email: {e}"))?;
        let tls = match self.security {
            Security::Tls => Tls::Wrapper(self.tls_parameters()?),
            Security::StartTls => Tls::Required(self.tls_parameters()?),
            Security::Plain => Tls::None,
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .tls(tls)
            .port(self.port)
            .timeout(Some(Duration::from_secs(20)));
        if let Some((user, Password(p))) = &self.login {
            transport = transport.credentials(Credentials::new(user.clone(), p.clone()));
        }
        transport
            .build()
            .send(email)
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "the mail server {}:{} refused or failed: {e}",
                    self.host, self.port
                )
            })
    }
}

/// One mail: plain text, or plain text with an HTML alternative.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The recipients.
    pub to: &'a [Email],
    /// The subject line.
    pub subject: &'a str,
    /// The plain-text body.
    pub text: &'a str,
    /// The HTML alternative, if any.
    pub html: Option<&'a str>,
    /// The one-click unsubscribe URL, if the mail has one.
    pub unsubscribe: Option<&'a str>,
}

/// `List-Unsubscribe: <url>`.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl lettre::message::header::Header for ListUnsubscribe {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl lettre::message::header::Header for ListUnsubscribePost {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(
            Self::name(),
            "List-Unsubscribe=One-Click".to_owned(),
        )
    }
}

fn mailbox(e: &Email) -> Result<lettre::message::Mailbox, String> {
    e.as_str()
        .parse()
        .map_err(|err| format!("the address {} cannot be used: {err}", e.as_str()))
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_only_to_loopback_and_ports_follow_the_mode() {
        let ok = SmtpConfig::new("127.0.0.1", None, Security::Plain, None, "a@example.com");
        assert!(ok.is_ok_and(|c| c.port == 25));
        assert!(SmtpConfig::new("::1", Some(2525), Security::Plain, None, "a@example.com").is_ok());
        let far = SmtpConfig::new(
            "mail.example.com",
            None,
            Security::Plain,
            None,
            "a@example.com",
        );
        assert!(far.is_err_and(|e| e.contains("only to a mail server on this machine")));
        let tls = SmtpConfig::new(
            "mail.example.com",
            None,
            Security::Tls,
            None,
            "a@example.com",
        );
        assert!(tls.is_ok_and(|c| c.port == 465));
        assert!(SmtpConfig::new("m.example.com", None, Security::StartTls, None, "nope").is_err());
    }

    #[test]
    fn the_password_never_prints() {
        let c = SmtpConfig::new(
            "mail.example.com",
            None,
            Security::StartTls,
            Some(("u".into(), Password::new("hunter2-secret".into()))),
            "a@example.com",
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(c.is_ok_and(|c| !c.describe().contains("hunter2")));
    }
}
