//! OTP cards and the espace référent, on both backends: the CSV import, the card lifecycle as
//! a référent drives it, digital cards, deactivation, co-référents, several organisations,
//! throttling per source address, concurrent use of one code, drift, and the refusal of
//! every référent route across organisations.

use ac_tests::{on_both_backends, Backend, Browser, TestService, SEED_A, SEED_B, SEED_R};
use aidants_connect::admin;
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SystemRandom;
use std::sync::Arc;
use store::schema::{memberships, otp_cards};
use store::{AidantId, Timestamp};

const NEW_SEED: &str = "5d41402abc4b2a76b9719d911017c592aabbccdd";

fn card(service: &TestService, serial: &str) -> authenticator::OtpCard {
    authenticator::card_by_serial(&mut service.conn(), serial)
        .unwrap()
        .unwrap_or_else(|| panic!("no card {serial}"))
}

fn card_count(service: &TestService) -> i64 {
    otp_cards::table
        .count()
        .get_result(&mut service.conn())
        .unwrap()
}

fn journal_count(service: &TestService, action: journal::Action) -> usize {
    journal::entries_by_action(&mut service.conn(), action)
        .unwrap()
        .len()
}

fn import(service: &TestService, csv: &str) -> authenticator::ImportReport {
    admin::import_cards(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        service.clock_now(),
        csv.as_bytes(),
    )
    .unwrap()
}

fn code_at(seed_hex: &str, at: Timestamp) -> String {
    authenticator::card_code_at(&hex::decode(seed_hex).unwrap(), at)
}

async fn csv_import_is_all_or_nothing_and_reports_every_bad_line(backend: Backend) {
    let service = TestService::start(backend);
    let before = card_count(&service);
    let bad = format!(
        "numero_serie,graine\n\
         GADT0000200,{NEW_SEED}\n\
         GADT0000201,pas-hexadecimal\n\
         GADT 0000202,{NEW_SEED}\n\
         GADT0000200,{NEW_SEED}\n\
         GADT0000203\n\
         GADT0000101,{NEW_SEED}\n\
         GADT0000204,abcd\n"
    );
    let report = import(&service, &bad);
    assert!(!report.applied());
    let lines: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[0].0, 3);
    assert!(lines[0].1.starts_with("graine invalide"));
    assert_eq!(lines[1].0, 4);
    assert!(lines[1].1.starts_with("numéro de série invalide"));
    assert_eq!(lines[2], (5, "numéro de série en double (déjà ligne 2)"));
    assert_eq!(lines[3].0, 6);
    assert!(lines[3].1.contains("1 trouvée"));
    assert_eq!(lines[4].0, 7);
    assert!(lines[4].1.starts_with("carte associée à un aidant"));
    assert_eq!(lines[5].0, 8);
    assert!(lines[5].1.starts_with("graine invalide"));
    let text = admin::import_report_text(&report);
    assert!(text.starts_with("Import refusé : 6 ligne(s) rejetée(s), aucune carte importée"));
    assert!(text.contains("ligne 5 (GADT0000200) : numéro de série en double"));
    assert_eq!(card_count(&service), before, "nothing imported");
    assert_eq!(journal_count(&service, journal::Action::ImportTotpCards), 0);

    // A clean file (";"-separated, as a spreadsheet writes it) is imported whole; a card in
    // stock gets its new seed.
    let report = import(
        &service,
        &format!("GADT0000200;{NEW_SEED}\ngadt0000201;{}\n", &SEED_B[..32]),
    );
    assert!(report.applied(), "{report:?}");
    assert_eq!(report.added, ["GADT0000200", "GADT0000201"]);
    assert_eq!(card_count(&service), before + 2);
    let stocked = card(&service, "GADT0000200");
    assert_eq!(
        stocked.state(service.clock_now()),
        authenticator::CardState::Free
    );
    assert!(!stocked.seed_encrypted.contains(NEW_SEED));
    assert_eq!(
        hex::encode(
            service
                .cipher
                .open(&stocked.id, &stocked.seed_encrypted)
                .unwrap()
        ),
        NEW_SEED
    );
    let report = import(&service, &format!("GADT0000200,{}\n", &SEED_A[..40]));
    assert_eq!((report.added.len(), report.updated.len()), (0, 1));
    let entries =
        journal::entries_by_action(&mut service.conn(), journal::Action::ImportTotpCards).unwrap();
    assert_eq!(entries.len(), 2);
    let details: serde_json::Value = serde_json::from_str(&entries[1].details).unwrap();
    assert_eq!(details["added"], 2);
    assert_eq!(details["updated"], 0);
    assert!(!entries[0].details.contains(&SEED_A[..40]));
    assert!(
        journal::verify_chain(&mut service.conn(), journal::NATIONAL_CHAIN)
            .unwrap()
            .is_none()
    );
    // An empty file is refused outright.
    let empty = admin::import_cards(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        service.clock_now(),
        b"\n  \n",
    );
    assert!(matches!(empty, Err(admin::AdminError::Refused(_))));
}

