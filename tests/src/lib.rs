//! Test harness for the end-to-end tests in `it/`: databases on both backends (PostgreSQL
//! from `AC_TEST_POSTGRES_URL`, one fresh database per test, dropped afterwards), a clock the
//! tests move, Aidants Connect instances served on loopback through the binary's own `start`,
//! a cookie-keeping browser, and the fixtures (organisations, aidants, cards, usagers,
//! mandates).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aidants_connect::config::Config;
use chrono::{Duration, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use ring::rand::{SecureRandom, SystemRandom};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use store::{AidantId, AutorisationId, OrganisationId, Timestamp, UsagerId};
use web::Clock;

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).unwrap();
    hex::encode(buf)
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin = std::env::var("AC_TEST_POSTGRES_URL").expect(
                    "AC_TEST_POSTGRES_URL must name a PostgreSQL server for the PostgreSQL tests \
                     (e.g. postgres://postgres@127.0.0.1:5432/postgres); see README",
                );
                // Loopback needs no TLS; without it no OpenSSL state outlives a test.
                let admin = plain_tcp(&admin);
                let name = format!("ac_test_{}", random_hex(6));
                let mut conn = PgConnection::establish(&admin)
                    .expect("PostgreSQL unreachable at AC_TEST_POSTGRES_URL");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// `url` with `sslmode=disable` unless it names an `sslmode`.
fn plain_tcp(url: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("AC_TEST_POSTGRES_URL is not a URL");
    if !parsed.query_pairs().any(|(k, _)| k == "sslmode") {
        parsed.query_pairs_mut().append_pair("sslmode", "disable");
    }
    parsed.to_string()
}

/// A clock the test moves by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(start)))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// When every test starts: a Tuesday in winter (UTC+1 in Paris).
pub fn start_time() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap().into()
}

/// Redirect URI of the test relying parties (never contacted: the browser stops at it).
pub const RP_REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const RP_LOGOUT: &str = "http://127.0.0.1:9/apres-deconnexion";
pub const SECRET: &str = "secret-des-tests-de-bout-en-bout-0123456789";

fn test_clients() -> Vec<provider::Client> {
    let client = |id: &str, alg: provider::SigningAlg, userinfo: Option<provider::SigningAlg>| {
        provider::Client {
            client_id: id.to_owned(),
            client_secret: SECRET.to_owned(),
            redirect_uris: vec![RP_REDIRECT.to_owned()],
            post_logout_redirect_uris: vec![RP_LOGOUT.to_owned()],
            id_token_alg: alg,
            userinfo_alg: userinfo,
            token_endpoint_auth_method: provider::TokenAuthMethod::ClientSecretBasic,
            require_nonce: false,
            prompt_login: provider::PromptLogin::Reauthenticate,
        }
    };
    vec![
        client("fc-es256", provider::SigningAlg::Es256, None),
        client(
            "fc-rs256",
            provider::SigningAlg::Rs256,
            Some(provider::SigningAlg::Rs256),
        ),
        client("fc-hs256", provider::SigningAlg::Hs256, None),
        // As FranceConnect's record of Aidants Connect: HS256 ID token and userinfo, the
        // secret in the body, a nonce always, prompt=login met by the activity window.
        provider::Client {
            token_endpoint_auth_method: provider::TokenAuthMethod::ClientSecretPost,
            require_nonce: true,
            prompt_login: provider::PromptLogin::ActivityWindow,
            ..client(
                "fc-franceconnect",
                provider::SigningAlg::Hs256,
                Some(provider::SigningAlg::Hs256),
            )
        },
    ]
}

/// A server running on a thread of its own. Dropping it stops the server and waits for its
/// thread, so that no server thread (nor its database connections) outlives the test: a
/// process that exits while one still runs can crash in the C libraries' exit handlers.
pub struct Served {
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Runs the server `start` builds on a new thread with its own actix system; `start` also
    /// returns a value for the caller (e.g. a control handle).
    pub fn spawn<T, F>(start: F) -> (Served, T)
    where
        T: Send + 'static,
        F: FnOnce() -> (actix_web::dev::Server, T) + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (server, extra) = start();
                tx.send((server.handle(), extra)).unwrap();
                let _ = server.await;
            })
        });
        let (handle, extra) = rx.recv().unwrap();
        (
            Served {
                handle,
                thread: Some(thread),
            },
            extra,
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // A new thread: the test's own runtime cannot block on the stop future.
        let stopper =
            std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
        let _ = stopper.join();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running instance of Aidants Connect.
pub struct Instance {
    pub base: String,
    _served: Served,
}

/// The seed of each fixture card.
pub const SEED_A: &str = "00112233445566778899aabbccddeeff00112233";
pub const SEED_B: &str = "ffeeddccbbaa99887766554433221100ffeeddcc";
/// The seed of organisation A's référent's card.
pub const SEED_R: &str = "0123456789abcdef0123456789abcdef01234567";

/// The people and mandates every end-to-end test starts with.
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub org_a: OrganisationId,
    pub org_b: OrganisationId,
    pub aidant_a: AidantId,
    pub email_a: String,
    /// Organisation B's référent (and its only aidant).
    pub aidant_b: AidantId,
    pub email_b: String,
    /// Organisation A's référent.
    pub referent_a: AidantId,
    pub email_referent_a: String,
    /// All démarches, LONG.
    pub usager_all: mandate::Usager,
    /// argent only, MONTH.
    pub usager_argent: mandate::Usager,
    /// A mandate that expired.
    pub usager_expired: mandate::Usager,
    /// Its only autorisation (logement) was revoked.
    pub usager_revoked: mandate::Usager,
    /// A mandate with organisation B only.
    pub usager_of_b: mandate::Usager,
}

