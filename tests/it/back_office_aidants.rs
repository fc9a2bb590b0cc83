//! Aidants from the back office: an auditor reads but changes nothing; an administrator
//! corrects an identity (a taken address is refused, what was typed kept), cannot take the
//! role away from a structure's last référent but can once another is designated (who is told
//! by e-mail), deactivates an aidant in a structure (their session there ends, the other
//! référents are told), moves them to another structure, and deactivates accounts from a
//! pasted list after a preview — every step journaled with the member's id.

use crate::staff::{admin_signed_in, auditor_signed_in};
use ac_tests::{on_both_backends, Backend, Browser, Page, TestService, SEED_A};
use diesel::prelude::*;
use store::schema::outbox;
use store::{AidantId, OrganisationId};

/// Posts a back-office form with the CSRF token of the home page (which every member has).
pub(crate) async fn post(
    service: &TestService,
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    browser
        .post_from(service.issuer(), "/administration/", path, fields)
        .await
}

fn on_aidant(aidant: &AidantId, rest: &str) -> String {
    format!("/administration/aidants/{aidant}{rest}")
}

fn membership(aidant: &AidantId, organisation: &OrganisationId) -> String {
    on_aidant(aidant, &format!("/structures/{organisation}"))
}

fn member(
    service: &TestService,
    organisation: &OrganisationId,
    aidant: &AidantId,
) -> Option<accounts::Member> {
    accounts::member(&mut service.conn(), organisation, aidant).unwrap()
}

/// The journal's entries of `action`.
pub(crate) fn entries(
    service: &TestService,
    action: ::journal::Action,
) -> Vec<::journal::JournalEntry> {
    ::journal::entries_by_action(&mut service.conn(), action).unwrap()
}

/// The kinds of the messages waiting for `recipient`.
fn told(service: &TestService, recipient: &str) -> Vec<String> {
    outbox::table
        .filter(outbox::recipient.eq(recipient))
        .select(outbox::kind)
        .load(&mut service.conn())
        .unwrap()
}

