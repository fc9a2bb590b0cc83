//! The service's logs, captured as production writes them (JSON lines, our crates at debug
//! level) through sign-in failures, a mandate created through FranceConnect and a whole
//! identity-provider flow: every request is logged with its id and route, and no line holds a
//! secret (code, token, seed, session) or a person's data (identité pivot, e-mail).
//! A test binary of its own: the subscriber is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use ac_tests::{obtain_code, Backend, Browser, TestService, SEED_A, SEED_B, SEED_R};
use mandate::Demarche;
use std::sync::{Arc, Mutex};

/// Where the captured log lines go.
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `needle` occurs in `haystack` as a whole token (not inside a longer run of letters
/// or digits: a 6-digit code may appear by chance inside a hexadecimal hash).
fn occurs_as_token(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// What the journey of [`drive_the_service`] handled that must never reach the log.
struct Handled {
    /// Every OTP code typed, the wrong one included.
    codes: Vec<String>,
    authorization_code: String,
    state: String,
    nonce: String,
    access_token: String,
    /// The usager created through the simulator, as stored.
    created: Vec<mandate::Usager>,
}

/// A wrong code, then the référent signs in and creates a mandate with an usager who
/// identifies at (simulated) FranceConnect, remotely (the consent SMS is "sent" to the log);
/// then a whole identity-provider flow, tokens and userinfo included, and a readiness probe.
async fn drive_the_service(service: &TestService) -> Handled {
    let f = &service.fixtures;
    let mut codes = Vec::new();
    let wrong = service.next_code(SEED_B);
    codes.push(wrong.clone());
    let refused = service
        .try_sign_in(&Browser::new(), &f.email_referent_a, &wrong)
        .await;
    assert_eq!(refused.status, 422);
    let browser = Browser::new();
    let code = service.next_code(SEED_R);
    codes.push(code.clone());
    assert_eq!(
        service
            .try_sign_in(&browser, &f.email_referent_a, &code)
            .await
            .status,
        303
    );
    service
        .create_mandate(&browser, &[("demarche", "argent"), ("duree", "MONTH")], 2)
        .await;

    let rp = service.relying_party("fc-es256").await;
    let (authorization_code, state, nonce) = obtain_code(
        service,
        &Browser::new(),
        &rp,
        &f.usager_all.id,
        Demarche::Argent,
    )
    .await;
    codes.push(service.code(SEED_A));
    let identity = rp.finish(&authorization_code, &nonce).await.unwrap();
    let userinfo = service
        .userinfo_at(service.issuer(), &identity.access_token)
        .await;
    assert_eq!(userinfo.status(), 200);
    let readyz = reqwest::get(format!("{}/readyz", service.issuer()))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);

    let created: Vec<mandate::Usager> = {
        use diesel::prelude::*;
        use store::schema::usagers;
        let mut conn = service.conn();
        usagers::table
            .filter(usagers::franceconnect_sub.is_not_null())
            .select(mandate::Usager::as_select())
            .load(&mut conn)
            .unwrap()
    };
    assert_eq!(created.len(), 1);
    Handled {
        codes,
        authorization_code,
        state,
        nonce,
        access_token: identity.access_token,
        created,
    }
}

/// Every request is a JSON line with its request id, status and route; every route of the
/// journey is there, and the upkeep's checkpoint too.
fn every_request_is_logged(logs: &str) {
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["message"] == "request").collect();
    assert!(requests.len() > 20, "{logs}");
    for r in &requests {
        assert_eq!(r["span"]["request_id"].as_str().unwrap().len(), 16, "{r}");
        assert!(r["status"].is_u64(), "{r}");
    }
    let routes: Vec<&str> = requests
        .iter()
        .filter_map(|r| r["span"]["route"].as_str())
        .collect();
    for route in [
        "/connexion",
        "/authorize",
        "/fi/{id}/connexion",
        "/fi/{id}/demarche",
        "/token",
        "/userinfo",
        "/fc/callback",
        "/mandats/nouveau/{id}",
        "/readyz",
    ] {
        assert!(
            routes.contains(&route),
            "no request logged for {route}: {routes:?}"
        );
    }
    assert!(logs.contains("journal checkpoint written"), "{logs}");
}