fn pivot(given: &str, family: &str, birthdate: &str) -> identity::IdentitePivot {
    identity::IdentitePivot {
        given_name: given.into(),
        family_name: family.into(),
        preferred_username: String::new(),
        birthdate: identity::IdentitePivot::parse_birthdate(birthdate).unwrap(),
        gender: identity::Gender::Female,
        birthplace: "75107".into(),
        birthcountry: identity::FRANCE_COG.into(),
        email: format!("{}@exemple.fr", given.to_lowercase()),
    }
}

/// A test service: its database, keys, clock, fixtures and running instances.
pub struct TestService {
    pub config: Config,
    pub clock: Arc<ManualClock>,
    pub fixtures: Fixtures,
    pub instances: Vec<Instance>,
    pub pool: store::DbPool,
    pub cipher: authenticator::SeedCipher,
    /// The simulated FranceConnect's control (with the simulator only).
    pub sim: Option<fc_sim::idp::SimControl>,
    /// The SMS provider's inbox (with the simulator only).
    pub sms: Option<SmsInbox>,
    _keys: tempfile::TempDir,
    /// What each instance's state gets changed by once built from the configuration.
    adjust: StateAdjust,
    /// Dropped last, once every server and connection is gone.
    pub db: TestDb,
}

/// A change to an instance's state once built from the configuration (a test adds a version of
/// the mandate's text to come).
pub type StateAdjust = Arc<dyn Fn(&mut web::AppState) + Send + Sync>;

/// No change.
fn unadjusted() -> StateAdjust {
    Arc::new(|_| {})
}

/// A translation of version 1 of the mandate's text into Arabic, for the tests only: each
/// article reads « test text, article N » (no real translation is published yet).
pub const TEST_TRANSLATION_AR: &str = "langue: ar
avertissement: نص تجريبي للاختبار فقط.
traduit-par: Traductrice du test
relu-par: Relecteur du test
relu-le: 2026-03-01

نص تجريبي للاختبار، المادة 1.
نص تجريبي للاختبار، المادة 2.
نص تجريبي للاختبار، المادة 3.
نص تجريبي للاختبار، المادة 4.
نص تجريبي للاختبار، المادة 5.
نص تجريبي للاختبار، المادة 6.
نص تجريبي للاختبار، المادة 7.
";

/// The published texts, version 1 translated into Arabic by [`TEST_TRANSLATION_AR`].
pub fn translated_into_arabic() -> StateAdjust {
    Arc::new(|state| {
        state
            .mandate_texts
            .add_translation(1, TEST_TRANSLATION_AR)
            .unwrap()
    })
}

impl Drop for TestService {
    fn drop(&mut self) {
        // Servers first (they hold pools of their own), then the database.
        self.instances.clear();
        self.sms = None;
    }
}

/// Token the service presents to the SMS provider.
pub const SMS_PROVIDER_TOKEN: &str = "jeton-du-fournisseur-sms-des-tests-0123456789";
/// Token the SMS provider presents on the service's webhook.
pub const SMS_WEBHOOK_TOKEN: &str = "jeton-du-webhook-sms-des-tests-0123456789abcdef";

/// A fake SMS provider on loopback: records what it receives (checking the Bearer token) and
/// can be told to fail.
pub struct SmsInbox {
    pub url: String,
    received: Arc<Mutex<Vec<sms::OutgoingSms>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    _served: Served,
}

impl SmsInbox {
    fn start() -> SmsInbox {
        use actix_web::{web as aw, App, HttpRequest, HttpResponse, HttpServer};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/envoi",
            listener.local_addr().unwrap().port()
        );
        let received: Arc<Mutex<Vec<sms::OutgoingSms>>> = Arc::default();
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, f) = (received.clone(), failing.clone());
        let (served, ()) = Served::spawn(move || {
            let server = HttpServer::new(move || {
                let (r, f) = (r.clone(), f.clone());
                App::new().route(
                    "/envoi",
                    aw::post().to(move |req: HttpRequest, body: aw::Json<sms::OutgoingSms>| {
                        let (r, f) = (r.clone(), f.clone());
                        async move {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            if auth != format!("Bearer {SMS_PROVIDER_TOKEN}") {
                                return HttpResponse::Unauthorized().finish();
                            }
                            if f.load(std::sync::atomic::Ordering::SeqCst) {
                                return HttpResponse::ServiceUnavailable().finish();
                            }
                            r.lock().unwrap().push(body.into_inner());
                            HttpResponse::Accepted().finish()
                        }
                    }),
                )
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
            (server, ())
        });
        SmsInbox {
            url,
            received,
            failing,
            _served: served,
        }
    }

    /// What the provider received so far.
    pub fn received(&self) -> Vec<sms::OutgoingSms> {
        self.received.lock().unwrap().clone()
    }

    /// Makes the provider refuse messages (or accept them again).
    pub fn set_failing(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }
}

impl TestService {
    /// A service with one instance.
    pub fn start(backend: Backend) -> TestService {
        Self::start_instances(backend, 1)
    }

