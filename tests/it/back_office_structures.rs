//! Closing and reopening a structure from the back office: an auditor may not (nothing
//! written); once closed, its aidant's session in it has ended and they may no longer work
//! for it, its page says so and offers to reopen it, the journal records both steps with the
//! member's id; once reopened, the aidant signs in again.

use crate::staff::{admin_signed_in, auditor_signed_in};
use ac_tests::{on_both_backends, Backend, Browser, Page, TestService, SEED_A};
use diesel::prelude::*;
use store::schema::aidant_sessions;

async fn set_open(service: &TestService, browser: &Browser, open: &str) -> Page {
    browser
        .post_from(
            service.issuer(),
            "/administration/",
            &format!(
                "/administration/structures/{}/habilitation",
                service.fixtures.org_a
            ),
            &[("ouverte", open)],
        )
        .await
}

fn may_work(service: &TestService) -> bool {
    let f = &service.fixtures;
    accounts::may_work_for(&mut service.conn(), &f.aidant_a, &f.org_a).unwrap()
}

fn habilitation_entries(service: &TestService) -> Vec<String> {
    ::journal::entries_by_action(&mut service.conn(), ::journal::Action::SetHabilitation)
        .unwrap()
        .into_iter()
        .map(|e| e.details)
        .collect()
}

async fn a_structure_is_closed_and_reopened(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let aidant = Browser::new();
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    let espace = format!("{}/espace-aidant", service.issuer());
    assert_eq!(aidant.get(&espace).await.status, 200);

    let auditor = auditor_signed_in(&service).await;
    assert_eq!(set_open(&service, &auditor, "0").await.status, 403);
    assert!(may_work(&service) && habilitation_entries(&service).is_empty());

    let admin = admin_signed_in(&service).await;
    let closed = set_open(&service, &admin, "0").await;
    assert_eq!(closed.status, 303, "{}", closed.body);
    let page = admin
        .get(&format!("{}{}", service.issuer(), closed.location.unwrap()))
        .await;
    assert!(page.body.contains("Structure fermée"), "{}", page.body);
    assert!(page.body.contains("Rouvrir la structure"));
    assert!(!may_work(&service));
    let live: i64 = aidant_sessions::table
        .filter(aidant_sessions::organisation_id.eq(&f.org_a))
        .filter(aidant_sessions::ended_at.is_null())
        .count()
        .get_result(&mut service.conn())
        .unwrap();
    assert_eq!(live, 0, "its sessions ended");
    let away = aidant.get(&espace).await;
    assert_eq!(away.status, 303, "{}", away.body);

    let reopened = set_open(&service, &admin, "1").await;
    assert_eq!(reopened.status, 303);
    assert!(may_work(&service));
    let entries = habilitation_entries(&service);
    assert_eq!(entries.len(), 2);
    assert!(entries
        .iter()
        .all(|d| d.contains("\"staff\":") && d.contains("\"avant\":")));
    assert!(
        entries.iter().any(|d| d.contains("\"apres\":\"closed\"")),
        "{entries:?}"
    );
    service.sign_in(&aidant, &f.email_a, SEED_A).await;
    assert_eq!(aidant.get(&espace).await.status, 200);
}

on_both_backends!(a_structure_is_closed_and_reopened);