/// A référent brings a new aidant in: asks for her, the national team validates; he
/// associates and validates a physical card; the team activates her; the card is lost and
/// dissociated. Each step journaled.
async fn referent_brings_a_new_aidant_in_with_a_physical_card(backend: Backend) {
    let service = TestService::start(backend);
    assert!(import(&service, &format!("GADT0000300,{NEW_SEED}\n")).applied());
    let referent = Browser::new();
    let nora = the_referent_adds_an_aidant(&service, &referent).await;
    let aidant_page = format!("/espace-referent/aidants/{nora}");
    the_referent_associates_a_card_from_stock(&service, &referent, &aidant_page).await;
    the_referent_validates_it_with_the_code_it_shows(&service, &referent, &aidant_page).await;
    let nora_browser = she_signs_in_once_activated(&service).await;
    a_lost_card_is_dissociated_and_ends_her_session(
        &service,
        &referent,
        &aidant_page,
        &nora_browser,
    )
    .await;
    each_step_is_journaled_once(&service, &nora);
}

/// The référent signs in and asks for Nora (a bad e-mail refused first), the national team
/// validates; answers her id.
async fn the_referent_adds_an_aidant(service: &TestService, referent: &Browser) -> String {
    let f = &service.fixtures;
    let base = service.issuer();
    service.sign_in(referent, &f.email_referent_a, SEED_R).await;
    let list = referent.get(&format!("{base}/espace-referent")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("rita.referente@ccas-test.fr"));
    assert!(list.body.contains("carte GADT0000101 (active)"));

    // Bad input is refused with the reason and nothing is created.
    let refused = referent
        .post_from(
            base,
            "/espace-referent",
            "/espace-referent/aidants/nouveau",
            &[
                ("email", "pas-une-adresse"),
                ("first_name", "Nora"),
                ("last_name", "Petit"),
                ("profession", "Conseillère numérique"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused
        .body
        .contains("Saisissez une adresse électronique valide"));
    let asked = referent
        .post_from(
            base,
            "/espace-referent",
            "/espace-referent/aidants/nouveau",
            &[
                ("email", "Nora.Petit@ccas-test.fr"),
                ("first_name", "Nora"),
                ("last_name", "Petit"),
                ("profession", "Conseillère numérique"),
            ],
        )
        .await;
    assert_eq!(asked.status, 303, "{}", asked.body);
    let id: String = store::schema::aidant_requests::table
        .select(store::schema::aidant_requests::id)
        .first(&mut service.conn())
        .unwrap();
    let team = crate::staff::support_signed_in(service).await;
    let decision = format!("/administration/demandes-aidants/{id}");
    let validated = team
        .post_from(
            base,
            &decision,
            &format!("{decision}/decision"),
            &[("decision", "valider")],
        )
        .await;
    assert_eq!(validated.status, 303, "{}", validated.body);
    let nora = accounts::find_aidant_by_email(&mut service.conn(), "nora.petit@ccas-test.fr")
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let page_path = format!("/espace-referent/aidants/{nora}");
    let page = referent.get(&format!("{base}{page_path}")).await;
    assert!(
        page.body.contains("en attente d&#39;activation"),
        "{}",
        page.body
    );
    nora
}

/// An unknown serial, then a card already held, are refused; the stock card is associated.
async fn the_referent_associates_a_card_from_stock(
    service: &TestService,
    referent: &Browser,
    aidant_page: &str,
) {
    let base = service.issuer();
    let associate = format!("{aidant_page}/carte");
    let page = referent
        .post_from(base, aidant_page, &associate, &[("serial", "GADT9999999")])
        .await;
    assert_eq!(page.status, 422);
    assert!(page
        .body
        .contains("Aucune carte physique ne porte ce numéro"));
    let page = referent
        .post_from(base, aidant_page, &associate, &[("serial", "GADT0000101")])
        .await;
    assert!(
        page.body.contains("déjà associée à un aidant"),
        "{}",
        page.body
    );
    let page = referent
        .post_from(
            base,
            aidant_page,
            &associate,
            &[("serial", " gadt0000300 ")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = referent
        .get(&format!("{base}{}", page.location.unwrap()))
        .await;
    assert!(page.body.contains("Carte associée"));
    assert!(page
        .body
        .contains("carte GADT0000300 : <span class=\"etat\">à valider"));
}

/// A wrong code is refused; after the delay, the code the card shows validates it.
async fn the_referent_validates_it_with_the_code_it_shows(
    service: &TestService,
    referent: &Browser,
    aidant_page: &str,
) {
    let base = service.issuer();
    let validate = format!("{aidant_page}/carte/valider");
    let page = referent
        .post_from(base, aidant_page, &validate, &[("otp", "000000")])
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Code incorrect"), "{}", page.body);
    service.clock.advance(Duration::seconds(2));
    let code = service.code(NEW_SEED);
    let page = referent
        .post_from(base, aidant_page, &validate, &[("otp", &code)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        card(service, "GADT0000300").state(service.clock_now()),
        authenticator::CardState::Active
    );
}

/// Not activated yet, Nora cannot sign in; once the national team activates her, she can.
async fn she_signs_in_once_activated(service: &TestService) -> Browser {
    let nora_browser = Browser::new();
    let code = service.next_code(NEW_SEED);
    let page = service
        .try_sign_in(&nora_browser, "nora.petit@ccas-test.fr", &code)
        .await;
    assert_eq!(page.status, 422);
    admin::activate_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        "nora.petit@ccas-test.fr",
    )
    .unwrap();
    service.clock.advance(Duration::seconds(30));
    service
        .sign_in(&nora_browser, "nora.petit@ccas-test.fr", NEW_SEED)
        .await;
    assert_eq!(
        nora_browser
            .get(&format!("{}/espace-aidant", service.issuer()))
            .await
            .status,
        200
    );
    nora_browser
}

/// Dissociated as lost (an empty "other" reason refused first), the card is out of service
/// and can't be associated again, and Nora's session ends at once.
async fn a_lost_card_is_dissociated_and_ends_her_session(
    service: &TestService,
    referent: &Browser,
    aidant_page: &str,
    nora_browser: &Browser,
) {
    let base = service.issuer();
    let card_id = card(service, "GADT0000300").id;
    let dissociate = format!("{aidant_page}/cartes/{card_id}/dissocier");
    let page = referent
        .post_from(
            base,
            aidant_page,
            &dissociate,
            &[("motif", "autre"), ("precision", "  ")],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Précisez le motif"));
    let page = referent
        .post_from(base, aidant_page, &dissociate, &[("motif", "perte")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let gone = nora_browser.get(&format!("{base}/espace-aidant")).await;
    assert_eq!(gone.status, 303);
    assert!(gone.location.unwrap().starts_with("/connexion"));
    let lost = card(service, "GADT0000300");
    assert_eq!(lost.aidant_id, None);
    assert_eq!(
        lost.state(service.clock_now()),
        authenticator::CardState::OutOfService
    );
    let page = referent
        .post_from(
            base,
            aidant_page,
            &format!("{aidant_page}/carte"),
            &[("serial", "GADT0000300")],
        )
        .await;
    assert!(page.body.contains("hors service"), "{}", page.body);
}

fn each_step_is_journaled_once(service: &TestService, nora: &str) {
    let f = &service.fixtures;
    let entries = journal::chain_entries(&mut service.conn(), f.org_a.as_str()).unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "request_aidant",
        "card_association",
        "card_validation",
        "card_dissociation",
    ] {
        assert_eq!(
            actions.iter().filter(|a| **a == action).count(),
            1,
            "{action} in {actions:?}"
        );
    }
    let dissociation = entries
        .iter()
        .find(|e| e.action == "card_dissociation")
        .unwrap();
    assert!(dissociation.details.contains("\"reason\":\"perte\""));
    assert_eq!(
        dissociation.aidant_id.as_ref(),
        Some(AidantId::from(f.referent_a.as_str())).as_ref()
    );
    assert_eq!(dissociation.subject, nora);
}

async fn digital_card_is_enrolled_by_qr_code_and_confirmed_by_a_first_code(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let referent = Browser::new();
    service
        .sign_in(&referent, &f.email_referent_a, SEED_R)
        .await;
    let aidant_page = format!("/espace-referent/aidants/{}", f.aidant_a);
    let enrol = format!("{aidant_page}/carte-numerique");
    let page = referent.post_from(&base, &aidant_page, &enrol, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("src=\"data:image/svg+xml;base64,"));
    assert!(page.body.contains("Il ne sera plus jamais affiché"));
    // The phone scanned the QR code: the test plays it with the seed it carries.
    let digital = authenticator::cards_of_aidant(&mut service.conn(), &f.aidant_a)
        .unwrap()
        .into_iter()
        .find(|c| !c.is_physical())
        .unwrap();
    let seed = service
        .cipher
        .open(&digital.id, &digital.seed_encrypted)
        .unwrap();
    assert_eq!(seed.len(), 20);
    assert!(!page.body.contains(&hex::encode(&seed)));
    assert!(digital.serial.starts_with("NUM"));
    // The référent types the first code the application shows.
    let code = authenticator::card_code_at(&seed, service.clock_now());
    let page = referent
        .post_from(
            &base,
            &aidant_page,
            &format!("{aidant_page}/carte/valider"),
            &[("otp", &code)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let after = referent.get(&format!("{base}{aidant_page}")).await;
    assert!(after
        .body
        .contains("carte numérique : <span class=\"etat\">active"));
    assert!(
        !after.body.contains("data:image"),
        "the seed is never shown again"
    );
    // The aidant signs in with the application's next code.
    service.clock.advance(Duration::seconds(30));
    let aidant = Browser::new();
    let code = authenticator::card_code_at(&seed, service.clock_now());
    let page = service.try_sign_in(&aidant, &f.email_a, &code).await;
    assert_eq!(page.status, 303, "{}", page.body);
    // A second enrolment replaces nothing validated: the active digital card stays.
    referent.post_from(&base, &aidant_page, &enrol, &[]).await;
    let cards = authenticator::cards_of_aidant(&mut service.conn(), &f.aidant_a).unwrap();
    assert_eq!(cards.iter().filter(|c| !c.is_physical()).count(), 2);
    assert!(cards
        .iter()
        .any(|c| c.id == digital.id && c.validated_at.is_some()));
}

async fn deactivation_ends_sessions_and_co_referents_get_the_espace(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let aidant = Browser::new();
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    let espace = format!("{base}/espace-aidant");
    assert_eq!(aidant.get(&espace).await.status, 200);
    assert_eq!(
        aidant.get(&format!("{base}/espace-referent")).await.status,
        403
    );
    let referent = Browser::new();
    service
        .sign_in(&referent, &f.email_referent_a, SEED_R)
        .await;
    let aidant_page = format!("/espace-referent/aidants/{}", f.aidant_a);
    // A référent cannot deactivate themselves.
    let own = format!("/espace-referent/aidants/{}", f.referent_a);
    let page = referent
        .post_from(&base, &own, &format!("{own}/desactiver"), &[])
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Vous ne pouvez pas vous désactiver"));
    let page = referent
        .post_from(
            &base,
            &aidant_page,
            &format!("{aidant_page}/desactiver"),
            &[],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let gone = aidant.get(&espace).await;
    assert_eq!(gone.status, 303, "the session ended at once");
    // Signing in again is refused: no organisation to work for.
    let code = service.next_code(SEED_A);
    let page = service.try_sign_in(&aidant, &f.email_a, &code).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("aucune structure habilitée"),
        "{}",
        page.body
    );
    let list = referent.get(&format!("{base}/espace-referent")).await;
    assert!(list.body.contains("désactivé"));
    let page = referent
        .post_from(
            &base,
            &aidant_page,
            &format!("{aidant_page}/reactiver"),
            &[],
        )
        .await;
    assert_eq!(page.status, 303);
    let page = referent
        .post_from(&base, &aidant_page, &format!("{aidant_page}/referent"), &[])
        .await;
    assert_eq!(page.status, 303);
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    let now_referent = aidant.get(&format!("{base}/espace-referent")).await;
    assert_eq!(now_referent.status, 200, "{}", now_referent.body);
    let actions: Vec<String> = journal::chain_entries(&mut service.conn(), f.org_a.as_str())
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in [
        "deactivate_aidant",
        "reactivate_aidant",
        "designate_referent",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}");
    }
}

async fn aidants_of_several_organisations_switch_between_them(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    {
        let mut conn = service.conn();
        store::write_transaction(&mut conn, |tx| {
            accounts::set_membership(
                tx,
                service.clock_now(),
                &f.aidant_a,
                &f.org_b,
                accounts::Role::Aidant,
            )
        })
        .unwrap();
    }
    let aidant = Browser::new();
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    let espace = aidant.get(&format!("{base}/espace-aidant")).await;
    assert!(espace.body.contains("CCAS de Test A</p>"));
    assert!(espace.body.contains("Changer de structure"));
    assert!(!espace.body.contains("RICHARD"));
    let page = aidant
        .post_from(
            &base,
            "/espace-aidant",
            "/espace-aidant/organisation",
            &[("structure", f.org_b.as_str())],
        )
        .await;
    assert_eq!(page.status, 303);
    let espace = aidant.get(&format!("{base}/espace-aidant")).await;
    assert!(
        espace.body.contains("Mairie de Test B</p>"),
        "{}",
        espace.body
    );
    assert!(espace.body.contains("RICHARD"));
    // Not to an organisation they do not belong to.
    let page = aidant
        .post_from(
            &base,
            "/espace-aidant",
            "/espace-aidant/organisation",
            &[("structure", "0123456789abcdef0123456789abcdef")],
        )
        .await;
    assert_eq!(page.status, 404);
    // Deactivated in B by B's référent: the session there ends, A remains.
    diesel::update(memberships::table.find((&f.aidant_a, &f.org_b)))
        .set(memberships::active.eq(false))
        .execute(&mut service.conn())
        .unwrap();
    assert_eq!(
        aidant.get(&format!("{base}/espace-aidant")).await.status,
        303
    );
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    let espace = aidant.get(&format!("{base}/espace-aidant")).await;
    assert!(espace.body.contains("CCAS de Test A</p>"));
    assert!(!espace.body.contains("Changer de structure"));
}

async fn referent_routes_refuse_other_organisations_and_plain_aidants(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let card_a = card(&service, "GADT0000101");
    let a = format!("/espace-referent/aidants/{}", f.aidant_a);
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("{a}/carte"), vec![("serial", "GADT0000101")]),
        (format!("{a}/carte/valider"), vec![("otp", "123456")]),
        (
            format!("{a}/cartes/{}/dissocier", card_a.id),
            vec![("motif", "perte")],
        ),
        (format!("{a}/carte-numerique"), vec![]),
        (format!("{a}/desactiver"), vec![]),
        (format!("{a}/reactiver"), vec![]),
        (format!("{a}/referent"), vec![]),
    ];
    // Organisation B's référent: every route on A's aidant answers 404 and changes nothing.
    let referent_b = Browser::new();
    service.sign_in(&referent_b, &f.email_b, SEED_B).await;
    let own = referent_b
        .get(&format!("{base}/espace-referent/aidants/{}", f.aidant_b))
        .await;
    assert_eq!(own.status, 200);
    assert_eq!(referent_b.get(&format!("{base}{a}")).await.status, 404);
    for (path, fields) in &posts {
        let page = referent_b
            .post_from(&base, "/espace-referent", path, fields)
            .await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
    }
    let list = referent_b.get(&format!("{base}/espace-referent")).await;
    assert!(!list.body.contains(&f.email_a));
    // B's référent cannot use B's card routes on A's card either.
    let b = format!("/espace-referent/aidants/{}", f.aidant_b);
    let page = referent_b
        .post_from(
            &base,
            "/espace-referent",
            &format!("{b}/cartes/{}/dissocier", card_a.id),
            &[("motif", "perte")],
        )
        .await;
    assert_eq!(page.status, 404);
    // A plain aidant of A: 403 on every référent page.
    let aidant = Browser::new();
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    for path in [
        "/espace-referent".to_owned(),
        "/espace-referent/aidants/nouveau".to_owned(),
        a.clone(),
    ] {
        assert_eq!(
            aidant.get(&format!("{base}{path}")).await.status,
            403,
            "{path}"
        );
    }
    for (path, fields) in &posts {
        let page = aidant
            .post_from(&base, "/espace-aidant", path, fields)
            .await;
        assert_eq!(page.status, 403, "{path}");
    }
    let page = aidant
        .post_from(
            &base,
            "/espace-aidant",
            "/espace-referent/aidants/nouveau",
            &[("email", "x@ccas-test.fr"), ("prenom", "X"), ("nom", "Y")],
        )
        .await;
    assert_eq!(page.status, 403);
    // Nothing changed (but the step of the code aidant A signed in with).
    let after = card(&service, "GADT0000101");
    assert_eq!(
        (
            &after.aidant_id,
            after.validated_at,
            &after.disabled_reason,
            after.failures
        ),
        (
            &card_a.aidant_id,
            card_a.validated_at,
            &card_a.disabled_reason,
            0
        )
    );
    let digital_cards = authenticator::cards_of_aidant(&mut service.conn(), &f.aidant_a).unwrap();
    assert_eq!(digital_cards.len(), 1, "no digital card was enrolled");
    let members = accounts::members(&mut service.conn(), &f.org_a).unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m.active));
    assert!(
        accounts::find_aidant_by_email(&mut service.conn(), "x@ccas-test.fr")
            .unwrap()
            .is_none()
    );
    // Without a session: to the sign-in page.
    let anonymous = Browser::new();
    let page = anonymous.get(&format!("{base}{a}")).await;
    assert_eq!(page.status, 303);
}

async fn failed_sign_ins_from_one_address_lock_it(backend: Backend) {
    let service = TestService::start_configured(backend, &|c| {
        c.session.source_max_failures = 4;
    });
    let f = service.fixtures.clone();
    let browser = Browser::new();
    let attempt = |email: String, code: String| {
        let (service, browser) = (&service, &browser);
        async move { service.try_sign_in(browser, &email, &code).await }
    };
    // Guessing codes for four different e-mails: no card reaches its limit, the address does.
    for (i, wait) in [1, 2, 4, 0].into_iter().enumerate() {
        let page = attempt(format!("essai{i}@ccas-test.fr"), "123456".into()).await;
        assert_eq!(page.status, 422);
        service.clock.advance(Duration::seconds(wait));
    }
    let code = service.code(SEED_A);
    let page = attempt(f.email_a.clone(), code).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("depuis ce poste"),
        "even the right code is refused: {}",
        page.body
    );
    assert_eq!(journal_count(&service, journal::Action::ThrottleSource), 1);
    let entry = &journal::entries_by_action(&mut service.conn(), journal::Action::ThrottleSource)
        .unwrap()[0];
    assert!(!entry.subject.contains("127.0.0.1"), "addresses are hashed");
    service.clock.advance(Duration::minutes(15));
    let code = service.next_code(SEED_A);
    let page = attempt(f.email_a.clone(), code).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

async fn concurrent_sign_ins_with_one_code_open_one_session(backend: Backend) {
    let service = Arc::new(TestService::start(backend));
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let code = service.next_code(SEED_A);
    let mut browsers = Vec::new();
    for _ in 0..4 {
        let browser = Browser::new();
        let csrf = ac_tests::csrf_token(&browser.get(&format!("{base}/connexion")).await.body);
        browsers.push((browser, csrf));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let handles: Vec<_> = browsers
        .into_iter()
        .map(|(browser, csrf)| {
            let (barrier, code, email, url) = (
                barrier.clone(),
                code.clone(),
                f.email_a.clone(),
                format!("{base}/connexion"),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                browser
                    .post(
                        &url,
                        &[
                            ("csrf_token", csrf.as_str()),
                            ("email", email.as_str()),
                            ("otp", code.as_str()),
                        ],
                    )
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 422, 422, 422]);
    let sessions: i64 = store::schema::aidant_sessions::table
        .count()
        .get_result(&mut service.conn())
        .unwrap();
    assert_eq!(sessions, 1);
}

async fn codes_one_step_away_are_accepted_two_are_not(backend: Backend) {
    let service = TestService::start(backend);
    let policy = authenticator::SessionPolicy::default();
    let now = service.clock_now() + Duration::minutes(10);
    let mut conn = service.conn();
    let check = |conn: &mut store::PooledDb, code: &str, at| {
        let card = authenticator::card_by_serial(conn, "GADT0000101")
            .unwrap()
            .unwrap();
        store::write_transaction(conn, |tx| {
            authenticator::verify_code(tx, &service.cipher, &card, code, at, &policy.card)
        })
        .unwrap()
    };
    let step = |offset: i64| code_at(SEED_A, now + Duration::seconds(30 * offset));
    // Two steps behind: wrong.
    assert_eq!(
        check(&mut conn, &step(-2), now),
        Err(authenticator::OtpRefusal::WrongCode)
    );
    let later = now + Duration::seconds(2);
    // One step behind, then the current one: both accepted once.
    assert!(check(&mut conn, &step(-1), later).is_ok());
    assert_eq!(
        check(&mut conn, &step(-1), later),
        Err(authenticator::OtpRefusal::Replayed)
    );
    assert!(check(&mut conn, &step(0), later).is_ok());
    // One step ahead (a card whose clock runs fast): accepted; then the current one is older.
    assert!(check(&mut conn, &step(1), later).is_ok());
    assert_eq!(
        check(&mut conn, &step(0), later),
        Err(authenticator::OtpRefusal::Replayed)
    );
    // Two steps ahead: wrong.
    assert_eq!(
        check(&mut conn, &step(2), later),
        Err(authenticator::OtpRefusal::WrongCode)
    );
}

/// Rita, référent of A, is also made a member of B, as the national team's CLI does; she
/// signs in (in A).
async fn rita_also_works_in_b(service: &TestService) -> Browser {
    let f = &service.fixtures;
    admin::create_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        &admin::AidantInput {
            email: f.email_referent_a.clone(),
            first_name: "Rita".into(),
            last_name: "Referente".into(),
            profession: String::new(),
            phone: String::new(),
            siret: "22222222200022".into(),
            referent: false,
        },
    )
    .unwrap();
    let rita = Browser::new();
    service.sign_in(&rita, &f.email_referent_a, SEED_R).await;
    rita
}

/// What a card action would change: who holds which card, validated or not, with which seed.
fn holding(cards: Vec<authenticator::OtpCard>) -> Vec<impl PartialEq + std::fmt::Debug> {
    cards
        .into_iter()
        .map(|c| {
            (
                c.id,
                c.aidant_id,
                c.validated_at,
                c.disabled_reason,
                c.seed_encrypted,
            )
        })
        .collect()
}

/// Each card action of B's référent on Rita's page is refused with the reason (dissociate,
/// enrol a digital card, associate from stock, validate with his own code); Rita's session
/// in A lives on.
async fn every_card_action_is_refused(
    service: &TestService,
    referent_b: &Browser,
    rita: &Browser,
    page_path: &str,
) {
    let base = service.issuer();
    let refused = |page: &ac_tests::Page, step: &str| {
        assert_eq!(page.status, 422, "{step}: {}", page.body);
        assert!(
            page.body.contains("seule l&#39;équipe nationale"),
            "{step}: {}",
            page.body
        );
    };
    let card_r = card(service, "GADT0000103");
    let dissociate = format!("{page_path}/cartes/{}/dissocier", card_r.id);
    let page = referent_b
        .post_from(base, page_path, &dissociate, &[("motif", "erreur")])
        .await;
    refused(&page, "dissociation");
    assert_eq!(
        rita.get(&format!("{base}/espace-aidant")).await.status,
        200,
        "her session in A was not ended"
    );
    let enrol = format!("{page_path}/carte-numerique");
    let page = referent_b.post_from(base, page_path, &enrol, &[]).await;
    refused(&page, "enrolment");
    assert!(!page.body.contains("data:image"));
    let associate = format!("{page_path}/carte");
    let page = referent_b
        .post_from(base, page_path, &associate, &[("serial", "GADT0000400")])
        .await;
    refused(&page, "association");
    let own_code = service.next_code(SEED_B);
    let validate = format!("{page_path}/carte/valider");
    let page = referent_b
        .post_from(base, page_path, &validate, &[("otp", &own_code)])
        .await;
    refused(&page, "validation");
}

/// A référent of B cannot take over an aidant who also works in A: her card serves her in A
/// too, so every card action is refused, with the reason, and nothing changes.
async fn a_referent_cannot_take_over_an_aidant_who_works_elsewhere(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    assert!(import(&service, &format!("GADT0000400,{NEW_SEED}\n")).applied());
    let rita = rita_also_works_in_b(&service).await;
    let before = authenticator::cards_of_aidant(&mut service.conn(), &f.referent_a).unwrap();

    // B's référent sees her in B's espace, with the reason her cards are not his to manage.
    let referent_b = Browser::new();
    service.sign_in(&referent_b, &f.email_b, SEED_B).await;
    let page_path = format!("/espace-referent/aidants/{}", f.referent_a);
    let page = referent_b.get(&format!("{base}{page_path}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("exerce aussi dans une autre structure"));
    assert!(!page.body.contains("/dissocier"), "no card form is offered");
    every_card_action_is_refused(&service, &referent_b, &rita, &page_path).await;

    // Sign in with her e-mail and his code: refused; A's usagers stay out of reach.
    let intruder = Browser::new();
    let code = service.next_code(SEED_B);
    let page = service
        .try_sign_in(&intruder, &f.email_referent_a, &code)
        .await;
    assert_eq!(page.status, 422);
    let usagers = intruder.get(&format!("{base}/espace-aidant")).await;
    assert_eq!(usagers.status, 303);
    // Nothing changed: she holds the same card, validated, with the same seed (the refused
    // sign-in was counted as a wrong code from an unrecognised browser, as any other).
    assert_eq!(
        holding(authenticator::cards_of_aidant(&mut service.conn(), &f.referent_a).unwrap()),
        holding(before)
    );
    assert_eq!(
        card(&service, "GADT0000400").state(service.clock_now()),
        authenticator::CardState::Free
    );
    let card_actions = journal::chain_entries(&mut service.conn(), f.org_b.as_str())
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("card_"))
        .count();
    assert_eq!(card_actions, 0, "no card action was journaled");

    // Once he is a référent of A too, every structure she works for is his: he may.
    store::write_transaction(&mut service.conn(), |tx| {
        accounts::set_membership(
            tx,
            service.clock_now(),
            &f.aidant_b,
            &f.org_a,
            accounts::Role::Referent,
        )
    })
    .unwrap();
    let card_r = card(&service, "GADT0000103");
    let page = referent_b
        .post_from(
            &base,
            &page_path,
            &format!("{page_path}/cartes/{}/dissocier", card_r.id),
            &[("motif", "erreur")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(card(&service, "GADT0000103").aidant_id, None);
}

on_both_backends!(
    csv_import_is_all_or_nothing_and_reports_every_bad_line,
    referent_brings_a_new_aidant_in_with_a_physical_card,
    digital_card_is_enrolled_by_qr_code_and_confirmed_by_a_first_code,
    deactivation_ends_sessions_and_co_referents_get_the_espace,
    aidants_of_several_organisations_switch_between_them,
    referent_routes_refuse_other_organisations_and_plain_aidants,
    failed_sign_ins_from_one_address_lock_it,
    concurrent_sign_ins_with_one_code_open_one_session,
    codes_one_step_away_are_accepted_two_are_not,
    a_referent_cannot_take_over_an_aidant_who_works_elsewhere,
);