    /// A service with one instance whose configuration `tweak` changes.
    pub fn start_configured(backend: Backend, tweak: &dyn Fn(&mut Config)) -> TestService {
        Self::launch(backend, 1, Vec::new(), start_time(), tweak, unadjusted())
    }

    /// A service that sends its e-mail through `sink` (SMTP on loopback), with a reply-to.
    pub fn start_sending_to(
        backend: Backend,
        sink: &SmtpSink,
        tweak: &dyn Fn(&mut Config),
    ) -> TestService {
        let url = sink.url();
        TestService::start_configured(backend, &move |c| {
            c.email.transport = "smtp".into();
            c.email.smtp_url = url.clone();
            c.email.timeout_seconds = 2;
            c.email.reply_to = "Équipe Aidants Connect <contact@aidants.example>".into();
            tweak(c);
        })
    }

    /// A service with `count` instances sharing one database and one issuer URL.
    pub fn start_instances(backend: Backend, count: usize) -> TestService {
        Self::start_instances_configured(backend, count, &|_| {})
    }

    /// As `start_instances`, with a configuration `tweak` changes.
    pub fn start_instances_configured(
        backend: Backend,
        count: usize,
        tweak: &dyn Fn(&mut Config),
    ) -> TestService {
        Self::launch(
            backend,
            count,
            Vec::new(),
            start_time(),
            tweak,
            unadjusted(),
        )
    }

    /// A service and the FranceConnect simulator, both on the test clock: the simulator is
    /// registered as the service's client `fc-sim` (FranceConnect core) and the service as
    /// FranceConnect service provider `aidants-connect`; consent SMS go to a loopback inbox.
    /// Returns the simulator's base URL too.
    pub fn start_with_simulator(backend: Backend) -> (TestService, String) {
        Self::start_with_simulator_on(backend, "127.0.0.1")
    }

    /// As `start_with_simulator`, the simulator being named `sim_host` (it listens on
    /// 127.0.0.1): with `localhost`, a browser sees FranceConnect and the administrative site
    /// as another site than Aidants Connect, as in production.
    pub fn start_with_simulator_on(backend: Backend, sim_host: &str) -> (TestService, String) {
        Self::start_with_simulator_configured(backend, sim_host, &|_| {})
    }

    /// As `start_with_simulator_on`, the service's configuration then changed by `tweak`.
    pub fn start_with_simulator_configured(
        backend: Backend,
        sim_host: &str,
        tweak: &dyn Fn(&mut Config),
    ) -> (TestService, String) {
        Self::start_with_simulator_adjusted(backend, sim_host, tweak, unadjusted())
    }

    /// As `start_with_simulator_configured`, each instance's state then changed by `adjust`.
    pub fn start_with_simulator_adjusted(
        backend: Backend,
        sim_host: &str,
        tweak: &dyn Fn(&mut Config),
        adjust: StateAdjust,
    ) -> (TestService, String) {
        let sim_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sim_base = format!(
            "http://{sim_host}:{}",
            sim_listener.local_addr().unwrap().port()
        );
        let client = provider::Client {
            client_id: "fc-sim".into(),
            client_secret: SECRET.into(),
            redirect_uris: vec![format!("{sim_base}/callback")],
            post_logout_redirect_uris: vec![format!("{sim_base}/")],
            // As FranceConnect's record of Aidants Connect, which fc-sim's core follows.
            id_token_alg: provider::SigningAlg::Hs256,
            userinfo_alg: Some(provider::SigningAlg::Hs256),
            token_endpoint_auth_method: provider::TokenAuthMethod::ClientSecretPost,
            require_nonce: true,
            prompt_login: provider::PromptLogin::ActivityWindow,
        };
        let inbox = SmsInbox::start();
        let fc_issuer = format!("{sim_base}{}", fc_sim::idp::API);
        let inbox_url = inbox.url.clone();
        let mut service = Self::launch(
            backend,
            1,
            vec![client],
            start_time(),
            &move |config| {
                config.franceconnect.issuer = fc_issuer.clone();
                config.franceconnect.client_id = "aidants-connect".into();
                config.franceconnect.client_secret = SECRET.into();
                config.sms.sender = "http".into();
                config.sms.provider_url = inbox_url.clone();
                config.sms.provider_token = SMS_PROVIDER_TOKEN.into();
                config.sms.webhook_token = SMS_WEBHOOK_TOKEN.into();
                tweak(config);
            },
            adjust,
        );
        let issuer = service.issuer().to_owned();
        let config = fc_sim::SimConfig {
            issuer: issuer.clone(),
            client_id: "fc-sim".into(),
            client_secret: SECRET.into(),
            public_url: sim_base.clone(),
            sp_clients: vec![fc_sim::idp::SpClient {
                client_id: "aidants-connect".into(),
                client_secret: SECRET.into(),
                redirect_uris: vec![format!("{issuer}/fc/callback")],
                post_logout_redirect_uris: vec![format!("{issuer}/fc/deconnexion")],
                scopes: fc_sim::idp::HABILITATED_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
            }],
        };
        let clock = service.clock.clone();
        let now: fc_sim::idp::TimeSource = Arc::new(move || clock.now().into());
        let (served, control) =
            Served::spawn(move || fc_sim::serve(config, sim_listener, now).unwrap());
        service.instances.push(Instance {
            base: sim_base.clone(),
            _served: served,
        });
        service.sim = Some(control);
        service.sms = Some(inbox);
        (service, sim_base)
    }

