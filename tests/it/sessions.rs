//! Aidant sessions on both backends: the cookie's flags, the token kept hashed, the idle and
//! absolute lifetimes, logout, and the activity check before a sensitive action.

use ac_tests::{on_both_backends, Backend, Browser, TestService, SEED_A};
use chrono::Duration;
use diesel::prelude::*;
use store::schema::aidant_sessions;
use store::Timestamp;

async fn session_cookie(service: &TestService, browser: &Browser) -> String {
    let code = service.next_code(SEED_A);
    let page = service
        .try_sign_in(browser, &service.fixtures.email_a, &code)
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    page.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(web::session_cookie_name(service.config.secure_cookies)))
        .expect("a session cookie")
}

async fn sessions_are_server_side_and_end_idle_at_their_limit_and_at_logout(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    let espace = format!("{base}/espace-aidant");
    let browser = Browser::new();
    let cookie = session_cookie(&service, &browser).await;
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "local http configuration: {cookie}"
    );
    let token = cookie
        .trim_start_matches("ac_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let stored: Vec<String> = aidant_sessions::table
        .select(aidant_sessions::token_hash)
        .load(&mut service.conn())
        .unwrap();
    assert_eq!(
        stored,
        [store::hash_secret(&token)],
        "only the hash is kept"
    );

    // Used every 50 minutes, the session lives on…
    for _ in 0..3 {
        service.clock.advance(Duration::minutes(50));
        assert_eq!(browser.get(&espace).await.status, 200);
    }
    // …but not past 60 minutes of idleness.
    service.clock.advance(Duration::minutes(61));
    let page = browser.get(&espace).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.unwrap(), "/connexion?suite=%2Fespace-aidant");

    // The absolute limit: 12 hours after sign-in, however busy.
    let browser = Browser::new();
    session_cookie(&service, &browser).await;
    for _ in 0..14 {
        service.clock.advance(Duration::minutes(50));
        assert_eq!(browser.get(&espace).await.status, 200);
    }
    service.clock.advance(Duration::minutes(50));
    assert_eq!(browser.get(&espace).await.status, 303, "ended after 12 h");

    // Logout ends it on the server: the old token no longer works anywhere.
    let browser = Browser::new();
    let cookie = session_cookie(&service, &browser).await;
    let token = cookie
        .trim_start_matches("ac_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = browser
        .post_from(&base, "/espace-aidant", "/deconnexion", &[])
        .await;
    assert_eq!(page.status, 303);
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&espace)
        .header("cookie", format!("ac_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status().as_u16(), 303);
}

/// `last_seen_at` is written at most once a minute: a session in use costs no write on most
/// requests, and ends at most that minute before its idle length, never after it.
async fn sessions_are_marked_seen_at_most_once_a_minute(backend: Backend) {
    let service = TestService::start(backend);
    let espace = format!("{}/espace-aidant", service.issuer());
    let browser = Browser::new();
    session_cookie(&service, &browser).await;
    let seen = || -> Timestamp {
        aidant_sessions::table
            .select(aidant_sessions::last_seen_at)
            .first(&mut service.conn())
            .unwrap()
    };
    let signed_in = seen();
    service.clock.advance(Duration::seconds(40));
    assert_eq!(browser.get(&espace).await.status, 200);
    assert_eq!(seen(), signed_in, "not written again within the minute");
    service.clock.advance(Duration::seconds(30));
    assert_eq!(browser.get(&espace).await.status, 200);
    let written = seen();
    assert_eq!(written, service.clock_now(), "written past the minute");
    // Used 30 s later (not written), the session still ends 60 minutes after the last write.
    service.clock.advance(Duration::seconds(30));
    assert_eq!(browser.get(&espace).await.status, 200);
    assert_eq!(seen(), written);
    service
        .clock
        .advance(Duration::minutes(60) - Duration::seconds(31));
    assert_eq!(
        browser.get(&espace).await.status,
        200,
        "59 min 59 s after the write"
    );
    service.clock.advance(Duration::minutes(61));
    assert_eq!(browser.get(&espace).await.status, 303, "idle");
}

async fn secure_cookies_when_configured(backend: Backend) {
    let service = TestService::start_configured(backend, &|c| c.secure_cookies = true);
    let browser = Browser::new();
    let cookie = session_cookie(&service, &browser).await;
    assert!(cookie.starts_with("__Host-ac_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
}

async fn sensitive_actions_ask_a_fresh_code_after_the_activity_window(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let referent = Browser::new();
    service
        .sign_in(&referent, &f.email_referent_a, ac_tests::SEED_R)
        .await;
    service.clock.advance(Duration::minutes(21));
    let aidant_page = format!("/espace-referent/aidants/{}", f.aidant_a);
    let page = referent
        .post_from(&base, &aidant_page, &format!("{aidant_page}/referent"), &[])
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.unwrap(),
        format!("/code?suite={}", aidant_page.replace('/', "%2F"))
    );
    let member = accounts::member(&mut service.conn(), &f.org_a, &f.aidant_a)
        .unwrap()
        .unwrap();
    assert_eq!(
        member.role,
        accounts::Role::Aidant,
        "nothing done without the code"
    );
    let code = service.next_code(ac_tests::SEED_R);
    let page = referent
        .post_from(
            &base,
            "/code",
            "/code",
            &[("otp", &code), ("suite", &aidant_page)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = referent
        .post_from(&base, &aidant_page, &format!("{aidant_page}/referent"), &[])
        .await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().ends_with("?fait=referent"));
}

on_both_backends!(
    sessions_are_server_side_and_end_idle_at_their_limit_and_at_logout,
    sessions_are_marked_seen_at_most_once_a_minute,
    secure_cookies_when_configured,
    sensitive_actions_ask_a_fresh_code_after_the_activity_window,
);
