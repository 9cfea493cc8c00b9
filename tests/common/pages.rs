//! Pages as a person with a browser sees them: a tiny HTML reader (elements by id or class,
//! forms and their fields), HTTP answers read to the end, and a browser session with its own
//! cookie jar that fills in forms with their hidden fields. Shared by the admin and customer tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Api, TestServer};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// A tiny HTML reader: enough to find elements by id or class, forms and their fields.
// ---------------------------------------------------------------------------------------------

/// An opening tag and where it sits in the page.
#[derive(Debug, Clone)]
pub struct Tag {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub end: usize,
}

impl Tag {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_whitespace().any(|c| c == class))
    }
}

/// An element: its opening tag and its content (empty for void elements).
#[derive(Debug, Clone)]
pub struct Elem<'a> {
    pub tag: Tag,
    pub inner: &'a str,
}

impl Elem<'_> {
    pub fn text(&self) -> String {
        text(self.inner)
    }
}

pub const VOID: [&str; 8] = ["input", "img", "link", "meta", "br", "hr", "source", "wbr"];

/// Replaces the entities maud writes (and numeric ones).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';').filter(|&j| j <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        if let Some(c) = decoded {
            out.push(c);
            rest = &rest[semi + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Every opening tag, in document order.
pub fn tags(html: &str) -> Vec<Tag> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' || i + 1 >= b.len() || !b[i + 1].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        i += 1;
        let ns = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        let name = html[ns..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            if b[i] == b'>' {
                i += 1;
                break;
            }
            if b[i] == b'/' {
                i += 1;
                continue;
            }
            let an = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !b"=>/".contains(&b[i]) {
                i += 1;
            }
            let aname = html[an..i].to_ascii_lowercase();
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < b.len() && b[i] == b'=' {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    i += 1;
                    let vs = i;
                    while i < b.len() && b[i] != q {
                        i += 1;
                    }
                    value = unescape(&html[vs..i]);
                    i += 1;
                } else {
                    let vs = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = unescape(&html[vs..i]);
                }
            }
            if !aname.is_empty() {
                attrs.push((aname, value));
            }
        }
        out.push(Tag {
            name,
            attrs,
            end: i.min(b.len()),
        });
    }
    out
}

/// The content of the element opened by `tag`, up to its matching closing tag.
pub fn inner_of<'a>(html: &'a str, tag: &Tag) -> &'a str {
    if VOID.contains(&tag.name.as_str()) {
        return "";
    }
    let lower = html.to_ascii_lowercase();
    let open = format!("<{}", tag.name);
    let close = format!("</{}", tag.name);
    let mut depth = 1usize;
    let mut i = tag.end;
    while i < html.len() {
        let next_open = lower[i..].find(&open).map(|j| i + j).filter(|&j| {
            lower
                .as_bytes()
                .get(j + open.len())
                .is_some_and(|c| !c.is_ascii_alphanumeric())
        });
        let next_close = lower[i..].find(&close).map(|j| i + j);
        match (next_open, next_close) {
            (Some(o), Some(c)) if o < c => {
                depth += 1;
                i = o + open.len();
            }
            (_, Some(c)) => {
                depth -= 1;
                if depth == 0 {
                    return &html[tag.end..c];
                }
                i = c + close.len();
            }
            (Some(o), None) => i = o + open.len(),
            (None, None) => break,
        }
    }
    &html[tag.end..]
}

/// Every element whose opening tag satisfies `pred`.
pub fn select<'a>(html: &'a str, pred: impl Fn(&Tag) -> bool) -> Vec<Elem<'a>> {
    tags(html)
        .into_iter()
        .filter(|t| pred(t))
        .map(|t| {
            let inner = inner_of(html, &t);
            Elem { tag: t, inner }
        })
        .collect()
}

pub fn by_id<'a>(html: &'a str, id: &str) -> Option<Elem<'a>> {
    select(html, |t| t.attr("id") == Some(id))
        .into_iter()
        .next()
}

