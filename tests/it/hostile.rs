//! What a hostile probe found, each shown fixed on loopback: request smuggling through a
//! chunked body ending with a bare LF, a database outage answered 503 quickly (pages, OIDC
//! endpoints, readiness), a readiness that sees a database refusing writes or short of disk,
//! `/token` and `/userinfo` answering JSON whatever goes wrong, anonymous authorizations that
//! do not pile up, `__Host-` cookies, and card seeds bound to their card.

use ac_tests::{on_both_backends, Backend, Browser, TestService, RP_REDIRECT, SECRET, SEED_A};
use chrono::Duration;
use diesel::prelude::*;
use std::io::{Read, Write};
use std::time::Instant;

/// Sends `bytes` on one new connection to `base` and reads until the server closes it; `None`
/// when it is still open after 5 seconds.
fn raw_exchange(base: &str, bytes: &[u8]) -> Option<String> {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(String::from_utf8_lossy(&received).into_owned()),
        }
    }
}

/// The status lines of the responses in an exchange (a body may run into the next one).
fn responses(exchange: &str) -> Vec<String> {
    exchange
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| exchange[i..].lines().next().unwrap_or_default().to_owned())
        .collect()
}

async fn chunked_bodies_are_refused_and_the_connection_closed(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    // The probe's request: a chunked body ending with a bare LF, then a second request that
    // a lenient front proxy would forward on the same connection.
    let smuggled =
        b"POST /token HTTP/1.1\r\nHost: ac\r\nContent-Type: application/x-www-form-urlencoded\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\nGET /healthz HTTP/1.1\r\nHost: ac\r\n\r\n";
    let base_for_thread = base.clone();
    let exchange = tokio::task::spawn_blocking(move || raw_exchange(&base_for_thread, smuggled))
        .await
        .unwrap()
        .expect("the server closes the connection after refusing");
    assert_eq!(
        responses(&exchange),
        ["HTTP/1.1 411 Length Required"],
        "{exchange}"
    );
    assert!(
        exchange.to_lowercase().contains("connection: close"),
        "{exchange}"
    );
    assert!(
        exchange.contains("\"error\":\"invalid_request\""),
        "{exchange}"
    );
    // A chunked body properly ended is refused just the same, on any route, and the server
    // says it closes the connection (what it had already read is then answered).
    let proper =
        b"POST /connexion HTTP/1.1\r\nHost: ac\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
GET /healthz HTTP/1.1\r\nHost: ac\r\n\r\n";
    let base_for_thread = base.clone();
    let exchange = tokio::task::spawn_blocking(move || raw_exchange(&base_for_thread, proper))
        .await
        .unwrap()
        .expect("closed");
    assert_eq!(
        responses(&exchange)[0],
        "HTTP/1.1 411 Length Required",
        "{exchange}"
    );
    assert!(
        exchange.to_lowercase().contains("connection: close"),
        "{exchange}"
    );
    // Requests framed by Content-Length still share a connection.
    let pipelined = b"GET /healthz HTTP/1.1\r\nHost: ac\r\n\r\nGET /healthz HTTP/1.1\r\nHost: ac\r\nConnection: close\r\n\r\n";
    let exchange = tokio::task::spawn_blocking(move || raw_exchange(&base, pipelined))
        .await
        .unwrap()
        .expect("closed");
    assert_eq!(
        responses(&exchange),
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"],
        "{exchange}"
    );
}

/// PostgreSQL goes away under the running service: pages, the OIDC endpoints and readiness
/// answer 503 within the pool's wait, never a 500, and say when to come back.
async fn a_database_outage_is_answered_503_quickly(backend: Backend) {
    let service = TestService::start_configured(backend, &|c| c.database_pool_wait_seconds = 1);
    let base = service.issuer().to_owned();
    let rp = service.relying_party("fc-es256").await;
    assert_eq!(
        reqwest::get(format!("{base}/statistiques"))
            .await
            .unwrap()
            .status(),
        200
    );
    service.break_database();
    let http = reqwest::Client::new();
    // Every connection of the pool is cut: each is found broken and replaced, in vain.
    for _ in 0..6 {
        let started = Instant::now();
        let page = http
            .get(format!("{base}/statistiques"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 503);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(page.headers()["retry-after"], "30");
        let body = page.text().await.unwrap();
        assert!(
            body.contains("Service momentanément indisponible"),
            "{body}"
        );
    }
    let token = http
        .post(format!("{base}/token"))
        .basic_auth("fc-es256", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "un-code-quelconque"),
            ("redirect_uri", RP_REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 503);
    assert_eq!(token.headers()["retry-after"], "30");
    assert_eq!(token.headers()["content-type"], "application/json");
    let body: serde_json::Value = token.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let userinfo = service.userinfo_at(&base, "un-jeton-quelconque").await;
    assert_eq!(userinfo.status(), 503);
    let body: serde_json::Value = userinfo.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // The authorization request is valid: the outage goes back to the client, RFC 6749 §4.1.2.1.
    let (url, state, _) = rp.authorization_url(&["profile"]).unwrap();
    let page = Browser::new().get(url.as_str()).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let location = url::Url::parse(&page.location.unwrap()).unwrap();
    assert!(location.as_str().starts_with(RP_REDIRECT));
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs["error"], "temporarily_unavailable");
    assert_eq!(pairs["state"], state);
}