    fn launch(
        backend: Backend,
        count: usize,
        extra_clients: Vec<provider::Client>,
        start: Timestamp,
        tweak: &dyn Fn(&mut Config),
        adjust: StateAdjust,
    ) -> TestService {
        let db = TestDb::new(backend);
        let keys = tempfile::tempdir().unwrap();
        let listeners: Vec<TcpListener> = (0..count)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let first_port = listeners[0].local_addr().unwrap().port();
        let mut config = Config::load(None).unwrap();
        config.database_url = db.url.clone();
        config.database_pool_size = 4;
        config.workers = 2;
        config.keys_dir = keys.path().to_path_buf();
        config.public_url = format!("http://127.0.0.1:{first_port}");
        config.clients = test_clients();
        config.clients.extend(extra_clients);
        // E-mail: delivered when a test asks (deliver_emails), never into the repository.
        config.email.every_seconds = 0;
        config.email.directory = keys.path().join("emails");
        // Scheduled jobs: run when a test asks (run_jobs), or where a test turns them on.
        config.jobs.expiring_mandates = false;
        config.jobs.aidants_without_card = false;
        config.jobs.inactivity = "off".into();
        tweak(&mut config);
        let clock = ManualClock::new(start);
        let pool = aidants_connect::open_database(&config).unwrap();
        let cipher = aidants_connect::seed_cipher(&config).unwrap();
        let fixtures = {
            let mut conn = pool.get().unwrap();
            seed_fixtures(&mut conn, &cipher, clock.now())
        };
        let mut service = TestService {
            db,
            config,
            clock,
            fixtures,
            instances: Vec::new(),
            pool,
            cipher,
            sim: None,
            sms: None,
            _keys: keys,
            adjust,
        };
        for listener in listeners {
            service.spawn(listener);
        }
        service
    }

    fn spawn(&mut self, listener: TcpListener) {
        let port = listener.local_addr().unwrap().port();
        let config = self.config.clone();
        let clock: Arc<dyn Clock> = self.clock.clone();
        let adjust = self.adjust.clone();
        let (served, ()) = Served::spawn(move || {
            let mut state = aidants_connect::build_state(&config, clock).unwrap();
            adjust(&mut state);
            (
                aidants_connect::start_with(&config, listener, state).unwrap(),
                (),
            )
        });
        self.instances.push(Instance {
            base: format!("http://127.0.0.1:{port}"),
            _served: served,
        });
    }

    /// Removes the PostgreSQL database under the running service (its connections are cut).
    pub fn break_database(&self) {
        let (admin, name) = self.db.pg.as_ref().expect("a PostgreSQL test database");
        let mut conn = PgConnection::establish(admin).unwrap();
        conn.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
    }

    /// The issuer (first instance's URL).
    pub fn issuer(&self) -> &str {
        &self.instances[0].base
    }

    /// A database connection for assertions and for changing state behind the service's back.
    pub fn conn(&self) -> store::PooledDb {
        self.pool.get().unwrap()
    }