/// `#id[attr]`.
pub fn attr_by_id(html: &str, id: &str, attr: &str) -> Option<String> {
    tags(html)
        .into_iter()
        .find(|t| t.attr("id") == Some(id))
        .and_then(|t| t.attr(attr).map(str::to_owned))
}

/// `#id[data-value]` as an integer, or a panic that shows the page.
pub fn data_value(html: &str, id: &str) -> i64 {
    let v = attr_by_id(html, id, "data-value")
        .unwrap_or_else(|| panic!("no #{id}[data-value] on the page: {}", snippet(html)));
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("#{id} data-value {v:?} is not an integer"))
}

/// The text of `html`, tags removed, entities decoded, whitespace collapsed.
pub fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An integer shown as text ("1,234" or "−5" allowed).
pub fn number(s: &str) -> i64 {
    let cleaned: String = s
        .trim()
        .replace('\u{2212}', "-")
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    cleaned
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// Start of a page for assertion messages.
pub fn snippet(html: &str) -> String {
    let t = text(html);
    t.chars().take(1500).collect()
}

/// The rows of `table#id` (in `tbody` when there is one).
pub fn rows<'a>(html: &'a str, id: &str) -> Vec<Elem<'a>> {
    let table =
        by_id(html, id).unwrap_or_else(|| panic!("no table#{id} on the page: {}", snippet(html)));
    let body = select(table.inner, |t| t.name == "tbody")
        .into_iter()
        .next()
        .map_or(table.inner, |b| b.inner);
    select(body, |t| t.name == "tr")
}

/// The text of the first `tag.class` (or `tag` when `class` is empty) in `row`.
pub fn cell(row: &Elem<'_>, tag: &str, class: &str) -> Option<String> {
    select(row.inner, |t| {
        t.name == tag && (class.is_empty() || t.has_class(class))
    })
    .into_iter()
    .next()
    .map(|e| e.text())
}

