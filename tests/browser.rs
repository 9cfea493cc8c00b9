//! The admin pages in a real browser: headless Chromium driven over WebDriver (chromedriver,
//! started here on a loopback port) against a real `fealty serve` process.
//!
//! One browser session walks through the till work a person does (log in, scan a card, add
//! points, earn by amount, redeem), checks the dashboard chart, the phone layout and keyboard-only
//! log-in, and saves a screenshot of every main page at phone and desktop width under
//! `target/screenshots/`. Chromium and chromedriver must be installed (`scripts/test.sh` installs
//! the Debian packages `chromium chromium-driver`); without them the test fails, it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, card_number, ok};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const USERNAME: &str = "ann";
const PASSWORD: &str = "correct horse battery";

/// Viewport sizes the screenshots are taken at.
const PHONE: Size = Size {
    name: "phone",
    width: 360,
    height: 800,
};
const DESKTOP: Size = Size {
    name: "desktop",
    width: 1280,
    height: 900,
};

/// How long chromedriver may take to listen.
const DRIVER_START: Duration = Duration::from_secs(30);
/// How long one page may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// The whole walk-through, browser start included.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);

#[derive(Clone, Copy)]
struct Size {
    name: &'static str,
    width: u32,
    height: u32,
}

// ---------------------------------------------------------------------------------------------
// chromedriver and Chromium
// ---------------------------------------------------------------------------------------------

/// An executable called `name` on `PATH`, or in `/usr/bin` (where Debian puts both).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn required_program(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: the browser tests need Chromium and chromedriver \
             (Debian packages `chromium chromium-driver`; scripts/test.sh installs them)"
        )
    })
}

/// A free loopback port: bind port 0, note the port, let it go.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

/// A chromedriver process (in its own process group, with the Chromium it starts), killed on
/// drop, with a private browser profile directory.
struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
    dir: TempDir,
}

impl Driver {
    fn start() -> Self {
        let chromium = required_program("chromium");
        let chromedriver = required_program("chromedriver");
        let dir = tempfile::tempdir().expect("temporary browser directory");
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.path().join("chromedriver.log").display()
            ))
            .arg("--log-level=WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group, so that drop can end chromedriver and every browser process with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", chromedriver.display()));
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            dir,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return driver;
            }
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before listening on port {port}; log: {}",
                    driver.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within {DRIVER_START:?}; log: {}",
                driver.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// WebDriver capabilities for headless Chromium that reaches nothing beyond loopback.
    fn capabilities(&self) -> serde_json::Map<String, Value> {
        let profile = self.dir.path().join("profile");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            "--lang=en-GB".to_owned(),
            // Any name but loopback fails to resolve: no traffic leaves the machine.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_owned(),
            format!("--window-size={},{}", DESKTOP.width, DESKTOP.height),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium.to_string_lossy(),
                "args": args,
            },
        });
        match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is chromedriver's pid (process_group(0) above).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- chromedriver log ---\n{}", self.log());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A browser session with helpers that fail with the page's address and text
// ---------------------------------------------------------------------------------------------

struct Browser {
    c: Client,
    base: String,
    shots: PathBuf,
}

/// Where screenshots go: `$CARGO_TARGET_DIR/screenshots` or `<crate>/target/screenshots`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    // A failure screenshot from an earlier run would mislead.
    let _ = std::fs::remove_file(dir.join("failure.png"));
    dir
}

