//! The admin console in headless Chromium, driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`), on both backends. Built
//! where no ChromeDriver is installed (see build.rs), these tests are
//! ignored and say why. axe-core (vendored in tests/assets) checks every
//! page for serious and critical accessibility violations.
//!
//! `ROSTER_CONSOLE_SCREENSHOTS=1 cargo test --test api browser::` also
//! writes the main pages to `docs/img/` (from the SQLite run).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, spawn_app};

macro_rules! in_browser {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[actix_web::test]
                #[cfg_attr(
                    not(browser_tests),
                    ignore = "install chromium and chromium-driver (or set ROSTER_TEST_CHROMEDRIVER) to run the browser tests"
                )]
                async fn sqlite() {
                    super::run(Backend::Sqlite, super::$name).await;
                }

                #[actix_web::test]
                #[cfg_attr(
                    any(not(browser_tests), not(postgres_tests)),
                    ignore = "needs chromium-driver and ROSTER_TEST_POSTGRES_URL"
                )]
                async fn postgres() {
                    super::run(Backend::Postgres, super::$name).await;
                }
            }
        )*
    };
}

in_browser!(admin_walkthrough, last_admin_and_operator);

/// One browser at a time: two cores run one Chromium well, not four.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const AXE: &str = include_str!("../assets/axe.min.js");

/// A ChromeDriver process, stopped when dropped.
struct Driver {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A test that failed never closed its session: its Chromium would
        // outlive the driver. It is the one using this profile.
        let _ = Command::new("pkill")
            .args(["-f", "--"])
            .arg(format!(
                "--user-data-dir={}",
                self._profile.path().display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Starts ChromeDriver and a headless Chromium session.
async fn browser() -> (Driver, Client) {
    let driver_path = std::env::var("ROSTER_TEST_CHROMEDRIVER")
        .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().expect("profile dir");
    let driver = Driver {
        child,
        _profile: profile,
    };
    let mut chrome = json!({
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1280,900",
            format!("--user-data-dir={}", driver._profile.path().display()),
        ],
    });
    if let Ok(binary) = std::env::var("ROSTER_TEST_CHROMIUM") {
        chrome["binary"] = json!(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), chrome);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let started = Instant::now();
    loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a browser session: {e}"),
        }
    }
}

type Test = fn(Ctx) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// What a browser test gets.
struct Ctx {
    app: TestApp,
    browser: Client,
    screenshots: bool,
}

