//! Failed sign-ins, on both backends: one answer and one timing for every cause (unknown
//! e-mail, wrong, used or old code, a wait, a lock), single use of codes, and the rule that
//! keeps a stranger from locking an aidant out — wrong codes from unrecognised browsers lock
//! the card for unrecognised browsers only, for longer each time; the aidant signs in from a
//! recognised browser, is told at once, and their référent lifts the lock.

use ac_tests::{on_both_backends, Backend, Browser, Page, TestService, SEED_A, SEED_R};
use chrono::Duration;
use diesel::prelude::*;
use std::time::Instant;
use store::AidantId;

fn wrong_code(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// A failed sign-in page without what differs by construction: the form's CSRF token and the
/// e-mail typed back into its field.
fn answer(page: &Page, typed_email: &str) -> String {
    assert_eq!(page.status, 422, "{}", page.body);
    let csrf = ac_tests::csrf_token(&page.body);
    page.body
        .replace(&csrf, "CSRF")
        .replace(typed_email, "ADRESSE")
}

/// Times a sign-in attempt.
async fn timed(
    service: &TestService,
    browser: &Browser,
    email: &str,
    code: &str,
) -> (Page, std::time::Duration) {
    let started = Instant::now();
    let page = service.try_sign_in(browser, email, code).await;
    (page, started.elapsed())
}

async fn every_failed_sign_in_gets_one_answer(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let floor = std::time::Duration::from_millis(service.config.session.failure_answer_ms);
    let stranger = Browser::new();
    let code = service.next_code(SEED_A);
    let mut answers = Vec::new();
    let mut times = Vec::new();
    // An e-mail no aidant has.
    let (page, time) = timed(&service, &stranger, "inconnu@exemple.fr", &code).await;
    answers.push(("adresse inconnue", answer(&page, "inconnu@exemple.fr")));
    times.push(time);
    service.clock.advance(Duration::seconds(1));
    // A wrong code for a real aidant.
    let (page, time) = timed(&service, &stranger, &f.email_a, wrong_code(&code)).await;
    answers.push(("code erroné", answer(&page, &f.email_a)));
    times.push(time);
    // Right after, even the right code is not checked: a wait, not said.
    let (page, time) = timed(&service, &stranger, &f.email_a, &code).await;
    answers.push(("attente", answer(&page, &f.email_a)));
    times.push(time);
    // The aidant signs in with the code; the same code again, or the previous step's, is
    // refused with the same words.
    service.clock.advance(Duration::seconds(30));
    let code = service.code(SEED_A);
    let aidant = Browser::new();
    let ok = service.try_sign_in(&aidant, &f.email_a, &code).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let (page, time) = timed(&service, &stranger, &f.email_a, &code).await;
    answers.push(("code déjà utilisé", answer(&page, &f.email_a)));
    times.push(time);
    service.clock.advance(Duration::seconds(2));
    let previous = authenticator::card_code_at(
        &hex::decode(SEED_A).unwrap(),
        service.clock_now() - Duration::seconds(30),
    );
    let (page, time) = timed(&service, &stranger, &f.email_a, &previous).await;
    answers.push(("code plus ancien", answer(&page, &f.email_a)));
    times.push(time);
    // Five wrong codes from this unrecognised browser lock the card for such browsers; the
    // lock is not said either.
    for wait in [4, 8, 16, 16] {
        service.clock.advance(Duration::seconds(wait));
        let page = service
            .try_sign_in(&stranger, &f.email_a, wrong_code(&code))
            .await;
        assert_eq!(page.status, 422);
    }
    let card = authenticator::card_by_serial(&mut service.conn(), "GADT0000101")
        .unwrap()
        .unwrap();
    assert_eq!(
        card.state(service.clock_now()),
        authenticator::CardState::Locked
    );
    service.clock.advance(Duration::seconds(40));
    let code = service.code(SEED_A);
    let (page, time) = timed(&service, &stranger, &f.email_a, &code).await;
    answers.push(("carte bloquée", answer(&page, &f.email_a)));
    times.push(time);

    let (first_cause, first) = &answers[0];
    assert!(
        first.contains("Adresse électronique ou code incorrect."),
        "{first}"
    );
    for (cause, body) in &answers[1..] {
        assert_eq!(
            body, first,
            "« {cause} » answered otherwise than « {first_cause} »"
        );
    }
    for word in ["Patientez", "bloquée", "déjà été utilisé"] {
        assert!(!first.contains(word), "{word}");
    }
    for (time, (cause, _)) in times.iter().zip(&answers) {
        assert!(
            *time >= floor,
            "« {cause} » answered in {time:?}, before {floor:?}"
        );
    }
}

/// The card's holder signs in from their browser; a stranger's wrong codes, from another
/// browser, lock the card for unrecognised browsers only.
async fn a_stranger_locks_the_card_only_for_unrecognised_browsers(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let home = Browser::new();
    service.sign_in(&home, &f.email_a, SEED_A).await;
    let stranger = Browser::new();
    let code = service.next_code(SEED_A);
    for wait in [1, 2, 4, 8, 0] {
        let page = service
            .try_sign_in(&stranger, &f.email_a, wrong_code(&code))
            .await;
        assert_eq!(page.status, 422);
        service.clock.advance(Duration::seconds(wait));
    }
    let locked_at = service.clock_now();
    let locks = || {
        journal::entries_by_action(&mut service.conn(), journal::Action::LockOtpCard)
            .unwrap()
            .len()
    };
    assert_eq!(locks(), 1);
    // Even the right code is refused to the stranger's browser…
    service.clock.advance(Duration::seconds(30));
    let code = service.code(SEED_A);
    let page = service.try_sign_in(&stranger, &f.email_a, &code).await;
    assert_eq!(page.status, 422);
    // …but from her own browser the aidant signs in, and is told at once.
    service.clock.advance(Duration::seconds(30));
    let code = service.code(SEED_A);
    let page = service.try_sign_in(&home, &f.email_a, &code).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("5 codes erronés ont été saisis"),
        "{}",
        page.body
    );
    let until = paris::local(locked_at + Duration::minutes(15))
        .format("%d/%m/%Y à %H:%M")
        .to_string();
    assert!(
        page.body.contains(&format!("jusqu'au {until}")),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/espace-aidant\""));
    assert_eq!(home.get(&format!("{base}/espace-aidant")).await.status, 200);
    // She is told once.
    let page = {
        service.clock.advance(Duration::seconds(30));
        let code = service.code(SEED_A);
        service.try_sign_in(&home, &f.email_a, &code).await
    };
    assert_eq!(page.status, 303);
    // A browser she never used is not recognised: refused while the lock lasts.
    let new_computer = Browser::new();
    service.clock.advance(Duration::seconds(30));
    let code = service.code(SEED_A);
    let page = service.try_sign_in(&new_computer, &f.email_a, &code).await;
    assert_eq!(page.status, 422);

    // When the lock ends, one more wrong code locks again, twice as long.
    service.clock.advance(Duration::minutes(15));
    let page = service
        .try_sign_in(&stranger, &f.email_a, wrong_code(&code))
        .await;
    assert_eq!(page.status, 422);
    assert_eq!(locks(), 2);
    let card = authenticator::card_by_serial(&mut service.conn(), "GADT0000101")
        .unwrap()
        .unwrap();
    assert_eq!(
        card.locked_until,
        Some(service.clock_now() + Duration::minutes(30))
    );

    // Her référent sees the lock and lifts it; the new computer is then accepted.
    let referent = Browser::new();
    service
        .sign_in(&referent, &f.email_referent_a, SEED_R)
        .await;
    let aidant_page = format!("/espace-referent/aidants/{}", f.aidant_a);
    let page = referent.get(&format!("{base}{aidant_page}")).await;
    assert!(
        page.body.contains("bloquée sur les postes non reconnus"),
        "{}",
        page.body
    );
    let page = referent
        .post_from(
            &base,
            &aidant_page,
            &format!("{aidant_page}/cartes/{}/debloquer", card.id),
            &[],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let unlocks =
        journal::entries_by_action(&mut service.conn(), journal::Action::UnlockOtpCard).unwrap();
    assert_eq!(unlocks.len(), 1);
    assert_eq!(
        unlocks[0].aidant_id.as_ref(),
        Some(AidantId::from(f.referent_a.as_str())).as_ref()
    );
    service.clock.advance(Duration::seconds(30));
    let code = service.code(SEED_A);
    let page = service.try_sign_in(&new_computer, &f.email_a, &code).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

/// Wrong codes from a recognised browser count against that browser, not the card: after
/// five it is no longer recognised, and the card is untouched.
async fn wrong_codes_from_a_recognised_browser_cost_it_its_recognition(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let home = Browser::new();
    service.sign_in(&home, &f.email_a, SEED_A).await;
    let recognised = || -> i64 {
        store::schema::trusted_devices::table
            .filter(store::schema::trusted_devices::aidant_id.eq(&f.aidant_a))
            .count()
            .get_result(&mut service.conn())
            .unwrap()
    };
    assert_eq!(recognised(), 1);
    let code = service.next_code(SEED_A);
    for wait in [1, 2, 4, 8, 16] {
        let page = service
            .try_sign_in(&home, &f.email_a, wrong_code(&code))
            .await;
        assert_eq!(page.status, 422);
        service.clock.advance(Duration::seconds(wait));
    }
    assert_eq!(recognised(), 0);
    let card = authenticator::card_by_serial(&mut service.conn(), "GADT0000101")
        .unwrap()
        .unwrap();
    assert_eq!((card.failures, card.locks), (0, 0));
    // The right code still opens a session, and the browser is recognised again.
    service.sign_in(&home, &f.email_a, SEED_A).await;
    assert_eq!(recognised(), 1);
}

on_both_backends!(
    every_failed_sign_in_gets_one_answer,
    a_stranger_locks_the_card_only_for_unrecognised_browsers,
    wrong_codes_from_a_recognised_browser_cost_it_its_recognition,
);
