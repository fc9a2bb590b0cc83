//! Cards and structures from the back office: a card file imported from the browser, all its
//! rows or none; the stock searched by serial; a card taken away with a reason (its holder's
//! session ends, they are told the national team did it) and its history; cards sent to a
//! structure, refused when a serial is not in stock; a structure's description and démarches
//! changed, a bad postcode refused with what was typed kept. An auditor changes nothing.

use crate::back_office_aidants::{entries, post};
use crate::staff::{admin_signed_in, auditor_signed_in};
use ac_tests::{on_both_backends, Backend, Browser, Page, TestService, SEED_A};
use diesel::prelude::*;
use store::schema::outbox;

const NEW_SEED: &str = "5d41402abc4b2a76b9719d911017c592aabbccdd";

async fn upload(service: &TestService, browser: &Browser, csv: &str) -> Page {
    browser
        .post_file_from(
            service.issuer(),
            "/administration/",
            "/administration/cartes/import",
            "fichier",
            csv.as_bytes(),
        )
        .await
}

fn card(service: &TestService, serial: &str) -> Option<authenticator::OtpCard> {
    authenticator::card_by_serial(&mut service.conn(), serial).unwrap()
}

async fn cards_are_imported_searched_taken_away_and_sent(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();

    let auditor = auditor_signed_in(&service).await;
    let csv = format!("numero_serie,graine\nGADT0000300,{NEW_SEED}\nGADT0000301,{NEW_SEED}\n");
    assert_eq!(upload(&service, &auditor, &csv).await.status, 403);
    assert!(card(&service, "GADT0000300").is_none());

    let admin = admin_signed_in(&service).await;
    let bad = format!("GADT0000302,{NEW_SEED}\nGADT0000303,pas-hexadecimal\n");
    let refused = upload(&service, &admin, &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("rien n'a été importé"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("GADT0000303"));
    assert!(card(&service, "GADT0000302").is_none(), "all or nothing");
    let empty = upload(&service, &admin, "  \n").await;
    assert_eq!(empty.status, 422);
    let imported = upload(&service, &admin, &csv).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert!(
        imported.body.contains("2 carte(s) ajoutée(s)"),
        "{}",
        imported.body
    );
    let import = entries(&service, ::journal::Action::ImportTotpCards);
    assert!(import.last().unwrap().details.contains("\"staff\":"));

    let found = admin
        .get(&format!("{base}/administration/cartes?serie=gadt00003"))
        .await;
    assert!(found.body.contains("GADT0000300") && found.body.contains("GADT0000301"));
    assert!(!found.body.contains("GADT0000101"), "{}", found.body);

    // Alex's card taken away: refused to the auditor and without a reason.
    let alex = Browser::new();
    service.sign_in(&alex, &f.email_a, SEED_A).await;
    let dissociate = "/administration/cartes/GADT0000101/dissocier";
    assert_eq!(
        post(&service, &auditor, dissociate, &[("motif", "perte")])
            .await
            .status,
        403
    );
    let no_reason = post(
        &service,
        &admin,
        dissociate,
        &[("motif", "autre"), ("precision", " ")],
    )
    .await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.body);
    assert!(card(&service, "GADT0000101").unwrap().aidant_id.is_some());
    let taken = post(&service, &admin, dissociate, &[("motif", "perte")]).await;
    assert_eq!(taken.status, 303, "{}", taken.body);
    let gone = card(&service, "GADT0000101").unwrap();
    assert!(gone.aidant_id.is_none() && gone.disabled_reason.as_deref() == Some("perte"));
    assert_eq!(alex.get(&format!("{base}/espace-aidant")).await.status, 303);
    let payloads: Vec<String> = outbox::table
        .filter(outbox::recipient.eq(&f.email_a))
        .filter(outbox::kind.eq("card_dissociated"))
        .select(outbox::payload)
        .load(&mut service.conn())
        .unwrap();
    assert!(
        payloads.iter().any(|p| p.contains("\"by_team\":true")),
        "{payloads:?}"
    );
    let history = admin
        .get(&format!("{base}/administration/cartes/GADT0000101"))
        .await;
    assert!(
        history.body.contains("dissociation d&#39;une carte"),
        "{}",
        history.body
    );
    assert!(history
        .body
        .contains("motif : carte perdue ; mise hors service"));
    assert!(history.body.contains("équipe nationale"));

    // Cards sent to structure A: a card that is not in stock is refused.
    let sent = format!("/administration/structures/{}/envois", f.org_a);
    let not_in_stock = post(
        &service,
        &admin,
        &sent,
        &[
            ("sent_on", "2026-03-01"),
            ("quantity", "2"),
            ("tracking", "COLIS-42"),
            ("serials", "GADT0000300\nGADT0000102"),
        ],
    )
    .await;
    assert_eq!(not_in_stock.status, 422, "{}", not_in_stock.body);
    assert!(
        not_in_stock
            .body
            .contains("GADT0000102 n&#39;est pas une carte physique disponible"),
        "{}",
        not_in_stock.body
    );
    assert!(not_in_stock.body.contains("COLIS-42"), "typed kept");
    let bad_date = post(
        &service,
        &admin,
        &sent,
        &[("sent_on", "demain"), ("quantity", "2"), ("tracking", "X")],
    )
    .await;
    assert_eq!(bad_date.status, 422);
    let future = post(
        &service,
        &admin,
        &sent,
        &[
            ("sent_on", "2026-12-31"),
            ("quantity", "1"),
            ("tracking", "X"),
        ],
    )
    .await;
    assert!(future.body.contains("dans le futur"), "{}", future.body);
    assert_eq!(
        post(
            &service,
            &auditor,
            &sent,
            &[
                ("sent_on", "2026-03-01"),
                ("quantity", "1"),
                ("tracking", "X")
            ]
        )
        .await
        .status,
        403
    );
    let recorded = post(
        &service,
        &admin,
        &sent,
        &[
            ("sent_on", "01/03/2026"),
            ("quantity", "2"),
            ("tracking", "COLIS-42"),
            ("serials", "gadt0000300, GADT0000301"),
        ],
    )
    .await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    let page = admin
        .get(&format!("{base}/administration/structures/{}", f.org_a))
        .await;
    assert!(
        page.body.contains("COLIS-42") && page.body.contains("01/03/2026"),
        "{}",
        page.body
    );
    let shipment = entries(&service, ::journal::Action::SendCards);
    assert_eq!(shipment.len(), 1);
    assert_eq!(shipment[0].chain, ::journal::NATIONAL_CHAIN);
    assert_eq!(shipment[0].organisation_id.as_ref(), Some(&f.org_a));
    let history = admin
        .get(&format!("{base}/administration/cartes/GADT0000300"))
        .await;
    assert!(
        history.body.contains("envoi suivi COLIS-42"),
        "{}",
        history.body
    );
}

