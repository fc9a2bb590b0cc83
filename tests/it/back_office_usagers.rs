//! The usager's right to erasure, from the back office: refused while a mandate is in force,
//! to an auditor and without the request's reference (nothing written, what was typed kept);
//! then the identity is gone from the usager, their listing and their attestation, the journal
//! still names them by their pseudonym and every chain still verifies, and the paper
//! attestation still verifies as authentic, erased — unless someone edits it afterwards.

use crate::back_office_mandates::{printed_mandate, verify_url};
use crate::staff::{admin_signed_in, auditor_signed_in};
use ac_tests::{on_both_backends, Backend, Browser, TestService};
use diesel::prelude::*;
use store::UsagerId;

async fn post_erase(
    service: &TestService,
    browser: &Browser,
    usager: &UsagerId,
    reference: &str,
) -> ac_tests::Page {
    browser
        .post_from(
            service.issuer(),
            "/administration/",
            &format!("/administration/usagers/{usager}/effacer"),
            &[("reference", reference)],
        )
        .await
}

fn erasures(service: &TestService) -> usize {
    ::journal::entries_by_action(&mut service.conn(), ::journal::Action::EraseUsager)
        .unwrap()
        .len()
}

async fn verdict(service: &TestService, id: &str, fingerprint: &str) -> String {
    Browser::new()
        .get(&verify_url(service, id, fingerprint))
        .await
        .body
}

async fn an_usager_is_erased_on_request(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let (id, fingerprint) = printed_mandate(&service).await;
    let fatou = mandate::find_usagers(&mut service.conn(), "diallo", service.clock_now(), 10)
        .unwrap()
        .remove(0)
        .usager;
    let admin = admin_signed_in(&service).await;
    let list = format!("{}/administration/usagers?q=diallo", service.issuer());
    let page = admin.get(&list).await;
    assert!(page.body.contains("mandat en cours"), "{}", page.body);
    assert!(!page.body.contains("/effacer\""), "no erasure offered");
    let refused = post_erase(&service, &admin, &fatou.id, "TICKET-1").await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("encore en cours"), "{}", refused.body);

    service.revoke_in_org_a(&fatou.id, mandate::Demarche::Argent);
    let auditor = auditor_signed_in(&service).await;
    assert_eq!(
        post_erase(&service, &auditor, &fatou.id, "TICKET-1")
            .await
            .status,
        403
    );
    let no_reference = post_erase(&service, &admin, &fatou.id, " ").await;
    assert_eq!(no_reference.status, 422);
    assert!(
        no_reference.body.contains("Indiquez la référence"),
        "{}",
        no_reference.body
    );
    assert_eq!(erasures(&service), 0, "nothing was written");
    let kept = mandate::usager(&mut service.conn(), &fatou.id)
        .unwrap()
        .unwrap();
    assert_eq!(kept, fatou);

    let done = post_erase(&service, &admin, &fatou.id, "TICKET-1").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let shown = admin
        .get(&format!("{}{}", service.issuer(), done.location.unwrap()))
        .await;
    assert!(shown.body.contains("Identité effacée"), "{}", shown.body);
    assert!(shown.body.contains("identité effacée le"), "{}", shown.body);

    let erased = mandate::usager(&mut service.conn(), &fatou.id)
        .unwrap()
        .unwrap();
    assert_eq!(erased.family_name, mandate::ERASED_NAME);
    assert!(erased.given_name.is_empty() && erased.birthdate.is_empty());
    assert_eq!(erased.franceconnect_sub, None);
    assert_ne!(
        erased.sub, fatou.sub,
        "relying parties can no longer link them"
    );
    assert!(
        mandate::find_usagers(&mut service.conn(), "diallo", service.clock_now(), 10)
            .unwrap()
            .is_empty()
    );

    let mut conn = service.conn();
    let about = ::journal::entries_of_usager(&mut conn, &fatou.id).unwrap();
    assert!(about.len() >= 3, "the journal still holds their history");
    assert!(about
        .iter()
        .all(|e| !e.details.contains("DIALLO") && !e.subject.contains("DIALLO")));
    let erasure = about.iter().find(|e| e.action == "erase_usager").unwrap();
    assert!(erasure.details.contains("TICKET-1") && erasure.details.contains("\"staff\":"));
    for report in ::journal::verify_all(&mut conn).unwrap() {
        assert_eq!(report.broken, None, "{}", report.chain);
    }

    let content: String = store::schema::attestations::table
        .find(&id)
        .select(store::schema::attestations::content)
        .first(&mut conn)
        .unwrap();
    assert!(
        !content.contains("DIALLO") && !content.contains("Fatou"),
        "{content}"
    );
    let genuine = verdict(&service, &id, &fingerprint).await;
    assert!(
        genuine.contains(r#"data-verdict="authentique""#),
        "{genuine}"
    );
    assert!(genuine.contains("id=\"efface\""), "{genuine}");
    diesel::update(store::schema::attestations::table.find(&id))
        .set(store::schema::attestations::content.eq(content.replace("argent", "loisirs")))
        .execute(&mut conn)
        .unwrap();
    assert!(verdict(&service, &id, &fingerprint)
        .await
        .contains(r#"data-verdict="alteree""#));

    let again = post_erase(&service, &admin, &fatou.id, "TICKET-2").await;
    assert!(again.body.contains("déjà été effacée"), "{}", again.body);
}

on_both_backends!(an_usager_is_erased_on_request);