#[allow(clippy::await_holding_lock)]
async fn run(backend: Backend, test: Test) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_driver, browser) = browser().await;
    let screenshots = backend == Backend::Sqlite
        && std::env::var("ROSTER_CONSOLE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let ctx = Ctx {
        app,
        browser: browser.clone(),
        screenshots,
    };
    test(ctx).await;
    let _ = browser.close().await;
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    async fn goto(&self, path: &str) {
        self.browser.goto(&self.url(path)).await.expect("goto");
    }

    /// The first element's text, once `css` matches one whose text
    /// contains `want` (10 s at most).
    async fn wait_text(&self, css: &str, want: &str) -> String {
        let started = Instant::now();
        loop {
            let mut seen = String::new();
            if let Ok(elements) = self.browser.find_all(Locator::Css(css)).await {
                for element in elements {
                    if let Ok(text) = element.text().await {
                        if text.contains(want) {
                            return text;
                        }
                        seen.push_str(&text);
                        seen.push('\n');
                    }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no {css} with {want:?}; saw {seen:?}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.browser.find(Locator::Css(css)).await.expect(css);
        element.clear().await.expect("clear");
        element.send_keys(text).await.expect("type");
    }

    async fn script(&self, script: &str) -> Value {
        self.browser
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// axe-core on the current page: no serious or critical violations.
    async fn axe(&self, page: &str) {
        self.script(&format!("{AXE}\n;return true;")).await;
        let violations = self
            .script(
                "return axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')));",
            )
            .await;
        assert_eq!(violations, json!([]), "axe on {page}");
    }

    /// The page fits a 360 px wide screen: nothing but a table's own
    /// scroll box is wider.
    async fn fits_narrow(&self, page: &str) {
        self.browser
            .set_window_size(360, 800)
            .await
            .expect("resize");
        let wide = self
            .script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            )
            .await;
        self.browser
            .set_window_size(1280, 900)
            .await
            .expect("resize");
        assert!(
            wide[0].as_i64() <= wide[1].as_i64(),
            "{page} is wider than the screen at 360 px: {wide}"
        );
    }

    async fn screenshot(&self, name: &str) {
        if !self.screenshots {
            return;
        }
        let png = self.browser.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/img");
        std::fs::create_dir_all(&dir).expect("docs/img");
        std::fs::write(dir.join(format!("console-{name}.png")), png).expect("write screenshot");
    }

    /// Signs in through the form with `token`.
    async fn sign_in(&self, token: &str) {
        self.goto("/admin/sign-in").await;
        self.wait_text("h1", "Sign in").await;
        self.type_into("#token", token).await;
        self.click("form button[type=submit]").await;
        self.wait_text("header.top", "Sign out").await;
    }
}

fn admin_walkthrough(ctx: Ctx) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(async move {
        let app = &ctx.app;
        let (org, _, token) = app.org_with_admin("browser").await;
        let (other, other_admin, _) = app.org_with_admin("browser-other").await;
        let args = format!(
            "org: \"{org}\", email: \"ada@browser.example\", first: \"Ada\", last: \"Lovelace\", externalId: \"E-1\""
        );
        let ada = crate::helpers::id_of(&app.mutate(&app.operator(), "createUser", &args).await);
        for n in 0..5 {
            app.create_member(org, &format!("person{n}@browser.example"), "user")
                .await;
        }
        app.create_group(org, "Engineering").await;

        // Sign in with a token.
        ctx.goto("/admin/sign-in").await;
        ctx.axe("sign-in").await;
        ctx.fits_narrow("sign-in").await;
        ctx.screenshot("sign-in").await;
        ctx.sign_in(&token).await;
        // From here on pages change in place (hx-boost), in this one
        // document: anything the Content-Security-Policy blocks is noted.
        ctx.script(
            "window.cspViolations = []; document.addEventListener('securitypolicyviolation',
               e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI)); return true;",
        )
        .await;
        ctx.wait_text("#total", "7 members match.").await;
        ctx.axe("members").await;
        ctx.fits_narrow("members").await;
        ctx.screenshot("members").await;

        // Keyboard: the first Tab reaches the skip link, Enter follows it;
        // Enter in the search field runs the search.
        ctx.browser
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .send_keys("\u{E004}")
            .await
            .unwrap();
        let focused = ctx.script("return document.activeElement.className;").await;
        assert_eq!(focused, "skip");
        ctx.browser
            .active_element()
            .await
            .unwrap()
            .send_keys("\u{E007}")
            .await
            .unwrap();
        let focused = ctx.script("return document.activeElement.id;").await;
        assert_eq!(focused, "content");
        ctx.type_into("input[name=q]", "ada\u{E007}").await;
        ctx.wait_text("#total", "1 members match.").await;

        // Find a member, retire them, see it in Activity.
        ctx.click("tbody a").await;
        ctx.wait_text("h1", "Ada Lovelace").await;
        ctx.axe("member").await;
        ctx.fits_narrow("member").await;
        ctx.screenshot("member").await;
        ctx.click(&format!("form[action$='{ada}/retire'] button"))
            .await;
        ctx.wait_text(".notice", "The member is retired.").await;
        ctx.wait_text("#status", "retired").await;
        ctx.click("nav.main a[href$='/activity']").await;
        ctx.wait_text("h1", "Activity").await;
        // On PostgreSQL the event shows once the events API's horizon
        // passes it (at once, unless other transactions are running).
        for _ in 0..100 {
            let body = ctx
                .browser
                .find(Locator::Css("main"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if body.contains("active → retired") {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            ctx.goto(&format!("/admin/orgs/{org}/activity")).await;
        }
        ctx.wait_text("tbody tr", "active → retired").await;
        ctx.axe("activity").await;
        ctx.fits_narrow("activity").await;
        ctx.screenshot("activity").await;

        // Groups.
        ctx.click("nav.main a[href$='/groups']").await;
        ctx.wait_text("tbody", "Engineering").await;
        ctx.axe("groups").await;
        ctx.fits_narrow("groups").await;
        ctx.type_into("form[action$='/groups'] input[name=name]", "Design")
            .await;
        ctx.click("form[method=post][action$='/groups'] button")
            .await;
        ctx.wait_text("h1", "Group Design").await;
        ctx.axe("group").await;
        ctx.fits_narrow("group").await;

        // An API token: created, shown once, revoked.
        ctx.click("nav.main a[href$='/integrations']").await;
        ctx.wait_text("h1", "Integrations").await;
        ctx.axe("integrations").await;
        ctx.fits_narrow("integrations").await;
        ctx.type_into("form[action$='/create-token'] input[name=name]", "payroll")
            .await;
        ctx.click("input[name=scopes][value='members:read']").await;
        ctx.click("form[action$='/create-token'] button[type=submit]")
            .await;
        ctx.wait_text(".notice", "The token is created.").await;
        let secret = ctx.wait_text("#secret", "").await;
        assert!(secret.len() > 40, "{secret}");
        let works = app
            .data(&secret, "{ members(first: 1) { totalCount } }", json!({}))
            .await;
        assert_eq!(works["members"]["totalCount"], 7);
        ctx.screenshot("integrations").await;
        let violations = ctx.script("return window.cspViolations || [];").await;
        assert_eq!(violations, json!([]), "the pages so far break no CSP rule");
        ctx.goto(&format!("/admin/orgs/{org}/integrations")).await;
        ctx.wait_text("tbody", "payroll").await;
        let source = ctx.browser.source().await.unwrap();
        assert!(!source.contains(&secret), "the token is shown once");
        ctx.click("form[action$='/revoke-token'] button").await;
        ctx.wait_text(".notice", "The token is revoked.").await;
        let (status, _) = app
            .post(&secret, "{ members(first: 1) { totalCount } }", json!({}))
            .await;
        assert_eq!(status, 401);

        // A webhook and its deliveries.
        let receiver = crate::webhooks::Receiver::start(crate::webhooks::Answer::Ok);
        ctx.type_into(
            "form[action$='/create-webhook'] input[name=url]",
            &receiver.url,
        )
        .await;
        ctx.click("form[action$='/create-webhook'] button").await;
        ctx.wait_text(".notice", "The webhook is created.").await;
        ctx.click("a[href*='/integrations/webhooks/']").await;
        ctx.wait_text("h1", "Webhook").await;
        ctx.axe("webhook").await;
        ctx.fits_narrow("webhook").await;

        // Import: upload, preview, apply.
        ctx.click("nav.main a[href$='/import']").await;
        ctx.wait_text("h1", "Import").await;
        ctx.axe("import").await;
        ctx.fits_narrow("import").await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("people.csv");
        std::fs::write(
            &file,
            "email,firstName,lastName\nlin@browser.example,Lin,Ma\n",
        )
        .unwrap();
        ctx.browser
            .find(Locator::Css("input[type=file]"))
            .await
            .unwrap()
            .send_keys(&file.display().to_string())
            .await
            .unwrap();
        ctx.screenshot("import").await;
        ctx.click("form[action$='/import'] button[type=submit]")
            .await;
        ctx.wait_text("h1", "Import preview").await;
        ctx.wait_text("#created", "1").await;
        ctx.axe("import preview").await;
        ctx.fits_narrow("import preview").await;
        ctx.click("form[action$='/import'] button[type=submit]")
            .await;
        ctx.wait_text(".notice", "The import is written.").await;
        let found = app
            .data(
                &app.operator(),
                "query($o: Uuid) { user(org: $o, email: \"lin@browser.example\") { name } }",
                json!({ "o": org }),
            )
            .await;
        assert_eq!(found["user"]["name"], "Lin Ma");

        // A POST without the form token is refused, and changes nothing.
        let status = ctx
            .script(&format!(
                "return fetch('/admin/orgs/{org}/members/{ada}/reactivate', {{ method: 'POST',
                   headers: {{ 'content-type': 'application/x-www-form-urlencoded' }}, body: '' }})
                   .then(r => r.status);"
            ))
            .await;
        assert_eq!(status, 403);
        let data = app
            .data(
                &app.operator(),
                "query($o: Uuid, $u: Uuid) { user(org: $o, id: $u) { status } }",
                json!({ "o": org, "u": ada }),
            )
            .await;
        assert_eq!(data["user"]["status"], "RETIRED");

        // Another org's member: the same 404 as nothing at all.
        ctx.goto(&format!("/admin/orgs/{other}/members/{other_admin}"))
            .await;
        ctx.wait_text("h1", "Not found").await;
        ctx.axe("not found").await;
        ctx.goto(&format!("/admin/orgs/{org}/members/{}", Uuid::now_v7()))
            .await;
        ctx.wait_text("h1", "Not found").await;

        // Signing out ends the session.
        ctx.goto(&format!("/admin/orgs/{org}/members")).await;
        ctx.click("form.signout button").await;
        ctx.wait_text(".notice", "You are signed out.").await;
        ctx.goto(&format!("/admin/orgs/{org}/members")).await;
        ctx.wait_text("h1", "Sign in").await;
    })
}