/// The database answers but refuses writes (here a trigger stands for a full disk or a
/// read-only replica): `/readyz` says so.
async fn readiness_fails_when_the_database_refuses_writes(backend: Backend) {
    let service = TestService::start(backend);
    let url = format!("{}/readyz", service.issuer());
    let ready = reqwest::get(&url).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["ecriture"], "ok");
    let refuse = match backend {
        Backend::Sqlite => "CREATE TRIGGER plein BEFORE UPDATE ON readiness_probe \
             BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"
            .to_owned(),
        Backend::Postgres => "CREATE FUNCTION plein() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$; \
             CREATE TRIGGER plein BEFORE UPDATE ON readiness_probe FOR EACH ROW EXECUTE FUNCTION plein();"
            .to_owned(),
    };
    diesel::connection::SimpleConnection::batch_execute(&mut *service.conn(), &refuse).unwrap();
    let ready = reqwest::get(&url).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["statut"], "indisponible");
    assert_eq!(body["base_de_donnees"], "ok", "it still answers reads");
    assert_eq!(body["ecriture"], "indisponible");
}

/// With SQLite, a disk with less room than `database_min_free_mb` makes the service unready
/// before writes start failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_sqlite_disk_is_nearly_full() {
    let roomy = TestService::start(Backend::Sqlite);
    let body: serde_json::Value = reqwest::get(format!("{}/readyz", roomy.issuer()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["espace_disque"], "ok");
    // No disk of this machine has an exbibyte free.
    let full = TestService::start_configured(Backend::Sqlite, &|c| {
        c.database_min_free_mb = 1 << 40;
    });
    let ready = reqwest::get(format!("{}/readyz", full.issuer()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["espace_disque"], "insuffisant");
    assert_eq!(body["ecriture"], "ok");
    let postgres = TestService::start(Backend::Postgres);
    let body: serde_json::Value = reqwest::get(format!("{}/readyz", postgres.issuer()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["espace_disque"], "sans objet");
}

/// `/token` and `/userinfo` answer JSON to every mistake, never an HTML page.
async fn token_and_userinfo_always_answer_json(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    let http = reqwest::Client::new();
    let requests = [
        http.get(format!("{base}/token")),
        http.put(format!("{base}/token")),
        http.delete(format!("{base}/userinfo")),
        http.post(format!("{base}/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("code=".to_owned() + &"x".repeat(100_000)),
        http.post(format!("{base}/token"))
            .header("content-type", "application/json")
            .body("{}"),
        http.post(format!("{base}/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![0xff, 0xfe]),
    ];
    let mut statuses = Vec::new();
    for request in requests {
        let response = request.send().await.unwrap();
        statuses.push(response.status().as_u16());
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{}",
            response.status()
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    assert_eq!(statuses, [405, 405, 405, 413, 400, 400]);
}

/// Anyone can create an authorization request with a `GET /authorize`: the upkeep deletes them
/// past their retention, so a flood never grows the table beyond one retention window; so
/// too sessions and the mandate wizard's drafts, which hold the usager's identity.
async fn what_expired_is_deleted_past_its_retention(backend: Backend) {
    let (service, _) = TestService::start_with_simulator(backend);
    let rp = service.relying_party("fc-es256").await;
    let flood = |n: usize| {
        let rp = &rp;
        async move {
            for _ in 0..n {
                let (url, _, _) = rp.authorization_url(&["profile"]).unwrap();
                Browser::new().authorize(url.as_str()).await;
            }
        }
    };
    let requests = || -> i64 {
        store::schema::oidc_requests::table
            .count()
            .get_result(&mut service.conn())
            .unwrap()
    };
    flood(30).await;
    assert_eq!(requests(), 30);
    service.clock.advance(Duration::hours(23));
    assert_eq!(service.upkeep().purged.oidc_requests, 0);
    flood(10).await;
    service.clock.advance(Duration::hours(2));
    let upkeep = service.upkeep();
    assert_eq!(upkeep.purged.oidc_requests, 30);
    assert_eq!(requests(), 10, "only the last window's requests are kept");

    // A session, and a draft holding an usager's FranceConnect identity.
    let browser = Browser::new();
    service
        .sign_in(&browser, &service.fixtures.email_a, SEED_A)
        .await;
    let started = service
        .start_mandate(&browser, &[("demarche", "argent"), ("duree", "SHORT")])
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let counts = || -> (i64, i64) {
        let mut conn = service.conn();
        (
            store::schema::aidant_sessions::table
                .count()
                .get_result(&mut conn)
                .unwrap(),
            store::schema::mandate_drafts::table
                .count()
                .get_result(&mut conn)
                .unwrap(),
        )
    };
    assert_eq!(counts(), (1, 1));
    service.clock.advance(Duration::hours(2));
    let upkeep = service.upkeep();
    assert_eq!(upkeep.purged.mandate_drafts, 1);
    assert_eq!(upkeep.purged.sessions, 0);
    service
        .clock
        .advance(Duration::hours(12) + Duration::days(7));
    assert_eq!(service.upkeep().purged.sessions, 1);
    assert_eq!(counts(), (0, 0));
    // Nothing personal is journaled about it.
    let entries = journal::chain_entries(&mut service.conn(), journal::NATIONAL_CHAIN).unwrap();
    assert!(entries.iter().all(|e| !e.action.contains("purge")));
}

/// With secure cookies, every cookie the service sets has the `__Host-` prefix: `Secure`,
/// path `/`, no `Domain`, so no sub-domain or plain-http page can plant one.
async fn secure_cookies_carry_the_host_prefix(backend: Backend) {
    let service = TestService::start_configured(backend, &|c| c.secure_cookies = true);
    let browser = Browser::new();
    let code = service.next_code(SEED_A);
    let page = service
        .try_sign_in(&browser, &service.fixtures.email_a, &code)
        .await;
    let login_page = reqwest::get(format!("{}/connexion", service.issuer()))
        .await
        .unwrap();
    let mut cookies: Vec<String> = page
        .headers
        .get_all("set-cookie")
        .iter()
        .chain(login_page.headers().get_all("set-cookie"))
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    cookies.sort();
    let names: Vec<&str> = cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["__Host-ac_appareil", "__Host-ac_csrf", "__Host-ac_session"],
        "{cookies:?}"
    );
    for cookie in &cookies {
        assert!(cookie.contains("; Secure"), "{cookie}");
        assert!(cookie.contains("; Path=/"), "{cookie}");
        assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
    }
}

/// Seeds stored before they were bound to their card are bound at start-up; a seed copied
/// from one card's row onto another's no longer opens there.
async fn card_seeds_are_bound_to_their_card(backend: Backend) {
    use base64::Engine;
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let key_file = std::fs::read_to_string(service.config.keys_dir.join("seed.key")).unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_file.trim())
        .unwrap();
    // What the previous version wrote for card GADT0000101: the seed under `otp-seed`.
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let nonce = [9u8; 12];
    let mut sealed = hex::decode(SEED_A).unwrap();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(b"otp-seed"),
            &mut sealed,
        )
        .unwrap();
    let legacy =
        base64::engine::general_purpose::STANDARD.encode([nonce.to_vec(), sealed].concat());
    use store::schema::otp_cards;
    let card = |serial: &str| {
        authenticator::card_by_serial(&mut service.conn(), serial)
            .unwrap()
            .unwrap()
    };
    diesel::update(otp_cards::table.filter(otp_cards::serial.eq("GADT0000101")))
        .set(otp_cards::seed_encrypted.eq(&legacy))
        .execute(&mut service.conn())
        .unwrap();
    let bound = authenticator::bind_legacy_seeds(
        &mut service.conn(),
        &ring::rand::SystemRandom::new(),
        &service.cipher,
    )
    .unwrap();
    assert_eq!(bound, 1);
    let a = card("GADT0000101");
    assert!(a.seed_encrypted.starts_with("v2."));
    service.sign_in(&Browser::new(), &f.email_a, SEED_A).await;
    // Aidant B's card row given A's sealed seed: it does not open as B's.
    let b = card("GADT0000102");
    assert!(service.cipher.open(&b.id, &a.seed_encrypted).is_err());
    assert!(service.cipher.open(&a.id, &a.seed_encrypted).is_ok());
}

on_both_backends!(
    chunked_bodies_are_refused_and_the_connection_closed,
    readiness_fails_when_the_database_refuses_writes,
    token_and_userinfo_always_answer_json,
    what_expired_is_deleted_past_its_retention,
    secure_cookies_carry_the_host_prefix,
    card_seeds_are_bound_to_their_card,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_503_quickly_postgres() {
    a_database_outage_is_answered_503_quickly(Backend::Postgres).await
}