on_both_backends!(cards_are_imported_searched_taken_away_and_sent);

async fn a_structure_description_is_changed(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let edit = format!("/administration/structures/{}/modifier", f.org_a);
    let typed = |zipcode: &'static str| {
        vec![
            ("edit-name", "CCAS de Test (nouveau nom)"),
            ("edit-address", "2 rue Neuve"),
            ("edit-zipcode", zipcode),
            ("edit-city", "Brest"),
            ("edit-kind", "CCAS"),
            ("france_services", "1"),
            ("demarche", "argent"),
            ("demarche", "famille"),
        ]
    };
    let auditor = auditor_signed_in(&service).await;
    assert_eq!(
        post(&service, &auditor, &edit, &typed("29200"))
            .await
            .status,
        403
    );

    let admin = admin_signed_in(&service).await;
    let refused = post(&service, &admin, &edit, &typed("292")).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("Code postal invalide"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("CCAS de Test (nouveau nom)"),
        "typed kept"
    );
    let none = post(&service, &admin, &edit, &typed("29200")[..6]).await;
    assert_eq!(none.status, 422);
    assert!(none.body.contains("Cochez au moins une démarche"));
    let before = accounts::organisation(&mut service.conn(), &f.org_a)
        .unwrap()
        .unwrap();
    assert!(!before.france_services && before.allowed_demarches.is_none());

    let done = post(&service, &admin, &edit, &typed("29200")).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = accounts::organisation(&mut service.conn(), &f.org_a)
        .unwrap()
        .unwrap();
    assert_eq!(after.name, "CCAS de Test (nouveau nom)");
    assert!(after.france_services);
    assert_eq!(
        mandate::allowed_demarches(&mut service.conn(), &f.org_a).unwrap(),
        vec![mandate::Demarche::Famille, mandate::Demarche::Argent]
    );
    let edits = entries(&service, ::journal::Action::EditOrganisation);
    assert_eq!(edits.len(), 1);
    assert!(
        edits[0].details.contains("\"staff\":") && edits[0].details.contains("france_services")
    );
    let allowed = entries(&service, ::journal::Action::SetAllowedDemarches);
    assert_eq!(allowed.len(), 1);
    // The same form again changes nothing and journals nothing.
    assert_eq!(
        post(&service, &admin, &edit, &typed("29200")).await.status,
        303
    );
    assert_eq!(
        entries(&service, ::journal::Action::EditOrganisation).len(),
        1
    );
    assert_eq!(
        entries(&service, ::journal::Action::SetAllowedDemarches).len(),
        1
    );
}

on_both_backends!(a_structure_description_is_changed);