/// A form as a browser would submit it.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn from_elem(e: &Elem<'_>, page_path: &str) -> Self {
        let action = e
            .tag
            .attr("action")
            .filter(|a| !a.is_empty())
            .unwrap_or(page_path)
            .to_owned();
        let method = e.tag.attr("method").unwrap_or("get").to_ascii_lowercase();
        let mut fields = Vec::new();
        let mut clicked = false;
        for t in tags(e.inner) {
            let Some(name) = t.attr("name").map(str::to_owned) else {
                continue;
            };
            match t.name.as_str() {
                "input" => {
                    let ty = t.attr("type").unwrap_or("text").to_ascii_lowercase();
                    match ty.as_str() {
                        "checkbox" | "radio" => {
                            if t.has_attr("checked") {
                                fields.push((name, t.attr("value").unwrap_or("on").to_owned()));
                            }
                        }
                        "submit" | "image" => {
                            if !clicked {
                                clicked = true;
                                fields.push((name, t.attr("value").unwrap_or("").to_owned()));
                            }
                        }
                        "file" | "reset" | "button" => {}
                        _ => fields.push((name, t.attr("value").unwrap_or("").to_owned())),
                    }
                }
                "textarea" => fields.push((name, unescape(inner_of(e.inner, &t)))),
                "select" => {
                    let options = select(inner_of(e.inner, &t), |o| o.name == "option");
                    let chosen = options
                        .iter()
                        .find(|o| o.tag.has_attr("selected"))
                        .or_else(|| options.first());
                    if let Some(o) = chosen {
                        let v = o.tag.attr("value").map_or_else(|| o.text(), str::to_owned);
                        fields.push((name, v));
                    }
                }
                "button" => {
                    let ty = t.attr("type").unwrap_or("submit").to_ascii_lowercase();
                    if ty == "submit" && !clicked {
                        clicked = true;
                        fields.push((name, t.attr("value").unwrap_or("").to_owned()));
                    }
                }
                _ => {}
            }
        }
        Self {
            action,
            method,
            fields,
        }
    }

    /// The form's fields with `set` replacing any of the same name (several entries of one
    /// name in `set` all go in, like ticked checkboxes).
    pub fn with(&self, set: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
            .cloned()
            .collect();
        out.extend(set.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        out
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `form#id` on the page.
pub fn form(html: &str, id: &str) -> Form {
    let e = select(html, |t| t.name == "form" && t.attr("id") == Some(id))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no form#{id} on the page: {}", snippet(html)));
    Form::from_elem(&e, "")
}

/// The first form posting to `action`.
pub fn form_by_action(html: &str, action: &str) -> Option<Form> {
    select(html, |t| {
        t.name == "form" && t.attr("action") == Some(action)
    })
    .into_iter()
    .next()
    .map(|e| Form::from_elem(&e, action))
}

/// The value of the first `input[name=name]` inside `html`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    tags(html)
        .into_iter()
        .find(|t| t.name == "input" && t.attr("name") == Some(name))
        .map(|t| t.attr("value").unwrap_or("").to_owned())
}

// ---------------------------------------------------------------------------------------------
// A browser session.
// ---------------------------------------------------------------------------------------------

/// An HTTP answer read to the end.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "expected {status}, got {} (location {:?}): {}",
            self.status,
            self.location(),
            snippet(&self.text)
        );
        self
    }

    /// Asserts a 303 to exactly `to`.
    #[track_caller]
    pub fn expect_redirect(&self, to: &str) -> &Self {
        self.expect(303);
        assert_eq!(self.location(), Some(to), "redirect target");
        self
    }

    /// Asserts a 303 to the log-in page.
    #[track_caller]
    pub fn expect_login_redirect(&self) -> &Self {
        self.expect(303);
        let loc = self.location().unwrap_or_default();
        assert!(
            loc.starts_with("/admin/login"),
            "expected a redirect to /admin/login, got {loc:?}"
        );
        self
    }

    /// Asserts a 404 "card not found" page.
    #[track_caller]
    pub fn expect_card_not_found(&self) {
        self.expect(404);
        assert!(
            self.text.to_lowercase().contains("card not found"),
            "404 page without \"card not found\": {}",
            snippet(&self.text)
        );
    }

    /// Every `Set-Cookie` for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.trim_start().starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// The staff session cookie.
pub const COOKIE: &str = "fealty_session";
/// The customer session cookie.
pub const MEMBER_COOKIE: &str = "fealty_member";
pub const BOUNDARY: &str = "----fealty-test-boundary-7MA4YWxkTrZu0gW";

