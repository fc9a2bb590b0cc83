//! A real browser for the journeys: Debian's Chromium driven by its ChromeDriver over
//! WebDriver (fantoccini). Every step is photographed, and every Aidants Connect page is
//! checked with axe-core (WCAG 2.1 A and AA rules, plus axe's best practices): serious or
//! critical violations fail the test; all of them go to a report beside the screenshots.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const AXE: &str = include_str!("../assets/axe-core/axe.min.js");

/// Runs axe on the document and answers with its violations, reduced to what the report needs.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, {
  runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  resultTypes: ['violations']
}).then(r => done({
  violations: r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' '))
  }))
})).catch(e => done({ error: String(e) }));
"#;

fn program(variable: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(variable).unwrap_or_else(|_| default.to_owned()));
    assert!(
        path.exists(),
        "{} not found: the browser tests need Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver), or {variable} naming them",
        path.display()
    );
    path
}

/// Where the screenshots and axe reports go: `AC_BROWSER_OUTPUT`, else `target/navigateur`.
pub fn output_root() -> PathBuf {
    match std::env::var_os("AC_BROWSER_OUTPUT") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/navigateur"),
    }
}

/// What axe found on one page.
#[derive(Debug)]
pub struct AxePage {
    pub step: String,
    pub path: String,
    pub violations: Vec<Value>,
}

impl AxePage {
    fn blocking(&self) -> Vec<&Value> {
        self.violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect()
    }
}

/// The ChromeDriver process, leader of a process group that holds the browser it starts:
/// dropping it (after the test, or after a failure) stops them all.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser (its own ChromeDriver, Chromium and empty profile) for one journey.
pub struct Chrome {
    pub client: Client,
    driver: Driver,
    _profile: tempfile::TempDir,
    dir: PathBuf,
    /// Pages under this prefix are Aidants Connect's: they are checked with axe.
    checked_prefix: String,
    steps: Mutex<u32>,
    pages: Mutex<Vec<AxePage>>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Chrome {
    /// Starts a browser whose screenshots go to `output_root()/journey`; pages under
    /// `checked_prefix` are checked with axe.
    pub async fn start(journey: &str, checked_prefix: &str) -> Chrome {
        let chromium = program("AC_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = program("AC_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = free_port();
        let mut command = Command::new(chromedriver);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = Driver(command.spawn().expect("starting chromedriver"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--lang=fr-FR", "--window-size=1280,900", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": { "intl.accept_languages": "fr-FR,fr" }
            }
        });
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session in Chromium");
        let dir = output_root().join(journey);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Chrome {
            client,
            driver,
            _profile: profile,
            dir,
            checked_prefix: checked_prefix.to_owned(),
            steps: Mutex::new(0),
            pages: Mutex::new(Vec::new()),
        }
    }

    /// Opens `url` and records the step.
    pub async fn open(&self, url: &str, step: &str) {
        self.client.goto(url).await.unwrap();
        self.wait_loaded().await;
        self.record(step).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The attribute `name` of the element `css`.
    pub async fn attr_of(&self, css: &str, name: &str) -> Option<String> {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} absent: {e}"))
            .attr(name)
            .await
            .unwrap()
    }

    /// Fails unless the page shows `needle`; the failure shows the page.
    pub async fn expect_text(&self, needle: &str) {
        let text = self.text().await;
        assert!(
            text.contains(needle),
            "«{needle}» is not on {}:\n{text}",
            self.url().await
        );
    }

    /// Fails unless the element `css` shows `needle`.
    pub async fn expect_text_of(&self, css: &str, needle: &str) {
        let text = self.text_of(css).await;
        assert!(
            text.contains(needle),
            "{css} reads «{text}», not «{needle}»"
        );
    }

    /// Fails unless the browser is at an address containing `part`; the failure shows the page.
    pub async fn expect_at(&self, part: &str) {
        let url = self.url().await;
        assert!(
            url.contains(part),
            "not at «{part}» but at {url}:\n{}",
            self.text().await
        );
    }

    /// The visible text of the element `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} absent: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Types `text` into the field whose label reads `label` (a person finds fields by
    /// their labels, so the labels must be tied to the fields).
    pub async fn type_in(&self, label: &str, text: &str) {
        let field = self.field_labelled(label).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Chooses `option` in the list labelled `label`.
    pub async fn choose(&self, label: &str, option: &str) {
        let list = self.field_labelled(label).await;
        let xpath = format!("./option[normalize-space(.)={}]", xpath_literal(option));
        list.find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no option «{option}» in «{label}»: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Ticks the checkbox or radio button labelled `label` by clicking its label, as a person
    /// does (the DSFR draws the box on the label).
    pub async fn tick(&self, label: &str) {
        let xpath = format!("//label[normalize-space(.)={}]", xpath_literal(label));
        let found = self.client.find(Locator::XPath(&xpath)).await;
        let label_el = match found {
            Ok(el) => el,
            Err(_) => {
                let starts = format!(
                    "//label[starts-with(normalize-space(.), {})]",
                    xpath_literal(label)
                );
                self.client
                    .find(Locator::XPath(&starts))
                    .await
                    .unwrap_or_else(|e| panic!("no label «{label}»: {e}"))
            }
        };
        label_el.click().await.unwrap();
    }

    async fn field_labelled(&self, label: &str) -> fantoccini::elements::Element {
        let xpath = format!(
            "//label[starts-with(normalize-space(.), {})]",
            xpath_literal(label)
        );
        let Ok(label_el) = self.client.find(Locator::XPath(&xpath)).await else {
            panic!("no label «{label}» on {}", self.url().await);
        };
        let id = label_el
            .attr("for")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("label «{label}» is not tied to a field"));
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|e| panic!("label «{label}» names #{id}, absent: {e}"))
    }

    /// Clicks the button or link whose visible text is `text`, waits for the next page and
    /// records it as `step`.
    pub async fn click(&self, text: &str, step: &str) {
        let literal = xpath_literal(text);
        let xpath = format!(
            "(//button[normalize-space(.)={literal}] | //a[normalize-space(.)={literal}] \
             | //button[@aria-label={literal}])[1]"
        );
        let target = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("nothing to click reads «{text}»: {e}"));
        let before = self.client.find(Locator::Css("html")).await.unwrap();
        target.click().await.unwrap();
        self.next_page(before, text, step).await;
    }