async fn an_aidant_is_managed_from_the_back_office(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();

    let auditor = auditor_signed_in(&service).await;
    let search = auditor
        .get(&format!("{base}/administration/aidants?q=@"))
        .await;
    assert_eq!(search.status, 200);
    assert!(search.body.contains(&f.email_a), "{}", search.body);
    let page = auditor
        .get(&format!("{base}{}", on_aidant(&f.aidant_a, "")))
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Désactiver le compte partout"));
    for (path, fields) in [
        (
            on_aidant(&f.aidant_a, ""),
            vec![
                ("email", "autre@exemple.fr"),
                ("first_name", "X"),
                ("last_name", "Y"),
            ],
        ),
        (on_aidant(&f.aidant_a, "/compte"), vec![("actif", "0")]),
        (
            membership(&f.aidant_a, &f.org_a),
            vec![("action", "desactiver")],
        ),
        (
            on_aidant(&f.aidant_a, "/deplacement"),
            vec![("depuis", f.org_a.as_str()), ("vers", f.org_b.as_str())],
        ),
    ] {
        let refused = post(&service, &auditor, &path, &fields).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
    }
    let untouched = member(&service, &f.org_a, &f.aidant_a).unwrap();
    assert!(untouched.can_work() && untouched.aidant.email == f.email_a);
    assert!(member(&service, &f.org_b, &f.aidant_a).is_none());

    let admin = admin_signed_in(&service).await;
    // A taken address: refused, what was typed kept.
    let taken = post(
        &service,
        &admin,
        &on_aidant(&f.aidant_a, ""),
        &[
            ("email", &f.email_referent_a),
            ("first_name", "Alex"),
            ("last_name", "Nouveau-Nom"),
            ("profession", "Conseiller"),
            ("phone", ""),
        ],
    )
    .await;
    assert_eq!(taken.status, 422, "{}", taken.body);
    assert!(
        taken.body.contains("utilise déjà cette adresse"),
        "{}",
        taken.body
    );
    assert!(taken.body.contains("Nouveau-Nom"));
    assert!(entries(&service, ::journal::Action::EditAidant).is_empty());
    let edited = post(
        &service,
        &admin,
        &on_aidant(&f.aidant_a, ""),
        &[
            ("email", &f.email_a),
            ("first_name", "Alex"),
            ("last_name", "Nouveau-Nom"),
            ("profession", "Conseiller"),
            ("phone", "0601020304"),
        ],
    )
    .await;
    assert_eq!(edited.status, 303, "{}", edited.body);
    let aidant = accounts::aidant(&mut service.conn(), &f.aidant_a)
        .unwrap()
        .unwrap();
    assert_eq!(
        (aidant.last_name.as_str(), aidant.phone.as_str()),
        ("Nouveau-Nom", "0601020304")
    );
    let edit = entries(&service, ::journal::Action::EditAidant);
    assert_eq!(edit.len(), 1);
    assert!(edit[0].details.contains("\"staff\":") && edit[0].details.contains("last_name"));

    // The last référent keeps the role until another is designated.
    let last = post(
        &service,
        &admin,
        &membership(&f.referent_a, &f.org_a),
        &[("action", "aidant")],
    )
    .await;
    assert_eq!(last.status, 422, "{}", last.body);
    assert!(last.body.contains("au moins un référent"), "{}", last.body);
    assert_eq!(
        member(&service, &f.org_a, &f.referent_a).unwrap().role,
        accounts::Role::Referent
    );
    let designated = post(
        &service,
        &admin,
        &membership(&f.aidant_a, &f.org_a),
        &[("action", "referent")],
    )
    .await;
    assert_eq!(designated.status, 303, "{}", designated.body);
    assert!(told(&service, &f.email_a).contains(&"made_referent".to_owned()));
    let removed = post(
        &service,
        &admin,
        &membership(&f.referent_a, &f.org_a),
        &[("action", "aidant")],
    )
    .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(
        member(&service, &f.org_a, &f.referent_a).unwrap().role,
        accounts::Role::Aidant
    );
    let removal = entries(&service, ::journal::Action::RemoveReferent);
    assert_eq!(removal.len(), 1);
    assert_eq!(removal[0].chain, ::journal::NATIONAL_CHAIN);
    assert_eq!(removal[0].organisation_id.as_ref(), Some(&f.org_a));

    // Deactivated in the structure: the session there ends, the other référent is told.
    let alex = Browser::new();
    service.sign_in(&alex, &f.email_a, SEED_A).await;
    let espace = format!("{base}/espace-aidant");
    assert_eq!(alex.get(&espace).await.status, 200);
    let off = post(
        &service,
        &admin,
        &membership(&f.referent_a, &f.org_a),
        &[("action", "desactiver")],
    )
    .await;
    assert_eq!(off.status, 303);
    assert!(
        told(&service, &f.email_a).contains(&"member_deactivated".to_owned()),
        "the référent is told"
    );
    let off = post(
        &service,
        &admin,
        &membership(&f.aidant_a, &f.org_a),
        &[("action", "desactiver")],
    )
    .await;
    assert_eq!(off.status, 303, "{}", off.body);
    assert!(!member(&service, &f.org_a, &f.aidant_a).unwrap().active);
    assert_eq!(
        alex.get(&espace).await.status,
        303,
        "the session in it ended"
    );
    let deactivations = entries(&service, ::journal::Action::DeactivateAidant);
    assert!(deactivations
        .iter()
        .all(|e| e.details.contains("\"staff\":")));
    let back = post(
        &service,
        &admin,
        &membership(&f.aidant_a, &f.org_a),
        &[("action", "reactiver")],
    )
    .await;
    assert_eq!(back.status, 303);
    assert!(member(&service, &f.org_a, &f.aidant_a).unwrap().can_work());

    // Moved to structure B (by its SIRET), with the role held in A.
    let siret_b = accounts::organisation(&mut service.conn(), &f.org_b)
        .unwrap()
        .unwrap()
        .siret;
    let unknown = post(
        &service,
        &admin,
        &on_aidant(&f.aidant_a, "/deplacement"),
        &[("depuis", f.org_a.as_str()), ("vers", "00000000000000")],
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.body.contains("value=\"00000000000000\""),
        "typed kept"
    );
    let moved = post(
        &service,
        &admin,
        &on_aidant(&f.aidant_a, "/deplacement"),
        &[("depuis", f.org_a.as_str()), ("vers", &siret_b)],
    )
    .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let in_b = member(&service, &f.org_b, &f.aidant_a).unwrap();
    assert!(in_b.can_work() && in_b.role == accounts::Role::Referent);
    assert!(!member(&service, &f.org_a, &f.aidant_a).unwrap().active);
    // And back to A, whose membership they had left: it is given back, with the role.
    let siret_a = accounts::organisation(&mut service.conn(), &f.org_a)
        .unwrap()
        .unwrap()
        .siret;
    let back = post(
        &service,
        &admin,
        &on_aidant(&f.aidant_a, "/deplacement"),
        &[("depuis", f.org_b.as_str()), ("vers", &siret_a)],
    )
    .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let in_a = member(&service, &f.org_a, &f.aidant_a).unwrap();
    assert!(in_a.can_work() && in_a.role == accounts::Role::Referent);
    assert!(!member(&service, &f.org_b, &f.aidant_a).unwrap().active);
    assert!(entries(&service, ::journal::Action::AddAidant)
        .iter()
        .any(|e| e.organisation_id.as_ref() == Some(&f.org_b) && e.subject == f.aidant_a.as_str()));
}

