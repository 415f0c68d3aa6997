//! A real browser for the page tests: headless Chromium driven by chromedriver through
//! the W3C WebDriver HTTP API, with the reqwest the tests already use (no WebDriver
//! crate: the handful of endpoints below is all the tests need).
//!
//! [`Chromedriver::start`] spawns `chromedriver` on a free port in its own process group;
//! dropping it ends every session it opened and kills the group (chromedriver and the
//! Chromium processes it started), so a failed test leaves no browser behind. Nothing is
//! downloaded at run time: the Debian packages `chromium` and `chromium-driver` must be
//! installed (`scripts/test` installs them), and their absence fails the test with a
//! message saying so; it never skips. The browser resolves no name but this machine's, so
//! the tests do not depend on (or reach) the internet.
//!
//! Beyond W3C WebDriver, two chromedriver extensions are used: the logs
//! (`/se/log`: the browser console, and the DevTools `performance` log, whose
//! `Network.responseReceived` events carry each response's status and headers as the
//! browser saw them) and `goog/cdp/execute`, to install a script that runs before each
//! page's own (the Content-Security-Policy violation recorder).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Where Debian's `chromium-driver` puts chromedriver; `CHROMEDRIVER` overrides it.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's `chromium` puts the browser; `CHROMIUM` overrides it.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(20);

/// The W3C key codes the tests press.
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
}

/// The size of the page area, in CSS pixels, and whether it is a phone (touch, mobile
/// viewport rules).
#[derive(Clone, Copy, Debug)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

/// A phone held upright (the size of an iPhone 12 to 15).
pub const PHONE: Viewport = Viewport { name: "phone", width: 390, height: 844, mobile: true };
/// A small laptop screen.
pub const DESKTOP: Viewport = Viewport { name: "desktop", width: 1280, height: 800, mobile: false };

/// One line of the browser console.
#[derive(Clone, Debug)]
pub struct ConsoleEntry {
    /// `SEVERE`, `WARNING`, `INFO`, …
    pub level: String,
    /// `network`, `javascript`, `security`, `console-api`, …
    pub source: String,
    pub message: String,
}

impl ConsoleEntry {
    /// The URL a `network` entry is about (its message starts with it).
    pub fn url(&self) -> Option<reqwest::Url> {
        self.message.split_whitespace().next().and_then(|first| reqwest::Url::parse(first).ok())
    }
}

/// A running chromedriver.
pub struct Chromedriver {
    url: String,
    chromium: PathBuf,
    http: reqwest::Client,
    sessions: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl Chromedriver {
    /// Starts chromedriver (`CHROMEDRIVER`, default [`CHROMEDRIVER`]) for Chromium
    /// (`CHROMIUM`, default [`CHROMIUM`]). Panics, saying how to install them, when either
    /// is missing.
    pub async fn start() -> Chromedriver {
        let from_env =
            |name: &str, default: &str| PathBuf::from(std::env::var(name).unwrap_or_else(|_| default.into()));
        Chromedriver::start_at(&from_env("CHROMEDRIVER", CHROMEDRIVER), &from_env("CHROMIUM", CHROMIUM)).await
    }

    /// Starts the given chromedriver for the given Chromium.
    pub async fn start_at(chromedriver: &Path, chromium: &Path) -> Chromedriver {
        for (what, path, package) in
            [("chromedriver", chromedriver, "chromium-driver"), ("Chromium", chromium, "chromium")]
        {
            assert!(
                path.is_file(),
                "{what} is not installed at {}: the browser tests need Debian's `chromium` and `chromium-driver` \
                 packages. Run scripts/test (it installs them), or `apt-get install -y chromium chromium-driver` \
                 (the {package} package); CHROMEDRIVER and CHROMIUM name other paths",
                path.display()
            );
        }
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .env("CHROMIUM_BINARY", chromium)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop can end Chromium with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", chromedriver.display()));
        let driver = Chromedriver {
            url: format!("http://127.0.0.1:{port}"),
            chromium: chromium.to_path_buf(),
            http: shared::tls::client(),
            sessions: Arc::new(Mutex::new(Vec::new())),
            child,
        };
        let started = Instant::now();
        loop {
            let ready = driver.http.get(format!("{}/status", driver.url)).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(started.elapsed() < WAIT, "chromedriver did not answer on port {port} within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    /// A new browser (its own profile: no cookies, no storage) with the page area of
    /// `viewport` and the console and network logs recorded.
    pub async fn session(&self, viewport: Viewport) -> Session {
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": self.chromium,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-background-networking",
                            "--disable-dev-shm-usage",
                            "--hide-scrollbars",
                            "--lang=en-US",
                            // Hermetic: only this machine resolves, so an outside script
                            // (Turnstile's) fails at once, online or not, and nothing
                            // leaves the machine.
                            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
                            format!("--window-size={},{}", viewport.width, viewport.height),
                        ],
                        // Headless windows have a minimum width (500 px); device metrics set
                        // the page area exactly, as the DevTools device toolbar does.
                        "mobileEmulation": {
                            "deviceMetrics": {
                                "width": viewport.width,
                                "height": viewport.height,
                                "pixelRatio": 1,
                                "mobile": viewport.mobile,
                                "touch": viewport.mobile,
                            }
                        },
                    },
                    "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
                }
            }
        });
        let answer = command(&self.http, reqwest::Method::POST, &format!("{}/session", self.url), Some(capabilities))
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"));
        let id = answer["sessionId"].as_str().expect("a session id").to_owned();
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).push(id.clone());
        Session { base: format!("{}/session/{id}", self.url), http: self.http.clone(), viewport }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // Quit each browser (chromedriver then removes its profile directory), then end
        // the process group in case one did not quit.
        let address = self.url.trim_start_matches("http://").to_owned();
        for id in self.sessions.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            delete_blocking(&address, &format!("/session/{id}"));
        }
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// One browser window.
pub struct Session {
    base: String,
    http: reqwest::Client,
    pub viewport: Viewport,
}