fn last_admin_and_operator(ctx: Ctx) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(async move {
        let app = &ctx.app;
        let (org, admin, _) = app.org_with_admin("browser-guard").await;
        // Operators sign in the same way and pick an org.
        ctx.sign_in(&app.operator()).await;
        ctx.wait_text("h1", "Orgs").await;
        ctx.axe("orgs").await;
        ctx.click(&format!("a[href='/admin/orgs/{org}/members']"))
            .await;
        ctx.wait_text("#total", "1 members match.").await;
        ctx.click("tbody a").await;
        ctx.wait_text("#role", "admin").await;
        // The last admin's retire says why not, in words.
        ctx.click(&format!("form[action$='{admin}/retire'] button"))
            .await;
        let notice = ctx.wait_text(".notice.error", "last active admin").await;
        assert!(notice.starts_with("Not done:"), "{notice}");
        ctx.wait_text("#status", "active").await;
        ctx.axe("member with an error").await;

        // The admin, handed a one-time link by the host app.
        let (ok, link, stderr) = crate::console::console_link(app, org, admin);
        assert!(ok, "{stderr}");
        ctx.browser.goto(link.trim()).await.unwrap();
        ctx.wait_text("main", "one-time link").await;
        ctx.axe("link").await;
        ctx.click("form button[type=submit]").await;
        ctx.wait_text("#total", "1 members match.").await;
        ctx.wait_text("header.top", "Members").await;
        let nav = ctx
            .browser
            .find(Locator::Css("nav.main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !nav.contains("Orgs"),
            "a tenant admin has no org list: {nav}"
        );
    })
}