on_both_backends!(an_aidant_is_managed_from_the_back_office);

async fn accounts_are_deactivated_from_a_pasted_list(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let alex = Browser::new();
    service.sign_in(&alex, &f.email_a, SEED_A).await;
    let pasted = format!(
        "{}\n  inconnu@exemple.fr ; {}, {}",
        f.email_a.to_uppercase(),
        f.email_b,
        f.email_a
    );
    let list = "/administration/aidants/desactivation";

    let auditor = auditor_signed_in(&service).await;
    let refused = post(
        &service,
        &auditor,
        list,
        &[("adresses", &pasted), ("etape", "confirmer")],
    )
    .await;
    assert_eq!(refused.status, 403);

    let admin = admin_signed_in(&service).await;
    let preview = post(
        &service,
        &admin,
        list,
        &[("adresses", &pasted), ("etape", "apercu")],
    )
    .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview
            .body
            .contains("2 compte(s) à désactiver sur 3 adresse(s)"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("aucun aidant : ignorée"));
    let active = |id: &AidantId| {
        accounts::aidant(&mut service.conn(), id)
            .unwrap()
            .unwrap()
            .active
    };
    assert!(
        active(&f.aidant_a) && active(&f.aidant_b),
        "a preview writes nothing"
    );

    // A thousand addresses at once, no more.
    let thousand: String = (0..1000)
        .map(|i| format!("aidant.numero.{i:04}@structure-de-test.fr\n"))
        .collect();
    let most = post(
        &service,
        &admin,
        list,
        &[("adresses", &thousand), ("etape", "apercu")],
    )
    .await;
    assert_eq!(most.status, 200, "{}", most.body);
    assert!(most
        .body
        .contains("0 compte(s) à désactiver sur 1000 adresse(s)"));
    let more = format!("{thousand}une.de.trop@structure-de-test.fr");
    let refused = post(
        &service,
        &admin,
        list,
        &[("adresses", &more), ("etape", "apercu")],
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("Collez au plus 1000 adresses"),
        "{}",
        refused.body
    );
    let huge = "x".repeat(200 * 1024);
    let too_long = post(
        &service,
        &admin,
        list,
        &[("adresses", &huge), ("etape", "apercu")],
    )
    .await;
    assert_eq!(too_long.status, 413);
    assert!(
        too_long.body.contains("Liste trop longue"),
        "{}",
        too_long.body
    );

    let empty = post(
        &service,
        &admin,
        list,
        &[("adresses", " \n "), ("etape", "apercu")],
    )
    .await;
    assert_eq!(empty.status, 422);

    let done = post(
        &service,
        &admin,
        list,
        &[("adresses", &pasted), ("etape", "confirmer")],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("2 compte(s) désactivé(s)"),
        "{}",
        done.body
    );
    assert!(!active(&f.aidant_a) && !active(&f.aidant_b) && active(&f.referent_a));
    assert_eq!(alex.get(&format!("{base}/espace-aidant")).await.status, 303);
    let everywhere: Vec<_> = entries(&service, ::journal::Action::DeactivateAidant)
        .into_iter()
        .filter(|e| e.chain == ::journal::NATIONAL_CHAIN)
        .collect();
    assert_eq!(everywhere.len(), 2);
    assert!(everywhere
        .iter()
        .all(|e| e.details.contains("\"partout\":true")));

    // Reactivated from the aidant's page.
    let again = post(
        &service,
        &admin,
        &on_aidant(&f.aidant_a, "/compte"),
        &[("actif", "1")],
    )
    .await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(active(&f.aidant_a));
    service.sign_in(&alex, &f.email_a, SEED_A).await;
}

on_both_backends!(accounts_are_deactivated_from_a_pasted_list);