    /// Calls userinfo at `base` with a Bearer token.
    pub async fn userinfo_at(&self, base: &str, access_token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{base}/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// Sends `browser` to a new authorization request of client `fc-es256` (scope profile);
    /// returns the interaction path and the request's state.
    pub async fn open_interaction(&self, browser: &Browser) -> (String, String) {
        let rp = self.relying_party("fc-es256").await;
        let (url, state, _) = rp.authorization_url(&["profile"]).unwrap();
        (browser.authorize(url.as_str()).await, state)
    }

    /// A new usager of organisation A with a long, in-person mandate for `demarches` made now
    /// by aidant A (usager and mandate in one transaction).
    pub fn usager_of_a(
        &self,
        identite: &identity::IdentitePivot,
        demarches: &[mandate::Demarche],
    ) -> mandate::Usager {
        let f = &self.fixtures;
        let (rng, now) = (SystemRandom::new(), self.clock_now());
        store::write_transaction(&mut self.conn(), |tx| {
            let usager = mandate::create_usager(
                tx,
                &rng,
                now,
                mandate::NewUsager {
                    identite,
                    franceconnect_sub: None,
                    phone: "",
                },
            )?;
            mandate::seed_mandate(
                tx,
                &rng,
                now,
                mandate::NewMandate {
                    organisation_id: &f.org_a,
                    usager_id: &usager.id,
                    created_by: &f.aidant_a,
                    duration: mandate::MandateDuration::Long,
                    demarches,
                    is_remote: false,
                    consent_phone: None,
                    renews: None,
                },
            )?;
            Ok::<_, mandate::MandateError>(usager)
        })
        .unwrap()
    }

    /// Revokes, behind the service's back, organisation A's autorisation for this usager and
    /// démarche.
    pub fn revoke_in_org_a(&self, usager_id: &UsagerId, demarche: mandate::Demarche) {
        let f = &self.fixtures;
        let mut conn = self.conn();
        let now = self.clock_now();
        let coverage = mandate::check_coverage(&mut conn, &f.org_a, usager_id, demarche, now)
            .unwrap()
            .unwrap();
        revoke_behind_the_back(
            &mut conn,
            now,
            &f.org_a,
            coverage.autorisation_id(),
            f.aidant_a.as_str(),
        );
    }

    /// The simulator's base URL (with the simulator only).
    pub fn sim_base(&self) -> String {
        self.instances.last().unwrap().base.clone()
    }

    /// Signs an aidant in on the service's own sign-in page.
    pub async fn sign_in(&self, browser: &Browser, email: &str, seed: &str) {
        let code = self.next_code(seed);
        let done = self.try_sign_in(browser, email, &code).await;
        assert_eq!(done.status, 303, "sign-in refused: {}", done.body);
    }

    /// Submits the sign-in page with `email` and `code`, coming back to the espace aidant.
    pub async fn try_sign_in(&self, browser: &Browser, email: &str, code: &str) -> Page {
        let url = format!("{}/connexion", self.issuer());
        let page = browser.get(&url).await;
        let csrf = csrf_token(&page.body);
        browser
            .post(
                &url,
                &[
                    ("csrf_token", &csrf),
                    ("email", email),
                    ("otp", code),
                    ("suite", "/espace-aidant"),
                ],
            )
            .await
    }

    /// Posts the wizard's first page with `fields` (CSRF added).
    pub async fn start_mandate(&self, browser: &Browser, fields: &[(&str, &str)]) -> Page {
        let page = browser
            .get(&format!("{}/mandats/nouveau", self.issuer()))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = csrf_token(&page.body);
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        browser
            .post(&format!("{}/mandats/nouveau", self.issuer()), &form)
            .await
    }

    /// At the simulated FranceConnect, the usager picks fictional identity `index`; returns
    /// FranceConnect's redirect back to the service.
    pub async fn identify_at_fc(
        &self,
        browser: &Browser,
        authorize_url: &str,
        index: usize,
    ) -> Page {
        let page = browser.get(authorize_url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let action = page
            .body
            .split("action=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        browser
            .post(
                &format!("{}{action}", self.sim_base()),
                &[("identity", &index.to_string())],
            )
            .await
    }

    /// Follows redirects from `url`; returns the last URL and its page.
    pub async fn follow(&self, browser: &Browser, url: &str) -> (String, Page) {
        let mut current = url::Url::parse(url).unwrap();
        for _ in 0..10 {
            let page = browser.get(current.as_str()).await;
            match page.location.clone() {
                Some(next) if (300..400).contains(&page.status) => {
                    current = current.join(&next).unwrap()
                }
                _ => return (current.to_string(), page),
            }
        }
        panic!("too many redirects from {url}");
    }

    /// The wizard up to the recap: `fields` on the first page, then identity `index` at
    /// FranceConnect; returns the recap URL.
    pub async fn identify_usager(
        &self,
        browser: &Browser,
        fields: &[(&str, &str)],
        index: usize,
    ) -> String {
        let started = self.start_mandate(browser, fields).await;
        assert_eq!(started.status, 303, "{}", started.body);
        let back = self
            .identify_at_fc(browser, &started.location.unwrap(), index)
            .await;
        assert_eq!(back.status, 302, "{}", back.body);
        let (url, page) = self.follow(browser, &back.location.unwrap()).await;
        assert!(url.contains("/mandats/nouveau/"), "{url}: {}", page.body);
        assert_eq!(page.status, 200, "{}", page.body);
        url
    }

    /// Confirms the recap at `recap_url`; returns the response.
    pub async fn confirm_recap(&self, browser: &Browser, recap_url: &str) -> Page {
        let page = browser.get(recap_url).await;
        let csrf = csrf_token(&page.body);
        let version = hidden_field(&page.body, "texte");
        browser
            .post(
                recap_url,
                &[
                    ("csrf_token", &csrf),
                    ("consentement", "oui"),
                    ("texte", &version),
                ],
            )
            .await
    }

    /// A whole mandate through the wizard and FranceConnect; returns the attestation URL.
    pub async fn create_mandate(
        &self,
        browser: &Browser,
        fields: &[(&str, &str)],
        index: usize,
    ) -> String {
        let recap = self.identify_usager(browser, fields, index).await;
        let done = self.confirm_recap(browser, &recap).await;
        assert_eq!(done.status, 303, "{}", done.body);
        format!("{}{}", self.issuer(), done.location.unwrap())
    }

    /// An aidant of organisation A uses the usager's mandate for `demarche` through
    /// fc-sim's relying party `fc-es256`, to the end: the identity it received.
    pub async fn use_mandate(
        &self,
        usager_id: &UsagerId,
        demarche: mandate::Demarche,
    ) -> fc_sim::rp::ReceivedIdentity {
        let rp = self.relying_party("fc-es256").await;
        let (code, _, nonce) = obtain_code(self, &Browser::new(), &rp, usager_id, demarche).await;
        rp.finish(&code, &nonce).await.unwrap()
    }

    /// One round of the service's upkeep at the test clock's time.
    pub fn upkeep(&self) -> aidants_connect::maintenance::Upkeep {
        let keys = provider::KeySet::load_or_generate(&self.config.keys_dir).unwrap();
        let rules = aidants_connect::upkeep_rules(&self.config);
        aidants_connect::maintenance::run_once(&mut self.conn(), &keys, &rules, self.clock_now())
            .unwrap()
    }

    /// The upkeep's verification of the journal at the test clock's time (asked daily or by
    /// the national team): whether it is intact, when one ran.
    pub fn verify_journal(&self) -> Option<bool> {
        let keys = provider::KeySet::load_or_generate(&self.config.keys_dir).unwrap();
        aidants_connect::maintenance::verify_journal(
            &mut self.conn(),
            &ring::rand::SystemRandom::new(),
            &keys,
            self.clock_now(),
        )
        .unwrap()
    }

    /// The path of the last link e-mailed to an issuer at `email`, as its message carries it
    /// (signed when the message is rendered).
    pub fn issuer_link(&self, email: &str) -> String {
        use diesel::prelude::*;
        use store::schema::outbox;
        let payload: String = outbox::table
            .filter(outbox::recipient.eq(email))
            .filter(outbox::kind.eq("issuer_link"))
            .order(outbox::created_at.desc())
            .select(outbox::payload)
            .first(&mut self.conn())
            .expect("a link was e-mailed");
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
        let id = payload["issuer_link"]["link_id"].as_str().unwrap();
        let key = aidants_connect::link_key(&self.config).unwrap();
        format!("/habilitation/lien/{}", key.token(id))
    }

    /// The service's current time.
    pub fn clock_now(&self) -> Timestamp {
        self.clock.now()
    }

    /// One round of e-mail delivery now, as an instance of the service runs it, with the
    /// service's e-mail configuration.
    pub fn deliver_emails(&self) -> mail::Delivery {
        self.deliver_emails_as(&aidants_connect::mailer(&self.config).unwrap())
    }

    /// One round of delivery by `mailer` (another instance, another server), with the report
    /// of refused addresses that follows it.
    pub fn deliver_emails_as(&self, mailer: &mail::Mailer) -> mail::Delivery {
        aidants_connect::maintenance::deliver_mail(
            &mut self.conn(),
            &SystemRandom::new(),
            mailer,
            &web::Metrics::new().unwrap(),
            self.clock_now(),
        )
        .unwrap()
    }

    /// One round of the scheduled jobs of `schedule` now, as an instance's upkeep runs them.
    pub fn run_jobs(
        &self,
        schedule: &aidants_connect::jobs::Schedule,
    ) -> Vec<aidants_connect::jobs::JobRun> {
        aidants_connect::jobs::run_due(
            &mut self.conn(),
            &SystemRandom::new(),
            schedule,
            self.clock_now(),
        )
        .unwrap()
    }

    /// The code a fixture card shows now.
    pub fn code(&self, seed_hex: &str) -> String {
        authenticator::card_code_at(&hex::decode(seed_hex).unwrap(), self.clock.now())
    }

    /// Moves to the next 30-second step so that a new code is shown.
    pub fn next_code(&self, seed_hex: &str) -> String {
        self.clock.advance(Duration::seconds(30));
        self.code(seed_hex)
    }

    /// A relying party (fc-sim's, on the `openidconnect` crate) registered as `client_id`.
    pub async fn relying_party(&self, client_id: &str) -> fc_sim::rp::RelyingParty {
        let clock = self.clock.clone();
        fc_sim::rp::RelyingParty::discover(self.issuer(), client_id, SECRET, RP_REDIRECT)
            .await
            .unwrap()
            .with_time_source(Arc::new(move || clock.now().into()))
    }
}

/// Revokes an autorisation as the database would show it after `by` revoked it in
/// `organisation_id` (the autorisation marked, `cancel_autorisation` journaled), without the
/// aidant's proof the service asks for: for fixtures and for changes made while a test runs.
pub fn revoke_behind_the_back(
    conn: &mut store::PooledDb,
    now: Timestamp,
    organisation_id: &OrganisationId,
    autorisation_id: &AutorisationId,
    by: &str,
) {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use store::schema::autorisations;
    store::write_transaction(conn, |tx| -> Result<(), Box<dyn std::error::Error>> {
        let demarche: String = autorisations::table
            .find(autorisation_id)
            .select(autorisations::demarche)
            .first(tx.conn())?;
        diesel::update(autorisations::table.find(autorisation_id))
            .set((
                autorisations::revoked_at.eq(Some(now)),
                autorisations::revoked_by.eq(Some(by)),
            ))
            .execute(tx.conn())?;
        journal::append(
            tx,
            &SystemRandom::new(),
            now,
            journal::NewEntry {
                chain: organisation_id.as_str(),
                action: journal::Action::CancelAutorisation,
                aidant_id: Some(&AidantId::from(by)),
                usager_id: None,
                organisation_id: Some(organisation_id),
                subject: &demarche,
                details: serde_json::json!({ "autorisation": autorisation_id }),
            },
        )?;
        Ok(())
    })
    .unwrap();
}

/// Seeds the fixtures every end-to-end test starts with (also used by the benchmarks).
pub fn seed_fixtures(
    conn: &mut store::PooledDb,
    cipher: &authenticator::SeedCipher,
    now: Timestamp,
) -> Fixtures {
    use accounts::{Habilitation, NewAidant, NewOrganisation, Role};
    use mandate::{Demarche, MandateDuration, NewMandate, NewUsager};
    let rng = SystemRandom::new();
    let org = |conn: &mut store::PooledDb, name: &str, siret: &str| {
        store::write_transaction(conn, |tx| {
            accounts::create_organisation(
                tx,
                &rng,
                now,
                NewOrganisation {
                    name,
                    siret,
                    address: "1 rue de la Paix",
                    zipcode: "75002",
                    city: "Paris",
                    kind: "CCAS",
                    habilitation: Habilitation::Validated,
                    france_services: false,
                },
            )
        })
        .unwrap()
    };
    let org_a = org(conn, "CCAS de Test A", "11111111100011");
    let org_b = org(conn, "Mairie de Test B", "22222222200022");
    let aidant = |conn: &mut store::PooledDb,
                  email: &str,
                  organisation: &str,
                  seed: &str,
                  serial: &str,
                  role: Role| {
        store::write_transaction(conn, |tx| -> Result<_, Box<dyn std::error::Error>> {
            let a = accounts::create_aidant(
                tx,
                &rng,
                now,
                NewAidant {
                    email,
                    first_name: "Alex",
                    last_name: "Test",
                    profession: "Travailleur social",
                    phone: "",
                    active: true,
                },
            )?;
            accounts::set_membership(tx, now, &a.id, &OrganisationId::from(organisation), role)?;
            accounts::record_cgu_acceptance(tx, &a.id, authenticator::cgu::in_force(now), now)?;
            authenticator::create_card(
                tx,
                &rng,
                cipher,
                now,
                authenticator::NewCard {
                    serial,
                    seed_hex: seed,
                    kind: authenticator::CardKind::Physical,
                    aidant_id: Some(&a.id),
                    validated: true,
                },
            )?;
            Ok(a)
        })
        .unwrap()
    };
    let aidant_a = aidant(
        conn,
        "alex.a@ccas-test.fr",
        org_a.id.as_str(),
        SEED_A,
        "GADT0000101",
        Role::Aidant,
    );
    let aidant_b = aidant(
        conn,
        "alex.b@mairie-test.fr",
        org_b.id.as_str(),
        SEED_B,
        "GADT0000102",
        Role::Referent,
    );
    let referent_a = aidant(
        conn,
        "rita.referente@ccas-test.fr",
        org_a.id.as_str(),
        SEED_R,
        "GADT0000103",
        Role::Referent,
    );
    let usager = |conn: &mut store::PooledDb, p: identity::IdentitePivot| {
        store::write_transaction(conn, |tx| {
            mandate::create_usager(
                tx,
                &rng,
                now,
                NewUsager {
                    identite: &p,
                    franceconnect_sub: None,
                    phone: "",
                },
            )
        })
        .unwrap()
    };
    let mandate = |conn: &mut store::PooledDb,
                   org: &OrganisationId,
                   by: &AidantId,
                   u: &mandate::Usager,
                   d: &[Demarche],
                   dur,
                   at| {
        store::write_transaction(conn, |tx| {
            mandate::seed_mandate(
                tx,
                &rng,
                at,
                NewMandate {
                    organisation_id: org,
                    usager_id: &u.id,
                    created_by: by,
                    duration: dur,
                    demarches: d,
                    is_remote: false,
                    consent_phone: None,
                    renews: None,
                },
            )
        })
        .unwrap()
    };
    let usager_all = usager(conn, pivot("Angela", "DUBOIS", "1962-08-24"));
    mandate(
        conn,
        &org_a.id,
        &aidant_a.id,
        &usager_all,
        &Demarche::ALL,
        MandateDuration::Long,
        now,
    );
    let usager_argent = usager(conn, pivot("Bernard", "MARTIN", "1950-01-02"));
    mandate(
        conn,
        &org_a.id,
        &aidant_a.id,
        &usager_argent,
        &[Demarche::Argent],
        MandateDuration::Month,
        now,
    );
    let usager_expired = usager(conn, pivot("Chantal", "PETIT", "1940-05-06"));
    mandate(
        conn,
        &org_a.id,
        &aidant_a.id,
        &usager_expired,
        &Demarche::ALL,
        MandateDuration::Month,
        now - Duration::days(40),
    );
    let usager_revoked = usager(conn, pivot("Denise", "ROBERT", "1955-07-08"));
    let (_, autorisations) = mandate(
        conn,
        &org_a.id,
        &aidant_a.id,
        &usager_revoked,
        &[Demarche::Logement],
        MandateDuration::Long,
        now,
    );
    revoke_behind_the_back(
        conn,
        now,
        &org_a.id,
        &autorisations[0].id,
        aidant_a.id.as_str(),
    );
    let usager_of_b = usager(conn, pivot("Emma", "RICHARD", "1990-09-10"));
    mandate(
        conn,
        &org_b.id,
        &aidant_b.id,
        &usager_of_b,
        &Demarche::ALL,
        MandateDuration::Long,
        now,
    );
    Fixtures {
        org_a: org_a.id,
        org_b: org_b.id,
        aidant_a: aidant_a.id,
        email_a: aidant_a.email,
        aidant_b: aidant_b.id,
        email_b: aidant_b.email,
        referent_a: referent_a.id,
        email_referent_a: referent_a.email,
        usager_all,
        usager_argent,
        usager_expired,
        usager_revoked,
        usager_of_b,
    }
}

/// A browser: keeps cookies, never follows redirects (tests look at each one).
pub struct Browser {
    pub http: reqwest::Client,
}

/// A response as the tests read it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

/// A real SMTP server on loopback (Debian's python3-aiosmtpd running
/// `tests/assets/smtp_sink.py`): it keeps every message it accepts, refuses `inexistant…`
/// recipients for good (550), asks `plustard…` to come back (451), answers `lent…` after 5 s.
pub struct SmtpSink {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// A message the sink received, parsed.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub from: String,
    pub to: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        use std::io::BufRead;
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/smtp_sink.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (Debian: python3-aiosmtpd)");
        let mut ready = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "the SMTP sink did not start");
        SmtpSink { child, dir, port }
    }

    /// The URL the service sends to (plain SMTP: loopback only).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<ReceivedEmail> {
        let mut messages = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "eml") {
                let bytes = std::fs::read(&path).unwrap();
                let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
                let addresses = |a: Option<&mail_parser::Address>| -> Vec<String> {
                    a.map(|a| {
                        a.iter()
                            .filter_map(|m| m.address().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
                };
                messages.push(ReceivedEmail {
                    from: addresses(parsed.from()).join(","),
                    to: addresses(parsed.to()),
                    reply_to: addresses(parsed.reply_to()).into_iter().next(),
                    subject: parsed.subject().unwrap_or_default().to_owned(),
                    text: parsed.body_text(0).unwrap_or_default().into_owned(),
                    html: parsed.body_html(0).unwrap_or_default().into_owned(),
                });
            }
        }
        messages
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }

    /// The messages received for `address`.
    pub fn to(&self, address: &str) -> Vec<ReceivedEmail> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Page {
    /// Whether this is the page marked `data-page="{name}"` (a stable marker on `<main>`:
    /// `fi-connexion`, `fi-code`, `fi-usager`, `fi-demarche`, `connexion`,
    /// `code-a-confirmer`), so tests name the step, not its French wording.
    pub fn shows(&self, name: &str) -> bool {
        self.body.contains(&format!(
            "<main id=\"contenu\" role=\"main\" tabindex=\"-1\" data-page=\"{name}\">"
        ))
    }
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            body: response.text().await.unwrap(),
            headers,
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        Self::read(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Self::read(self.http.post(url).form(form).send().await.unwrap()).await
    }

    /// Sends the browser to an authorization URL; returns the interaction path it lands on.
    pub async fn authorize(&self, url: &str) -> String {
        let page = self.get(url).await;
        assert_eq!(page.status, 302, "authorize: {}", page.body);
        let location = page.location.unwrap();
        assert!(
            location.starts_with("/fi/"),
            "unexpected redirect {location}"
        );
        location
    }

    /// Posts a form of the interaction page at `base + path`, with the page's CSRF token.
    pub async fn submit(
        &self,
        base: &str,
        path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let page = self.get(&format!("{base}{path}")).await;
        let csrf = csrf_token(&page.body);
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(&format!("{base}{path}/{action}"), &form).await
    }
}

impl Browser {
    /// Posts `fields` to `base + path` with the browser's CSRF token (read from the page at
    /// `base + from`, as a person would submit a form of that page).
    pub async fn post_from(
        &self,
        base: &str,
        from: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let page = self.get(&format!("{base}{from}")).await;
        assert!(
            page.body.contains("csrf_token"),
            "no form on {from} ({}): {}",
            page.status,
            page.body
        );
        let csrf = csrf_token(&page.body);
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(&format!("{base}{path}"), &form).await
    }
}

impl Browser {
    /// Sends a file as a browser's upload form does (multipart), with the CSRF token of the
    /// page at `from` and the file as field `field`.
    pub async fn post_file_from(
        &self,
        base: &str,
        from: &str,
        path: &str,
        field: &str,
        content: &[u8],
    ) -> Page {
        let csrf = csrf_token(&self.get(&format!("{base}{from}")).await.body);
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", csrf)
            .part(
                field.to_owned(),
                reqwest::multipart::Part::bytes(content.to_vec())
                    .file_name("cartes.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            );
        Self::read(
            self.http
                .post(format!("{base}{path}"))
                .multipart(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_token(html: &str) -> String {
    hidden_field(html, "csrf_token")
}

/// The value of the first field named `name` of a page.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in page: {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The query parameters of a redirect URL.
pub fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Runs the browser part for `usager_id`/`demarche` and returns (code, state, nonce).
pub async fn obtain_code(
    service: &TestService,
    browser: &Browser,
    rp: &fc_sim::rp::RelyingParty,
    usager_id: &UsagerId,
    demarche: mandate::Demarche,
) -> (String, String, String) {
    let (url, state, nonce) = rp.authorization_url(fc_sim::SCOPES).unwrap();
    let base = service.issuer();
    let interaction = browser.authorize(url.as_str()).await;
    let login_page = browser.get(&format!("{base}{interaction}")).await;
    assert_eq!(login_page.status, 200);
    assert!(
        login_page.body.contains("Connexion de l'aidant"),
        "{}",
        login_page.body
    );
    let code = service.next_code(SEED_A);
    let logged = browser
        .submit(
            base,
            &interaction,
            "connexion",
            &[("email", &service.fixtures.email_a), ("otp", &code)],
        )
        .await;
    assert_eq!(logged.status, 303, "login refused: {}", logged.body);
    let usagers = browser.get(&format!("{base}{interaction}")).await;
    assert!(usagers.shows("fi-usager"), "{}", usagers.body);
    let chosen = browser
        .submit(
            base,
            &interaction,
            "usager",
            &[("usager", usager_id.as_str())],
        )
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    let done = browser
        .submit(
            base,
            &interaction,
            "demarche",
            &[("demarche", demarche.id())],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.unwrap();
    assert!(location.starts_with(RP_REDIRECT), "{location}");
    let params = query_of(&location);
    assert_eq!(params.get("state"), Some(&state), "state must be echoed");
    (params["code"].clone(), state, nonce)
}

/// Runs an async test body on each backend it is declared for.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )*
    };
}