impl Browser {
    async fn open(driver: &Driver, server: &TestServer) -> Self {
        let c = ClientBuilder::new(HttpConnector::new())
            .capabilities(driver.capabilities())
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not start Chromium through chromedriver: {e}; log: {}",
                    driver.log()
                )
            });
        Self {
            c,
            base: server.url(""),
            shots: screenshot_dir(),
        }
    }

    /// Panics with `msg`, the current address and the start of the page's text.
    async fn fail<T>(&self, msg: &str) -> T {
        let url = self
            .c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let text = self
            .c
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let text: String = text.chars().take(1500).collect();
        if let Ok(png) = self.c.screenshot().await {
            let _ = std::fs::write(self.shots.join("failure.png"), png);
        }
        panic!("{msg}\n  at {url}\n  page text: {text:?}");
    }

    async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        if let Err(e) = self.c.goto(&url).await {
            self.fail(&format!("could not load {url}: {e}")).await
        }
    }

    async fn js(&self, script: &str) -> Value {
        match self.c.execute(script, vec![]).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("script failed: {e}: {script}")).await,
        }
    }

    /// Polls `check` until it answers true or the step times out.
    async fn wait_until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while !check().await {
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "timed out after {STEP_TIMEOUT:?} waiting for {what}"
                ))
                .await
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the current path (without query) to be `path`.
    async fn wait_path(&self, path: &str) {
        self.wait_until(&format!("the address {path}"), || async {
            self.c.current_url().await.is_ok_and(|u| u.path() == path)
        })
        .await;
    }

    /// The element `css`, waiting for it to appear.
    async fn find(&self, css: &str) -> Element {
        match self
            .c
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => self.fail(&format!("no element `{css}` ({e})")).await,
        }
    }

    /// The element `css` inside `parent`, which must be there already.
    async fn find_in(&self, parent: &Element, css: &str) -> Element {
        match parent.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                self.fail(&format!("no element `{css}` in its form ({e})"))
                    .await
            }
        }
    }

    /// The integer in `data-value` of `css`.
    async fn data_value(&self, css: &str) -> i64 {
        let el = self.find(css).await;
        let raw = el.attr("data-value").await.ok().flatten();
        match raw.as_deref().map(str::trim).map(str::parse::<i64>) {
            Some(Ok(n)) => n,
            _ => {
                self.fail(&format!(
                    "`{css}` has no integer data-value (found {raw:?})"
                ))
                .await
            }
        }
    }

    /// Types `text` into the field `css` of `form`, replacing what was there.
    async fn fill(&self, form: &Element, css: &str, text: &str) {
        let field = self.find_in(form, css).await;
        if let Err(e) = field.clear().await {
            self.fail(&format!("could not clear `{css}`: {e}")).await
        }
        if let Err(e) = field.send_keys(text).await {
            self.fail(&format!("could not type into `{css}`: {e}"))
                .await
        }
    }

    /// Clicks the submit button of `form` (as a person would).
    async fn click_submit(&self, form: &Element) {
        let button = self
            .find_in(
                form,
                "button[type=submit], input[type=submit], button:not([type])",
            )
            .await;
        if let Err(e) = button.click().await {
            self.fail(&format!("could not click the submit button: {e}"))
                .await
        }
    }

    /// Keys pressed on whatever has the focus, the way a keyboard does.
    async fn press(&self, keys: &str) {
        let mut seq = KeyActions::new("keyboard".to_owned());
        for ch in keys.chars() {
            seq = seq
                .then(KeyAction::Down { value: ch })
                .then(KeyAction::Up { value: ch });
        }
        if let Err(e) = self.c.perform_actions(seq).await {
            self.fail(&format!("could not press keys: {e}")).await
        }
        let _ = self.c.release_actions().await;
    }

    /// `name` attribute of the focused element.
    async fn focused_name(&self) -> String {
        self.js("const e = document.activeElement; return e ? (e.getAttribute('name') || '') : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Presses Tab until the field named `name` has the focus (at most 30 times).
    async fn tab_to(&self, name: &str) {
        for _ in 0..30 {
            if self.focused_name().await == name {
                return;
            }
            self.press(&char::from(Key::Tab).to_string()).await;
        }
        self.fail(&format!("Tab never reached the field `{name}`"))
            .await
    }

    /// The page's viewport (`innerWidth`, `innerHeight`).
    async fn viewport(&self) -> (u32, u32) {
        let v = self
            .js("return [window.innerWidth, window.innerHeight]")
            .await;
        let dim = |i: usize| {
            v[i].as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        (dim(0), dim(1))
    }

    /// Makes the viewport exactly `size` (the window is the viewport plus the browser's frame).
    async fn resize(&self, size: Size) {
        let (mut w, mut h) = (size.width, size.height);
        for _ in 0..3 {
            if let Err(e) = self.c.set_window_size(w, h).await {
                self.fail(&format!("could not resize the window: {e}"))
                    .await
            }
            let (iw, ih) = self.viewport().await;
            if (iw, ih) == (size.width, size.height) {
                return;
            }
            // Grow the window by what the frame takes.
            w = (w + size.width).saturating_sub(iw);
            h = (h + size.height).saturating_sub(ih);
        }
        let (iw, ih) = self.viewport().await;
        self.fail(&format!(
            "asked for a {}x{} viewport, the page sees {iw}x{ih}",
            size.width, size.height
        ))
        .await
    }

    /// The page is no wider than the window (no sideways scrolling).
    async fn assert_no_horizontal_scroll(&self, page: &str) {
        let v = self
            .js("return [document.documentElement.scrollWidth, window.innerWidth]")
            .await;
        let (scroll, inner) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
        if scroll > inner {
            // Name the widest elements to make the failure useful.
            let wide = self
                .js(
                    "const w = window.innerWidth; return Array.from(document.querySelectorAll('body *'))\
                     .filter(e => e.getBoundingClientRect().right > w + 0.5)\
                     .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + \
                     (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\\s+/g, '.') : '') + \
                     ' right=' + Math.round(e.getBoundingClientRect().right))",
                )
                .await;
            self.fail(&format!(
                "page `{page}` scrolls sideways at {inner} px: scrollWidth is {scroll}; too wide: {wide}"
            ))
            .await
        }
    }

    /// Saves `target/screenshots/admin-<page>-<size>.png`.
    async fn screenshot(&self, page: &str, size: Size) -> PathBuf {
        let png = match self.c.screenshot().await {
            Ok(p) => p,
            Err(e) => self.fail(&format!("screenshot of {page}: {e}")).await,
        };
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot of {page} is not a PNG"
        );
        let file = self.shots.join(format!("admin-{page}-{}.png", size.name));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        file
    }
}

// ---------------------------------------------------------------------------------------------
// The walk-through
// ---------------------------------------------------------------------------------------------

/// A main page: its name in screenshot files, its path, and an element only it has.
struct Page {
    name: &'static str,
    path: String,
    marker: &'static str,
}

fn main_pages(member_id: &str) -> Vec<Page> {
    let page = |name, path: &str, marker| Page {
        name,
        path: path.to_owned(),
        marker,
    };
    vec![
        page("dashboard", "/admin", "svg#chart-daily"),
        page("members", "/admin/members", "table#members"),
        page(
            "member",
            &format!("/admin/members/{member_id}"),
            "#balance[data-value]",
        ),
        page("rewards", "/admin/rewards", "table#rewards"),
        page("settings", "/admin/settings", "form#settings"),
        page("staff", "/admin/staff", "table#staff"),
        page("keys", "/admin/keys", "form[action=\"/admin/keys\"]"),
        page("audit", "/admin/audit", "table#audit"),
    ]
}

/// N in "… earns N points" (N may have thousands separators).
fn earned_points(text: &str) -> Option<i64> {
    let (_, rest) = text.split_once("earns ")?;
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .collect();
    let after = rest[number.len()..].trim_start();
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if after.starts_with("point") {
        digits.parse().ok()
    } else {
        None
    }
}

/// The bars of `svg#chart-daily`: how many have a height, and their heights added up.
#[derive(Debug, Default)]
struct Bars {
    tall: u64,
    total_height: f64,
}

async fn chart_bars(b: &Browser) -> Bars {
    let v = b
        .js(
            "const rects = Array.from(document.querySelectorAll('svg#chart-daily rect'))\
             .map(r => Math.max(parseFloat(r.getAttribute('height')) || 0, r.getBBox().height));\
             return [rects.filter(h => h > 0).length, rects.reduce((a, h) => a + h, 0)]",
        )
        .await;
    Bars {
        tall: v[0].as_u64().unwrap_or(0),
        total_height: v[1].as_f64().unwrap_or(0.0),
    }
}

#[tokio::test]
async fn admin_pages_in_a_headless_browser() {
    let driver = Driver::start();
    let server = TestServer::start();
    tokio::time::timeout(TEST_TIMEOUT, walk_through(&driver, &server))
        .await
        .unwrap_or_else(|_| panic!("the browser walk-through took longer than {TEST_TIMEOUT:?}"));
}

async fn walk_through(driver: &Driver, server: &TestServer) {
    ok(&server.cli_stdin(
        &[
            "user",
            "add",
            "--username",
            USERNAME,
            "--role",
            "owner",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let api = server.client();
    let card = card_number(4_711_000_042);
    let member = api
        .create_member(&json!({
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "card_number": card,
        }))
        .await;
    let member_id = member["id"].as_str().unwrap().to_owned();
    assert_eq!(member["card_number"], card.as_str(), "{member}");
    let reward = api
        .post("/rewards", &json!({"name": "Free coffee", "cost": 50}))
        .await
        .expect_status(201);
    let reward_id = reward["id"].as_str().unwrap().to_owned();

    let b = Browser::open(driver, server).await;
    let shots = walk(&b, &api, &card, &member_id, &reward_id).await;
    for s in &shots {
        eprintln!("screenshot: {}", s.display());
    }
    b.c.close().await.expect("close the browser session");
}

async fn walk(
    b: &Browser,
    api: &common::Api,
    card: &str,
    member_id: &str,
    reward_id: &str,
) -> Vec<PathBuf> {
    let mut shots = Vec::new();

    // Not logged in: the dashboard sends the browser to the log-in page, which fits a phone.
    b.resize(PHONE).await;
    b.goto("/admin").await;
    b.wait_path("/admin/login").await;
    b.find("form input[name=username]").await;
    let next = b
        .find("form input[name=next]")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        next.as_deref(),
        Some("/admin"),
        "hidden `next` on the log-in page"
    );
    b.assert_no_horizontal_scroll("login").await;
    shots.push(b.screenshot("login", PHONE).await);
    b.resize(DESKTOP).await;
    shots.push(b.screenshot("login", DESKTOP).await);

    // A wrong password is refused on the page.
    let form = b.find("form:has(input[name=password])").await;
    b.fill(&form, "input[name=username]", USERNAME).await;
    b.fill(&form, "input[name=password]", "not the password")
        .await;
    b.click_submit(&form).await;
    let error = b.find(".error").await;
    let text = error.text().await.unwrap_or_default();
    assert!(
        text.contains("Wrong username or password"),
        "log-in error says {text:?}"
    );
    assert_eq!(b.c.current_url().await.unwrap().path(), "/admin/login");

    // Log in through the form: click the fields, type, click the button; the dashboard follows.
    let form = b.find("form:has(input[name=password])").await;
    b.find_in(&form, "input[name=username]")
        .await
        .click()
        .await
        .unwrap();
    b.fill(&form, "input[name=username]", USERNAME).await;
    b.fill(&form, "input[name=password]", PASSWORD).await;
    b.click_submit(&form).await;
    b.wait_path("/admin").await;
    b.find("#stat-members[data-value]").await;
    // Before any points: how much the daily chart's bars add up to (0 if no chart is drawn).
    let bars_before = chart_bars(b).await;
    let cookie = b.c.get_named_cookie("fealty_session").await;
    assert!(cookie.is_ok(), "no fealty_session cookie after log-in");

    // Scan a card: the search box has the focus, the scanner types the digits and Enter.
    b.goto("/admin/members").await;
    let q = b.find("form[role=search] input#q[name=q]").await;
    let focused = b
        .js("return document.activeElement ? document.activeElement.id : ''")
        .await;
    assert_eq!(
        focused, "q",
        "the member search box should have the focus (autofocus)"
    );
    q.send_keys(&format!("{card}\n")).await.unwrap();
    b.wait_path(&format!("/admin/members/{member_id}")).await;
    assert_eq!(
        b.find("#card-number")
            .await
            .text()
            .await
            .unwrap()
            .replace(' ', ""),
        card
    );
    let start = b.data_value("#balance").await;
    assert_eq!(start, 0, "a new member's balance");

    // Add points: applied at once.
    let form = b.find("form#earn-points").await;
    b.fill(&form, "input[name=points]", "120").await;
    b.click_submit(&form).await;
    b.find("#result").await;
    assert_eq!(
        b.data_value("#balance").await,
        120,
        "balance after adding 120 points"
    );
    assert_eq!(api.balance(member_id).await, 120);

    // Earn by amount: a preview first, nothing applied until Confirm.
    b.goto(&format!("/admin/members/{member_id}")).await;
    let form = b.find("form#earn-amount").await;
    b.fill(&form, "input[name=amount]", "12.50").await;
    b.click_submit(&form).await;
    let confirm = b.find("form#confirm-earn").await;
    let text = b.js("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    let Some(earned) = earned_points(text) else {
        return b.fail("the preview does not say `earns N points`").await;
    };
    assert!(
        earned > 0,
        "12.50 should earn some points, preview says {earned}"
    );
    assert_eq!(
        api.balance(member_id).await,
        120,
        "the preview must not apply anything"
    );
    let button = b.find_in(&confirm, "button, input[type=submit]").await;
    let label = match button.text().await.unwrap_or_default() {
        t if t.is_empty() => button
            .attr("value")
            .await
            .ok()
            .flatten()
            .unwrap_or_default(),
        t => t,
    };
    assert!(label.contains("Confirm"), "confirm button says {label:?}");
    button.click().await.unwrap();
    b.find("#result").await;
    let after_earn = 120 + earned;
    assert_eq!(
        b.data_value("#balance").await,
        after_earn,
        "balance after confirming"
    );
    assert_eq!(api.balance(member_id).await, after_earn);

    // Redeem the 50-point reward.
    b.goto(&format!("/admin/members/{member_id}")).await;
    let form = b.find("form#redeem").await;
    let select = b.find_in(&form, "select[name=reward_id]").await;
    if let Err(e) = select.select_by_value(reward_id).await {
        b.fail::<()>(&format!(
            "reward {reward_id} is not offered in form#redeem: {e}"
        ))
        .await;
    }
    b.click_submit(&form).await;
    b.find("#result").await;
    assert_eq!(
        b.data_value("#balance").await,
        after_earn - 50,
        "balance after redeeming a 50-point reward"
    );
    assert_eq!(api.balance(member_id).await, after_earn - 50);

    // The dashboard's daily chart shows today's points, and the figures add up.
    b.goto("/admin").await;
    b.find("svg#chart-daily").await;
    let bars = chart_bars(b).await;
    assert!(
        bars.tall >= 1,
        "svg#chart-daily has no rect with a height after today's transactions"
    );
    assert!(
        bars.total_height > bars_before.total_height,
        "svg#chart-daily did not grow with today's transactions: {bars_before:?} before, {bars:?} after"
    );
    let issued_30_days = b
        .js(
            "return Array.from(document.querySelectorAll('table#table-daily td.issued'))\
             .map(td => parseInt(td.textContent.replace(/[^0-9-]/g, ''), 10) || 0)\
             .reduce((a, n) => a + n, 0)",
        )
        .await;
    assert_eq!(
        issued_30_days.as_i64(),
        Some(after_earn),
        "table#table-daily: points issued over the 30 days"
    );
    assert_eq!(b.data_value("#stat-members").await, 1, "#stat-members");
    assert_eq!(
        b.data_value("#stat-outstanding").await,
        after_earn - 50,
        "#stat-outstanding"
    );

    // Every main page: it fits a phone, and a screenshot at both widths.
    let pages = main_pages(member_id);
    for size in [PHONE, DESKTOP] {
        b.resize(size).await;
        for p in &pages {
            b.goto(&p.path).await;
            b.wait_path(p.path.split('?').next().unwrap_or_default())
                .await;
            b.find(p.marker).await;
            if size.width == PHONE.width {
                b.assert_no_horizontal_scroll(p.name).await;
            }
            shots.push(b.screenshot(p.name, size).await);
        }
    }

    // Keyboard only: a fresh visit to the log-in page, Tab to the fields, type, Enter.
    b.c.delete_all_cookies().await.unwrap();
    b.goto("/admin/login").await;
    b.find("input[name=username]").await;
    b.tab_to("username").await;
    b.press(USERNAME).await;
    b.tab_to("password").await;
    b.press(PASSWORD).await;
    b.press(&char::from(Key::Enter).to_string()).await;
    b.wait_path("/admin").await;
    b.find("#stat-members[data-value]").await;

    shots
}