    /// Submits, from the current page, a form the page did not have: what a hostile site
    /// does to forge a request (`action` on another site, hidden `fields`). Waits for the
    /// answer and records it as `step`.
    pub async fn forge_post(&self, action: &str, fields: &[(&str, &str)], step: &str) {
        let before = self.client.find(Locator::Css("html")).await.unwrap();
        let fields: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect();
        self.client
            .execute(
                "const [action, fields] = arguments;
                 const form = document.createElement('form');
                 form.method = 'post';
                 form.action = action;
                 for (const [name, value] of Object.entries(fields)) {
                   const input = document.createElement('input');
                   input.type = 'hidden'; input.name = name; input.value = value;
                   form.appendChild(input);
                 }
                 document.body.appendChild(form);
                 form.submit();",
                vec![json!(action), Value::Object(fields)],
            )
            .await
            .unwrap();
        self.next_page(before, action, step).await;
    }

    /// Waits until the browser has left the document whose root is `before` and loaded the
    /// next one, then records it.
    async fn next_page(&self, before: fantoccini::elements::Element, what: &str, step: &str) {
        // The old document goes stale once the browser has moved to the next one.
        let deadline = Instant::now() + Duration::from_secs(20);
        while before.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "«{what}» led nowhere");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.wait_loaded().await;
        self.record(step).await;
    }

    async fn wait_loaded(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = self
                .client
                .execute("return document.readyState", vec![])
                .await;
            if matches!(state, Ok(Value::String(ref s)) if s == "complete") {
                return;
            }
            assert!(Instant::now() < deadline, "page never finished loading");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Prints the page on A4 as the browser prints it, keeps the PDF beside the screenshots as
    /// `name`, and answers with its number of pages.
    pub async fn print_a4(&self, name: &str) -> usize {
        let a4 = fantoccini::wd::PrintConfiguration::builder()
            .size(fantoccini::wd::PrintSize::A4)
            .build()
            .unwrap();
        let pdf = self.client.print(a4).await.unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        std::fs::write(self.dir.join(name), &pdf).unwrap();
        let count = |needle: &[u8]| pdf.windows(needle.len()).filter(|w| *w == needle).count();
        count(b"/Type /Page") - count(b"/Type /Pages")
    }

    /// Photographs the page, and checks it with axe when it is Aidants Connect's.
    pub async fn record(&self, step: &str) {
        let number = {
            let mut steps = self.steps.lock().unwrap();
            *steps += 1;
            *steps
        };
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.dir.join(format!("{number:02}-{step}.png")), png).unwrap();
        let url = self.url().await;
        if url.starts_with(&self.checked_prefix) {
            let path = url[self.checked_prefix.len()..].to_owned();
            let violations = self.axe().await;
            self.pages.lock().unwrap().push(AxePage {
                step: format!("{number:02}-{step}"),
                path,
                violations,
            });
        }
    }

    /// Runs axe on the current page and answers with its violations.
    pub async fn axe(&self) -> Vec<Value> {
        let loaded = self
            .client
            .execute("return typeof window.axe", vec![])
            .await
            .unwrap();
        if loaded != json!("object") {
            self.client.execute(AXE, vec![]).await.unwrap();
        }
        let result = self.client.execute_async(RUN_AXE, vec![]).await.unwrap();
        assert!(result.get("error").is_none(), "axe failed: {result}");
        result["violations"].as_array().cloned().unwrap_or_default()
    }

    /// Ends the session, writes the axe report of the journey and fails on any serious or
    /// critical violation.
    pub async fn finish(self) -> Vec<AxePage> {
        let Chrome {
            client,
            driver,
            dir,
            pages,
            ..
        } = self;
        let _ = client.close().await;
        drop(driver);
        let pages = pages.into_inner().unwrap();
        let report: Vec<Value> = pages
            .iter()
            .map(|p| {
                json!({
                    "etape": p.step,
                    "page": p.path,
                    "violations": p.violations,
                })
            })
            .collect();
        std::fs::write(
            dir.join("axe.json"),
            serde_json::to_string_pretty(&report).unwrap(),
        )
        .unwrap();
        let blocking: Vec<String> = pages
            .iter()
            .flat_map(|p| {
                p.blocking()
                    .into_iter()
                    .map(move |v| format!("{} ({}): {v}", p.step, p.path))
            })
            .collect();
        assert!(
            blocking.is_empty(),
            "serious or critical accessibility violations:\n{}",
            blocking.join("\n")
        );
        pages
    }
}

/// `text` as an XPath string literal.
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        format!("\"{text}\"")
    } else if !text.contains('\'') {
        format!("'{text}'")
    } else {
        let parts: Vec<String> = text.split('"').map(|p| format!("\"{p}\"")).collect();
        format!("concat({})", parts.join(", '\"', "))
    }
}