/// One browser: its own cookie jar, no automatic redirects, the last page seen.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    /// The last page that carried a CSRF token.
    pub last: String,
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build browser client");
        Self {
            http,
            base: server.url(""),
            last: String::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn read(&mut self, req: reqwest::RequestBuilder) -> Page {
        let r = req.send().await.expect("HTTP request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("read body").to_vec();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if input_value(&text, "csrf").is_some_and(|v| !v.is_empty()) {
            self.last.clone_from(&text);
        }
        Page {
            status,
            headers,
            text,
            bytes,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(self.url(path));
        self.read(req).await
    }

    /// GET that must answer 200; returns the HTML.
    pub async fn page(&mut self, path: &str) -> String {
        let p = self.get(path).await;
        assert_eq!(
            p.status,
            200,
            "GET {path}: expected 200, got {} (location {:?}): {}",
            p.status,
            p.location(),
            snippet(&p.text)
        );
        p.text
    }

    /// Follows a 303 with a GET.
    pub async fn follow(&mut self, p: &Page) -> Page {
        let loc = p.location().expect("a Location header").to_owned();
        let path = loc.strip_prefix(&self.base).unwrap_or(&loc).to_owned();
        self.get(&path).await
    }

    /// POST a urlencoded body exactly as given (no CSRF added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(String, String)]) -> Page {
        let req = self.http.post(self.url(path)).form(fields);
        self.read(req).await
    }

    /// The session's CSRF token, from the last admin page (fetching `/admin` if none yet).
    pub async fn csrf(&mut self) -> String {
        if let Some(v) = input_value(&self.last, "csrf") {
            return v;
        }
        let dash = self.get("/admin").await;
        input_value(&dash.text, "csrf").unwrap_or_else(|| {
            panic!(
                "no input[name=csrf] on /admin ({}): {}",
                dash.status,
                snippet(&dash.text)
            )
        })
    }

    /// POST form fields, with this session's `csrf` added unless `fields` has one.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut body: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            body.push(("csrf".to_owned(), self.csrf().await));
        }
        self.post_raw(path, &body).await
    }

    /// Submits `form` with `set` filled in, as the browser would.
    pub async fn submit(&mut self, form: &Form, set: &[(&str, &str)]) -> Page {
        let fields = form.with(set);
        if form.method == "get" {
            let req = self.http.get(self.url(&form.action)).query(&fields);
            self.read(req).await
        } else {
            self.post_raw(&form.action, &fields).await
        }
    }

    /// Submits `form` as multipart with one file.
    pub async fn submit_file(
        &mut self,
        form: &Form,
        set: &[(&str, &str)],
        file_field: &str,
        file_name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Page {
        let mut body = Vec::new();
        for (k, v) in form.with(set) {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let req = self
            .http
            .post(self.url(&form.action))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        self.read(req).await
    }

    /// Fills in the log-in form and submits it.
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let login = self.page("/admin/login").await;
        let f = login_form(&login);
        self.submit(&f, &[("username", username), ("password", password)])
            .await
    }

    /// Logs in and asserts it worked.
    pub async fn login_ok(&mut self, username: &str, password: &str) {
        let p = self.login(username, password).await;
        p.expect_redirect("/admin");
        self.last.clear();
    }

    /// Customer log-in through form#login on /login.
    pub async fn customer_login(&mut self, identifier: &str, password: &str) -> Page {
        let login = self.page("/login").await;
        let f = form(&login, "login");
        assert!(f.value("identifier").is_some(), "form#login identifier");
        assert!(f.value("password").is_some(), "form#login password");
        self.submit(&f, &[("identifier", identifier), ("password", password)])
            .await
    }

    /// Logs a customer in and asserts it worked.
    pub async fn customer_login_ok(&mut self, identifier: &str, password: &str) {
        let p = self.customer_login(identifier, password).await;
        assert_eq!(
            (p.status, p.location()),
            (303, Some("/account")),
            "customer log-in as {identifier:?}: {}",
            snippet(&p.text)
        );
    }

    /// GET /join (or /join?card=…) and its form#join.
    pub async fn join_form(&mut self, path: &str) -> Form {
        let html = self.page(path).await;
        form(&html, "join")
    }
}

/// The form with the password field on the log-in page.
pub fn login_form(html: &str) -> Form {
    let e = select(html, |t| t.name == "form")
        .into_iter()
        .find(|f| {
            tags(f.inner)
                .iter()
                .any(|t| t.attr("name") == Some("password"))
        })
        .unwrap_or_else(|| panic!("no log-in form: {}", snippet(html)));
    let mut f = Form::from_elem(&e, "/admin/login");
    if f.method != "post" {
        f.method = "post".to_owned();
    }
    f
}

// ---------------------------------------------------------------------------------------------
// Set-up helpers.
// ---------------------------------------------------------------------------------------------

pub const PASSWORD: &str = "correct horse battery";

/// Adds a staff account through the CLI (the running server's control socket).
pub fn add_user(server: &TestServer, username: &str, role: &str) {
    let out = server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            username,
            "--role",
            role,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    super::ok(&out);
}

/// A server with an owner `olive` logged in in a browser, and an all-scope API client.
pub async fn owner_session() -> (TestServer, Browser, Api) {
    let server = TestServer::start();
    add_user(&server, "olive", "owner");
    let mut b = Browser::new(&server);
    b.login_ok("olive", PASSWORD).await;
    let api = server.client();
    (server, b, api)
}

pub fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}