/// The secrets handled, named: tokens, code, state, nonce, the cards' seeds in both spellings,
/// every OTP code.
fn secrets_of(handled: &Handled) -> Vec<(&'static str, String)> {
    let mut secrets = vec![
        ("access token", handled.access_token.clone()),
        ("authorization code", handled.authorization_code.clone()),
        ("state", handled.state.clone()),
        ("nonce", handled.nonce.clone()),
    ];
    for seed in [SEED_A, SEED_B, SEED_R] {
        secrets.push(("card seed (hex)", seed.into()));
        secrets.push((
            "card seed (base32)",
            data_encoding::BASE32_NOPAD.encode(&hex::decode(seed).unwrap()),
        ));
    }
    for code in &handled.codes {
        secrets.push(("OTP code", code.clone()));
    }
    secrets
}

/// The people's data handled: the usagers' identités pivot and e-mails, the aidants' e-mails.
fn people_of(f: &ac_tests::Fixtures, created: &[mandate::Usager]) -> Vec<String> {
    let mut people = vec![
        f.usager_all.given_name.clone(),
        f.usager_all.family_name.clone(),
        f.usager_all.birthdate.clone(),
        f.usager_all.email.clone(),
        f.email_a.clone(),
        f.email_referent_a.clone(),
        f.email_b.clone(),
    ];
    for u in created {
        people.extend([
            u.given_name.clone(),
            u.family_name.clone(),
            u.birthdate.clone(),
            u.birthplace.clone(),
            u.email.clone(),
        ]);
    }
    people.retain(|v| !v.is_empty());
    people
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_secret_and_no_personal_data() {
    std::env::set_var(
        "RUST_LOG",
        "info,web=debug,aidants_connect=debug,provider=debug,authenticator=debug,mandate=debug,\
         journal=debug,franceconnect=debug,sms=debug,store=debug,actix_server=warn",
    );
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = buffer.clone();
    aidants_connect::logging::install(true, move || Capture(sink.clone())).unwrap();

    let (service, _) = TestService::start_with_simulator(Backend::Sqlite);
    let f = service.fixtures.clone();
    let handled = drive_the_service(&service).await;
    drop(service);

    let logs = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    every_request_is_logged(&logs);
    for (what, secret) in secrets_of(&handled) {
        assert!(!secret.is_empty());
        assert!(
            !occurs_as_token(&logs, &secret),
            "{what} in the logs: {secret}"
        );
    }
    for value in people_of(&f, &handled.created) {
        assert!(
            !occurs_as_token(&logs, &value),
            "personal data in the logs: {value}"
        );
    }
    for field in [
        "given_name",
        "family_name",
        "birthdate",
        "birthplace",
        "preferred_username",
    ] {
        assert!(
            !logs.contains(field),
            "identité pivot field {field} in the logs"
        );
    }
}

/// Malformed requests — anyone can send them — are counted in `/metrics`, not written to the
/// log: nobody can fill the log with ERROR lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_counted_not_logged() {
    std::env::remove_var("RUST_LOG");
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = buffer.clone();
    aidants_connect::logging::install(true, move || Capture(sink.clone())).unwrap();
    let service = TestService::start(Backend::Sqlite);
    let address = service.issuer().trim_start_matches("http://").to_owned();
    let malformed: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: ac\r\nEn-tete sans deux-points\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 poignee de main TLS\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: ac\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: ac\r\nContent-Length: -1\r\n\r\n",
    ];
    let sent = malformed.len();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        for request in malformed {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            stream.write_all(request).unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            assert!(
                String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        }
    })
    .await
    .unwrap();
    let metrics = reqwest::get(format!("{}/metrics", service.issuer()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ac_http_protocol_errors_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no protocol error counter:\n{metrics}"));
    assert!(counted >= sent, "{counted} counted for {sent} sent");
    drop(service);
    let logs = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    for line in logs.lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_ne!(line["level"], "ERROR", "{line}");
        assert!(
            !line["target"]
                .as_str()
                .unwrap_or_default()
                .starts_with("actix_http"),
            "{line}"
        );
    }
}