/// A found element, as WebDriver names it.
#[derive(Clone, Debug)]
pub struct Element(String);

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Session {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        command(&self.http, method.clone(), &format!("{}{path}", self.base), body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Navigates and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// The address of the page shown.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The current DOM, serialised.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching a CSS selector, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let body = json!({ "using": "css selector", "value": css });
        match command(&self.http, reqwest::Method::POST, &format!("{}/element", self.base), Some(body)).await {
            Ok(found) => Some(Element(found[ELEMENT_KEY].as_str().expect("an element reference").to_owned())),
            Err(WebDriverError::Protocol { error, .. }) if error == "no such element" => None,
            Err(e) => panic!("WebDriver find {css}: {e}"),
        }
    }

    /// Types into an element (WebDriver's Element Send Keys: it focuses the element first).
    pub async fn send_keys(&self, element: &Element, text: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{}/value", element.0), Some(json!({ "text": text }))).await;
    }

    /// Presses and releases each character of `text` (or a [`keys`] code) on the
    /// keyboard, into whatever has the focus, as a person typing would.
    pub async fn type_keys(&self, text: &str) {
        let strokes: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let key = c.to_string();
                [json!({ "type": "keyDown", "value": key }), json!({ "type": "keyUp", "value": key })]
            })
            .collect();
        let actions = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": strokes }] });
        self.call(reqwest::Method::POST, "/actions", Some(actions)).await;
        self.call(reqwest::Method::DELETE, "/actions", None).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns
    /// its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// Waits until `script` returns something truthy and returns it; panics after
    /// [`WAIT`], naming `what`.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.execute(script, vec![]).await;
            let truthy = !matches!(value, Value::Null | Value::Bool(false)) && value != json!(0) && value != json!("");
            if truthy {
                return value;
            }
            if started.elapsed() > WAIT {
                panic!("waited {WAIT:?} for {what}; the page is {}:\n{}", self.url().await, self.source().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until an element matching `css` is on the page.
    pub async fn wait_for_element(&self, css: &str) -> Element {
        let script = format!("return document.querySelector({}) !== null", json!(css));
        self.wait_for(&format!("an element {css}"), &script).await;
        self.find(css).await.expect("the element just seen")
    }

    /// A PNG of the page area.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 PNG"))
            .expect("the screenshot is base64")
    }

    /// The browser console since the last call.
    pub async fn console(&self) -> Vec<ConsoleEntry> {
        let entries = self.call(reqwest::Method::POST, "/se/log", Some(json!({ "type": "browser" }))).await;
        entries
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| ConsoleEntry {
                level: e["level"].as_str().unwrap_or_default().to_owned(),
                source: e["source"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// The DevTools events (`{"method", "params"}`) recorded since the last call.
    pub async fn devtools_events(&self) -> Vec<Value> {
        let entries = self.call(reqwest::Method::POST, "/se/log", Some(json!({ "type": "performance" }))).await;
        entries
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e["message"].as_str())
            .filter_map(|m| serde_json::from_str::<Value>(m).ok())
            .map(|m| m["message"].clone())
            .collect()
    }

    /// Runs `source` in every page this browser loads from now on, before the page's own
    /// scripts (DevTools `Page.addScriptToEvaluateOnNewDocument`).
    pub async fn before_each_page(&self, source: &str) {
        let body = json!({ "cmd": "Page.addScriptToEvaluateOnNewDocument", "params": { "source": source } });
        self.call(reqwest::Method::POST, "/goog/cdp/execute", Some(body)).await;
    }
}

/// A WebDriver command's failure.
#[derive(Debug)]
pub enum WebDriverError {
    Transport(reqwest::Error),
    /// A W3C error answer: `error` is the error code (`no such element`, …).
    Protocol {
        status: u16,
        error: String,
        message: String,
    },
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebDriverError::Transport(e) => write!(f, "{e}"),
            WebDriverError::Protocol { status, error, message } => write!(f, "{status} {error}: {message}"),
        }
    }
}

/// Sends one WebDriver command and returns its `value`.
async fn command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let mut request = http.request(method, url).timeout(Duration::from_secs(120));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(WebDriverError::Transport)?;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.map_err(WebDriverError::Transport)?;
    let value = answer["value"].clone();
    if status >= 400 {
        return Err(WebDriverError::Protocol {
            status,
            error: value["error"].as_str().unwrap_or_default().to_owned(),
            message: value["message"].as_str().unwrap_or_default().chars().take(2000).collect(),
        });
    }
    Ok(value)
}

/// An unused local port for chromedriver to listen on.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// `DELETE path` without an async runtime (for `Drop`), best effort.
fn delete_blocking(address: &str, path: &str) {
    let Ok(addr) = address.parse() else { return };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request =
        format!("DELETE {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}
