//! The browser harness shared by the browser test crates (`tests/browser.rs` for the admin
//! pages, `tests/customer_browser.rs` for the customer pages): chromedriver started on a loopback
//! port with headless Chromium behind it, a WebDriver session with helpers that fail with the
//! page's address and text, screenshots under `target/screenshots/`, PDF printing, Chrome DevTools
//! commands through chromedriver, and the command-line tools the tests read images and PDFs with.
//!
//! Every tool is required: a missing one fails the test with the Debian package to install
//! (`scripts/test.sh` installs them), it never skips.

#![allow(dead_code)]

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::{PrintConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Viewport sizes the screenshots are taken at.
pub const PHONE: Size = Size {
    name: "phone",
    width: 360,
    height: 800,
};
pub const DESKTOP: Size = Size {
    name: "desktop",
    width: 1280,
    height: 900,
};

/// How long chromedriver may take to listen.
pub const DRIVER_START: Duration = Duration::from_secs(30);
/// How long one page may take to show what a step waits for.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Where an element is on the screen; see [`Browser::placed`].
#[derive(Debug, Clone)]
pub struct Placed {
    pub top: f64,
    pub bottom: f64,
    pub viewport: f64,
    pub scrolled: f64,
    pub text: String,
    pub focused: String,
}

impl Placed {
    /// Wholly inside the first screen, with the page not scrolled.
    pub fn on_first_screen(&self) -> bool {
        self.top >= 0.0 && self.bottom <= self.viewport && self.scrolled == 0.0
    }

    /// Wholly inside the screen as it stands.
    pub fn in_view(&self) -> bool {
        self.top >= 0.0 && self.bottom <= self.viewport
    }
}

#[derive(Clone, Copy)]
pub struct Size {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
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

/// The program `name`, or a panic naming the Debian `package` that has it.
pub fn required_program(name: &str, package: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: the browser tests need it \
             (Debian package `{package}`; scripts/test.sh installs it)"
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
pub struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
    dir: TempDir,
}

impl Driver {
    pub fn start() -> Self {
        let chromium = required_program("chromium", "chromium");
        let chromedriver = required_program("chromedriver", "chromium-driver");
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

    pub fn log(&self) -> String {
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

pub struct Browser {
    pub c: Client,
    /// `http://127.0.0.1:PORT` of the server under test.
    pub base: String,
    /// The screenshot directory.
    pub shots: PathBuf,
    /// The file a failing step saves a screenshot to (`failure-<label>.png`).
    failure: PathBuf,
}

/// Where screenshots go: `$CARGO_TARGET_DIR/screenshots` or `<crate>/target/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

impl Browser {
    /// A new browser session for the server at `base`; `label` names its failure screenshot.
    pub async fn open(driver: &Driver, base: &str, label: &str) -> Self {
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
        let shots = screenshot_dir();
        let failure = shots.join(format!("failure-{label}.png"));
        // A failure screenshot from an earlier run would mislead.
        let _ = std::fs::remove_file(&failure);
        Self {
            c,
            base: base.trim_end_matches('/').to_owned(),
            shots,
            failure,
        }
    }

    /// Panics with `msg`, the current address and the start of the page's text.
    pub async fn fail<T>(&self, msg: &str) -> T {
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
            let _ = std::fs::write(&self.failure, png);
        }
        panic!("{msg}\n  at {url}\n  page text: {text:?}");
    }

    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        if let Err(e) = self.c.goto(&url).await {
            self.fail(&format!("could not load {url}: {e}")).await
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        match self.c.execute(script, vec![]).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("script failed: {e}: {script}")).await,
        }
    }

    /// Polls `check` until it answers true or the step times out.
    pub async fn wait_until<F, Fut>(&self, what: &str, mut check: F)
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
    pub async fn wait_path(&self, path: &str) {
        self.wait_until(&format!("the address {path}"), || async {
            self.c.current_url().await.is_ok_and(|u| u.path() == path)
        })
        .await;
    }

    /// The element `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
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
    pub async fn find_in(&self, parent: &Element, css: &str) -> Element {
        match parent.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                self.fail(&format!("no element `{css}` in its form ({e})"))
                    .await
            }
        }
    }

    /// The integer in `data-value` of `css`.
    pub async fn data_value(&self, css: &str) -> i64 {
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
    pub async fn fill(&self, form: &Element, css: &str, text: &str) {
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
    pub async fn click_submit(&self, form: &Element) {
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

    /// Submits `form` and waits for the page it leads to, so nothing after this reads the page
    /// that was left (a banner of the same kind on both pages would otherwise be found at once).
    pub async fn submit_and_wait(&self, form: &Element) {
        self.js("window.__left_behind = true;").await;
        self.click_submit(form).await;
        self.wait_until("the page after the form was sent", || async {
            self.js("return !window.__left_behind && document.readyState === 'complete';")
                .await
                .as_bool()
                .unwrap_or(false)
        })
        .await;
    }

    /// Keys pressed on whatever has the focus, the way a keyboard does.
    pub async fn press(&self, keys: &str) {
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
    pub async fn focused_name(&self) -> String {
        self.js("const e = document.activeElement; return e ? (e.getAttribute('name') || '') : ''")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Presses Tab until the field named `name` has the focus (at most 30 times).
    pub async fn tab_to(&self, name: &str) {
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
    pub async fn viewport(&self) -> (u32, u32) {
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

    /// The viewport once two readings 50 ms apart agree (a busy machine applies a resize
    /// late), or the last reading after a second.
    async fn settled_viewport(&self) -> (u32, u32) {
        let mut last = self.viewport().await;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.viewport().await;
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    /// Makes the viewport exactly `size` (the window is the viewport plus the browser's frame).
    pub async fn resize(&self, size: Size) {
        let (mut w, mut h) = (size.width, size.height);
        for _ in 0..5 {
            if let Err(e) = self.c.set_window_size(w, h).await {
                self.fail(&format!("could not resize the window: {e}"))
                    .await
            }
            let (iw, ih) = self.settled_viewport().await;
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
    pub async fn assert_no_horizontal_scroll(&self, page: &str) {
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
                     .filter(e => { for (let a = e.parentElement; a; a = a.parentElement) {\
                       if (getComputedStyle(a).overflowX !== 'visible') return false; } return true; })\
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

    /// Saves a screenshot of the viewport as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.c.screenshot().await {
            Ok(p) => p,
            Err(e) => self.fail(&format!("screenshot {name}: {e}")).await,
        };
        self.save_png(name, &png)
    }

    /// Saves a screenshot of the viewport drawn at `scale` device pixels per CSS pixel (a
    /// sharper picture of small print) as `target/screenshots/<name>.png`.
    pub async fn screenshot_scaled(&self, name: &str, scale: u32) -> PathBuf {
        let (width, height) = self.viewport().await;
        self.devtools(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": scale, "mobile": false}),
        )
        .await;
        let file = self.screenshot(name).await;
        self.devtools("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
        file
    }

    /// Saves a screenshot of just `element` as `target/screenshots/<name>.png`.
    pub async fn element_screenshot(&self, element: &Element, name: &str) -> PathBuf {
        let png = match element.screenshot().await {
            Ok(p) => p,
            Err(e) => self.fail(&format!("screenshot {name}: {e}")).await,
        };
        self.save_png(name, &png)
    }

    fn save_png(&self, name: &str, png: &[u8]) -> PathBuf {
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot {name} is not a PNG"
        );
        let file = self.shots.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        file
    }

    /// Prints the page with WebDriver's print command and saves `target/screenshots/<name>.pdf`.
    pub async fn print_pdf(&self, config: PrintConfiguration, name: &str) -> PathBuf {
        let pdf = match self.c.print(config).await {
            Ok(p) => p,
            Err(e) => self.fail(&format!("printing {name}: {e}")).await,
        };
        assert!(pdf.starts_with(b"%PDF-"), "printing {name} gave no PDF");
        let file = self.shots.join(format!("{name}.pdf"));
        std::fs::write(&file, pdf).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        file
    }

    /// Runs `script` as an async script: it ends by calling `done(value)` (the callback
    /// WebDriver passes as the last argument, bound to `done` here).
    pub async fn js_async(&self, script: &str) -> Value {
        let script = format!("const done = arguments[arguments.length - 1];\n{script}");
        match self.c.execute_async(&script, vec![]).await {
            Ok(v) => v,
            Err(e) => {
                self.fail(&format!("async script failed: {e}: {script}"))
                    .await
            }
        }
    }

    /// A Chrome DevTools Protocol command on the current tab, sent through chromedriver's
    /// `POST /session/{id}/chromium/send_command_and_get_result`.
    pub async fn devtools(&self, cmd: &str, params: Value) -> Value {
        let command = DevTools {
            cmd: cmd.to_owned(),
            params,
        };
        match self.c.issue_cmd(command).await {
            Ok(v) => v,
            Err(e) => {
                self.fail(&format!("DevTools command {cmd} failed: {e}"))
                    .await
            }
        }
    }

    /// Cuts the tab, and every service worker the browser runs, off the network (or connects
    /// them again). Offline emulation on the tab alone does not reach a service worker's
    /// `fetch`, so each worker target is attached (non-flattened DevTools session) and told too.
    pub async fn set_offline(&self, offline: bool) {
        let conditions = json!({
            "offline": offline,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": -1,
        });
        self.devtools("Network.enable", json!({})).await;
        self.devtools("Network.emulateNetworkConditions", conditions.clone())
            .await;
        let targets = self.devtools("Target.getTargets", json!({})).await;
        let workers: Vec<String> = targets["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["type"] == "service_worker")
            .filter_map(|t| t["targetId"].as_str().map(str::to_owned))
            .collect();
        for target in workers {
            let attached = self
                .devtools(
                    "Target.attachToTarget",
                    json!({"targetId": target, "flatten": false}),
                )
                .await;
            let Some(session) = attached["sessionId"].as_str() else {
                self.fail::<()>(&format!("attaching to service worker {target}: {attached}"))
                    .await;
                continue;
            };
            for (id, method, params) in [
                (1, "Network.enable", json!({})),
                (2, "Network.emulateNetworkConditions", conditions.clone()),
            ] {
                let message = json!({"id": id, "method": method, "params": params});
                self.devtools(
                    "Target.sendMessageToTarget",
                    json!({"sessionId": session, "message": message.to_string()}),
                )
                .await;
            }
        }
    }

    /// Where `css` is on the screen as it stands (no scrolling): its box, its text, the
    /// viewport's height, how far the page is scrolled, and the id of the focused element.
    pub async fn placed(&self, css: &str) -> Placed {
        self.find(css).await;
        let sel = serde_json::to_string(css).unwrap_or_default();
        let v = self
            .js(&format!(
                "const e = document.querySelector({sel}); const r = e.getBoundingClientRect();\
                 const f = document.activeElement;\
                 return [r.top, r.bottom, window.innerHeight, window.scrollY, e.innerText,\
                 f && f !== document.body ? (f.id || f.tagName.toLowerCase()) : '']"
            ))
            .await;
        let num = |i: usize| v[i].as_f64().unwrap_or(f64::NAN);
        let text = |i: usize| v[i].as_str().unwrap_or_default().to_owned();
        Placed {
            top: num(0),
            bottom: num(1),
            viewport: num(2),
            scrolled: num(3),
            text: text(4),
            focused: text(5),
        }
    }

    /// Whether `css` matches an element that is displayed.
    pub async fn is_displayed(&self, css: &str) -> bool {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Whether an element matches `css` (displayed or not), without waiting.
    pub async fn exists(&self, css: &str) -> bool {
        self.c
            .find_all(Locator::Css(css))
            .await
            .is_ok_and(|v| !v.is_empty())
    }

    /// The text of `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        match el.text().await {
            Ok(t) => t,
            Err(e) => self.fail(&format!("text of `{css}`: {e}")).await,
        }
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        match self.c.find_all(Locator::Css(css)).await {
            Ok(v) => v.len(),
            Err(e) => self.fail(&format!("find `{css}`: {e}")).await,
        }
    }

    /// Scrolls `css` to the middle of the viewport and returns it.
    pub async fn scroll_to(&self, css: &str) -> Element {
        let el = self.find(css).await;
        let arg = match serde_json::to_value(&el) {
            Ok(v) => v,
            Err(e) => self.fail(&format!("element `{css}` as JSON: {e}")).await,
        };
        if let Err(e) = self
            .c
            .execute(
                "arguments[0].scrollIntoView({block: 'center', inline: 'center'})",
                vec![arg],
            )
            .await
        {
            self.fail(&format!("could not scroll to `{css}`: {e}"))
                .await
        }
        el
    }
}

/// `url::ParseError`, named through reqwest (the `url` crate is no direct dependency).
type UrlParseError = <reqwest::Url as std::str::FromStr>::Err;

/// A Chrome DevTools command for chromedriver's `send_command_and_get_result` endpoint.
#[derive(Debug)]
struct DevTools {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, UrlParseError> {
        base_url.join(&format!(
            "session/{}/chromium/send_command_and_get_result",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading what the browser made: barcodes in images (zbarimg), PDFs (poppler-utils)
// ---------------------------------------------------------------------------------------------

/// Runs `program` with `args`, failing with its output unless it exits with one of `ok_codes`.
fn run_tool(program: &Path, args: &[&std::ffi::OsStr], ok_codes: &[i32]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", program.display()));
    let code = out.status.code().unwrap_or(-1);
    assert!(
        ok_codes.contains(&code),
        "{} {args:?} failed ({}): stdout {:?}, stderr {:?}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Symbologies zbarimg is asked to read.
#[derive(Debug, Clone, Copy)]
pub enum Symbology {
    Qr,
    Code128,
}

/// Every symbol of kind `symbology` zbarimg finds in the image `file`, in its order (empty if none).
pub fn decode_barcodes(file: &Path, symbology: Symbology) -> Vec<String> {
    let zbarimg = required_program("zbarimg", "zbar-tools");
    let only = match symbology {
        Symbology::Qr => "-Sqrcode.enable",
        Symbology::Code128 => "-Scode128.enable",
    };
    // Exit code 4: the image was read and has no symbol.
    let out = run_tool(
        &zbarimg,
        &[
            "--raw".as_ref(),
            "-q".as_ref(),
            "-Sdisable".as_ref(),
            only.as_ref(),
            file.as_os_str(),
        ],
        &[0, 4],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

/// What `pdfinfo` says about a PDF: its number of pages and the first page's size in points.
#[derive(Debug, Clone, Copy)]
pub struct PdfInfo {
    pub pages: u32,
    pub width_pt: f64,
    pub height_pt: f64,
}

pub fn pdf_info(file: &Path) -> PdfInfo {
    let pdfinfo = required_program("pdfinfo", "poppler-utils");
    let out = run_tool(&pdfinfo, &[file.as_os_str()], &[0]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_owned())
            .unwrap_or_else(|| panic!("pdfinfo prints no `{name}` for {}: {text}", file.display()))
    };
    let pages = field("Pages")
        .parse()
        .unwrap_or_else(|e| panic!("pdfinfo `Pages` of {}: {e}: {text}", file.display()));
    // "Page size:      595.276 x 841.89 pts (A4)"
    let size = field("Page size");
    let mut numbers = size
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok());
    let (Some(width_pt), Some(height_pt)) = (numbers.next(), numbers.next()) else {
        panic!("pdfinfo `Page size` of {}: {size:?}", file.display());
    };
    PdfInfo {
        pages,
        width_pt,
        height_pt,
    }
}

/// Renders page `page` (1-based) of a PDF to `<out_stem>.png` at `dpi` with `pdftoppm`.
pub fn render_pdf_page(file: &Path, page: u32, dpi: u32, out_stem: &Path) -> PathBuf {
    let pdftoppm = required_program("pdftoppm", "poppler-utils");
    let page = page.to_string();
    let dpi = dpi.to_string();
    run_tool(
        &pdftoppm,
        &[
            "-png".as_ref(),
            "-singlefile".as_ref(),
            "-r".as_ref(),
            dpi.as_ref(),
            "-f".as_ref(),
            page.as_ref(),
            "-l".as_ref(),
            page.as_ref(),
            file.as_os_str(),
            out_stem.as_os_str(),
        ],
        &[0],
    );
    let png = out_stem.with_extension("png");
    assert!(
        png.is_file(),
        "pdftoppm made no {} from {}",
        png.display(),
        file.display()
    );
    png
}

// ---------------------------------------------------------------------------------------------
// Accessibility: axe-core injected into the page
// ---------------------------------------------------------------------------------------------

/// The environment variable naming axe-core's `axe.min.js` (`scripts/test.sh` fetches it).
pub const AXE_ENV: &str = "FEALTY_AXE_JS";

/// axe-core's source, read from the file `$FEALTY_AXE_JS` names; a clear failure without it.
pub fn axe_source() -> String {
    let Some(path) = std::env::var_os(AXE_ENV) else {
        panic!(
            "{AXE_ENV} is not set: the accessibility tests need axe-core 4.x's axe.min.js \
             (scripts/test.sh fetches it with `npm pack axe-core@4` and sets {AXE_ENV})"
        )
    };
    let path = PathBuf::from(path);
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{AXE_ENV}={} cannot be read ({e}): it should be axe-core 4.x's axe.min.js",
            path.display()
        )
    });
    assert!(
        source.contains("axe") && source.len() > 100_000,
        "{AXE_ENV}={} does not look like axe-core's axe.min.js",
        path.display()
    );
    source
}

/// One rule axe-core found broken on a page.
#[derive(Debug, Clone)]
pub struct AxeViolation {
    /// The rule's id, e.g. `color-contrast`.
    pub rule: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    /// The rule's one-line help.
    pub help: String,
    /// Each failing node: its CSS selector and axe's summary of what to fix.
    pub nodes: Vec<(String, String)>,
}

impl AxeViolation {
    /// Whether it must fail the test (serious or critical).
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
    }
}

impl std::fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "[{}] {}: {}", self.impact, self.rule, self.help)?;
        for (target, summary) in &self.nodes {
            let summary = summary.replace('\n', " ");
            writeln!(f, "      {target}: {summary}")?;
        }
        Ok(())
    }
}

/// axe's WCAG 2.x level A and AA rules, and its best practices (which cover empty table headers
/// and content outside landmarks).
const AXE_TAGS: &str =
    "['best-practice','wcag2a','wcag2aa','wcag21a','wcag21aa','wcag22a','wcag22aa']";

impl Browser {
    /// Injects axe-core (`source`, from [`axe_source`]) into the current page and runs the WCAG
    /// 2.x A/AA rules and best practices on it; every violation, whatever its impact.
    pub async fn axe(&self, source: &str) -> Vec<AxeViolation> {
        // WebDriver scripts run outside the page's CSP, so the page needs no change to allow it.
        self.js(&format!(
            "if (!window.axe) {{ {source}\n }} return typeof window.axe"
        ))
        .await;
        let script = format!(
            "axe.run(document, {{runOnly: {{type: 'tag', values: {AXE_TAGS}}}, resultTypes: ['violations']}})\
             .then(r => done(r.violations.map(v => ({{rule: v.id, impact: v.impact || '', help: v.help, \
               nodes: v.nodes.map(n => [n.target.join(' '), n.failureSummary || ''])}}))))\
             .catch(e => done({{error: String(e)}}))"
        );
        let found = self.js_async(&script).await;
        if let Some(e) = found.get("error") {
            return self.fail(&format!("axe-core failed: {e}")).await;
        }
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        found
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| AxeViolation {
                rule: text(&v["rule"]),
                impact: text(&v["impact"]),
                help: text(&v["help"]),
                nodes: v["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| (text(&n[0]), text(&n[1])))
                    .collect(),
            })
            .collect()
    }

    /// Runs axe on the current page (`label` names it in the report), prints every violation,
    /// and returns the serious and critical ones as lines for the test's final assertion.
    pub async fn axe_check(&self, source: &str, label: &str) -> Vec<String> {
        let found = self.axe(source).await;
        if found.is_empty() {
            eprintln!("axe {label}: no violations");
        }
        for v in &found {
            eprintln!("axe {label}: {v}");
        }
        found
            .iter()
            .filter(|v| v.is_serious())
            .map(|v| format!("{label}: {v}"))
            .collect()
    }
}
