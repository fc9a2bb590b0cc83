//! A habilitated structure's requests for aidants, over HTTP on both backends: its référent asks
//! the national team for a new aidant to train or for an aidant of another structure (each
//! refused field explained, nothing typed lost, a request awaiting not asked twice); the team
//! refuses with a reason or validates — the new aidant's account pending activation and listed
//! to train, the arriving aidant a member, leaving their structure when asked (never its last
//! référent) — and the référent is told by e-mail. A decided request cannot be decided again,
//! an auditor reads but decides nothing, a plain aidant sees nothing. Until the team decides,
//! the structure's référent may withdraw a request (another structure's may not).

use crate::back_office_aidants::{entries, post};
use crate::habilitation::mail_to;
use crate::staff::{auditor_signed_in, support_signed_in};
use ac_tests::{on_both_backends, Backend, Browser, Page, TestService, SEED_A, SEED_B, SEED_R};
use aidants_connect::admin;
use diesel::prelude::*;
use ring::rand::SystemRandom;
use store::schema::aidant_requests;

const NEW_PAGE: &str = "/espace-referent/aidants/nouveau";
const REQUESTS: &str = "/espace-referent/demandes";
const QUEUE: &str = "/administration/demandes-aidants";
const NORA: &str = "nora.petit@ccas-test.fr";
const LEA: &str = "lea.durand@ccas-b.fr";

fn requests_stored(service: &TestService) -> i64 {
    aidant_requests::table
        .count()
        .get_result(&mut service.conn())
        .unwrap()
}

/// The id of the request for `email`, newest.
fn request_id(service: &TestService, email: &str) -> String {
    aidant_requests::table
        .filter(aidant_requests::email.eq(email))
        .order(aidant_requests::created_at.desc())
        .select(aidant_requests::id)
        .first(&mut service.conn())
        .unwrap()
}

async fn ask(service: &TestService, rita: &Browser, fields: &[(&str, &str)]) -> Page {
    rita.post_from(service.issuer(), NEW_PAGE, NEW_PAGE, fields)
        .await
}

fn person<'a>(email: &'a str, first: &'a str, last: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("first_name", first),
        ("last_name", last),
        ("email", email),
        ("profession", "Conseillère numérique"),
    ]
}

async fn decide(
    service: &TestService,
    team: &Browser,
    id: &str,
    decision: &str,
    reason: &str,
) -> Page {
    post(
        service,
        team,
        &format!("{QUEUE}/{id}/decision"),
        &[("decision", decision), ("reason", reason)],
    )
    .await
}

fn membership(
    service: &TestService,
    email: &str,
    organisation: &store::OrganisationId,
) -> Option<accounts::Member> {
    let aidant = accounts::find_aidant_by_email(&mut service.conn(), email)
        .unwrap()
        .unwrap();
    accounts::member(&mut service.conn(), organisation, &aidant.id).unwrap()
}

/// The body of A's trainings page, as Rita sees it.
async fn trainings_of_a(service: &TestService, rita: &Browser) -> String {
    let page = rita
        .get(&format!("{}/espace-referent/formations", service.issuer()))
        .await;
    assert_eq!(page.status, 200);
    page.body
}

/// Rita, référent of A: refusals field by field, then a new aidant and two of B's asked for.
async fn the_referent_asks(service: &TestService, rita: &Browser) {
    let f = &service.fixtures;
    let form = rita.get(&format!("{}{NEW_PAGE}", service.issuer())).await;
    assert_eq!(form.status, 200);
    assert!(form.shows("referent-nouvel-aidant"));

    // A malformed address and a missing name: both told, what was typed kept, nothing stored.
    let refused = ask(
        service,
        rita,
        &[
            ("first_name", "Nora"),
            ("last_name", " "),
            ("email", "nora.petit@"),
            ("profession", "Conseillère numérique"),
            ("phone", "02 98 00 00 01"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("Saisissez le nom."),
        "{}",
        refused.body
    );
    assert!(refused
        .body
        .contains("Saisissez une adresse électronique valide"));
    assert!(refused.body.contains("value=\"nora.petit@\""));
    assert!(refused.body.contains("value=\"02 98 00 00 01\""));
    // An address shared by a reception desk is refused too.
    let shared = ask(
        service,
        rita,
        &person("accueil@ccas-test.fr", "Nora", "Petit"),
    )
    .await;
    assert_eq!(shared.status, 422);
    assert!(shared.body.contains("semble partagée"));
    // One who already works in A.
    let member = ask(service, rita, &person(&f.email_a, "Alice", "Aidante")).await;
    assert_eq!(member.status, 422);
    assert!(member.body.contains("fait déjà partie de votre structure"));
    assert_eq!(requests_stored(service), 0);

    let sent = ask(service, rita, &person(NORA, "Nora", "Petit")).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(
        sent.location.as_deref(),
        Some("/espace-referent/demandes?envoyee=1")
    );
    let again = ask(
        service,
        rita,
        &person(" Nora.Petit@ccas-test.fr ", "Nora", "Petit"),
    )
    .await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("attend déjà la décision"));

    // Léa works in B, which she leaves; B's référent joins A and stays in B.
    let mut leaving = person(LEA, "Léa", "Durand");
    leaving.push(("leaves", "1"));
    assert_eq!(ask(service, rita, &leaving).await.status, 303);
    let mut staying = person(&f.email_b, "Bruno", "Référent");
    staying.push(("leaves", "1"));
    assert_eq!(ask(service, rita, &staying).await.status, 303);
    assert_eq!(requests_stored(service), 3);

    let list = rita
        .get(&format!("{}{REQUESTS}?envoyee=1", service.issuer()))
        .await;
    assert_eq!(list.status, 200);
    assert!(list.shows("referent-demandes"));
    assert!(list
        .body
        .contains("Demande envoyée à l'équipe Aidants Connect"));
    assert_eq!(list.body.matches("en attente de validation").count(), 3);
    assert!(list.body.contains("Nouvel aidant à former"));
    assert_eq!(
        list.body
            .matches("Arrivée d&#39;un aidant d&#39;une autre structure")
            .count(),
        2
    );

    let team_mail = mail_to(service, "equipe-nationale@aidantsconnect.beta.gouv.fr");
    let to_review: Vec<_> = team_mail
        .iter()
        .filter(|(k, _)| k == "aidant_to_review")
        .collect();
    assert_eq!(to_review.len(), 3, "{team_mail:?}");
    assert_eq!(to_review[0].1["aidant_to_review"]["moving"], false);
    let asked = entries(service, ::journal::Action::RequestAidant);
    assert_eq!(asked.len(), 3);
    assert!(asked
        .iter()
        .all(|e| e.chain == f.org_a.as_str() && e.aidant_id.as_ref() == Some(&f.referent_a)));
}

/// An auditor reads the queue and a request but cannot decide; a plain aidant of A sees no
/// request page.
async fn only_the_team_decides(service: &TestService) {
    let base = service.issuer();
    let auditor = auditor_signed_in(service).await;
    let queue = auditor.get(&format!("{base}{QUEUE}")).await;
    assert_eq!(queue.status, 200);
    assert!(queue.shows("administration-demandes-aidants"));
    assert!(queue.body.contains("Nora Petit"));
    let id = request_id(service, NORA);
    let page = auditor.get(&format!("{base}{QUEUE}/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/decision"));
    let forbidden = post(
        service,
        &auditor,
        &format!("{QUEUE}/{id}/decision"),
        &[("decision", "valider")],
    )
    .await;
    assert_eq!(forbidden.status, 403);

    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    assert_eq!(aidant.get(&format!("{base}{REQUESTS}")).await.status, 403);
    assert!(accounts::find_aidant_by_email(&mut service.conn(), NORA)
        .unwrap()
        .is_none());
}

async fn referent_and_team_agree(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    admin::create_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        &admin::AidantInput {
            email: LEA.into(),
            first_name: "Léa".into(),
            last_name: "Durand".into(),
            profession: "Agent".into(),
            phone: String::new(),
            siret: "22222222200022".into(),
            referent: false,
        },
    )
    .unwrap();
    let rita = Browser::new();
    service.sign_in(&rita, &f.email_referent_a, SEED_R).await;
    the_referent_asks(&service, &rita).await;
    only_the_team_decides(&service).await;

    let team = support_signed_in(&service).await;
    let nora = request_id(&service, NORA);
    // A refusal needs its reason; the choice is kept.
    let page = decide(&service, &team, &nora, "refuser", "  ").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Expliquez au référent pourquoi"));
    assert!(page.body.contains("value=\"refuser\" checked"));
    let page = decide(&service, &team, &nora, "", "").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Choisissez une décision."));
    let page = decide(
        &service,
        &team,
        &nora,
        "refuser",
        "Mme Petit est bénévole : seuls les salariés peuvent être aidants.",
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    // Decided: it cannot be decided again.
    let page = decide(&service, &team, &nora, "valider", "").await;
    assert_eq!(page.status, 422);
    assert!(page
        .body
        .contains("une demande refusée ne peut pas être validée"));
    assert!(accounts::find_aidant_by_email(&mut service.conn(), NORA)
        .unwrap()
        .is_none());
    let told = mail_to(&service, &f.email_referent_a);
    let (kind, decided) = told.last().unwrap();
    assert_eq!(kind, "aidant_request_decided");
    assert_eq!(decided["aidant_request_decided"]["validated"], false);
    assert_eq!(
        decided["aidant_request_decided"]["reason"],
        "Mme Petit est bénévole : seuls les salariés peuvent être aidants."
    );
    let list = rita.get(&format!("{base}{REQUESTS}")).await;
    assert!(list
        .body
        .contains("Message de l'équipe : Mme Petit est bénévole"));

    // Asked again once refused, then validated: her account waits for her training.
    assert_eq!(
        ask(&service, &rita, &person(NORA, "Nora", "Petit"))
            .await
            .status,
        303
    );
    let nora = request_id(&service, NORA);
    assert_eq!(
        decide(&service, &team, &nora, "valider", "").await.status,
        303
    );
    let member = membership(&service, NORA, &f.org_a).unwrap();
    assert!(member.active && !member.aidant.active && member.role == accounts::Role::Aidant);
    assert!(trainings_of_a(&service, &rita)
        .await
        .contains("<strong>Nora Petit</strong>"));
    let page = team.get(&format!("{base}{QUEUE}/{nora}")).await;
    assert!(page.body.contains("validée"));
    assert!(!page.body.contains("/decision\""));

    // B's référent cannot leave B, its last référent: refused with the reason, nothing moved.
    let bruno = request_id(&service, &f.email_b);
    let page = decide(&service, &team, &bruno, "valider", "").await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        page.body
            .contains("dernier référent en activité de la structure"),
        "{}",
        page.body
    );
    assert!(membership(&service, &f.email_b, &f.org_a).is_none());
    assert!(membership(&service, &f.email_b, &f.org_b).unwrap().active);

    // Léa joins A and leaves B, in one decision.
    let lea = request_id(&service, LEA);
    let page = team.get(&format!("{base}{QUEUE}/{lea}")).await;
    assert!(page
        .body
        .contains("Aidant d&#39;une autre structure, qui la quitte"));
    assert!(page.body.contains("id=\"structures-actuelles\""));
    assert_eq!(
        decide(&service, &team, &lea, "valider", "").await.status,
        303
    );
    // Still pending her training (made so by the command line), she is to train for A too.
    let joined = membership(&service, LEA, &f.org_a).unwrap();
    assert!(joined.active && !joined.aidant.active);
    assert!(trainings_of_a(&service, &rita)
        .await
        .contains("<strong>Léa Durand</strong>"));
    assert!(!membership(&service, LEA, &f.org_b).unwrap().active);
    let reviewed = entries(&service, ::journal::Action::ReviewAidantRequest);
    assert_eq!(reviewed.len(), 3);
    assert!(reviewed.iter().all(|e| e.chain == ::journal::NATIONAL_CHAIN
        && e.organisation_id.as_ref() == Some(&f.org_a)
        && e.details.contains("\"staff\":")));
    let decided: Vec<_> = mail_to(&service, &f.email_referent_a)
        .into_iter()
        .filter(|(k, _)| k == "aidant_request_decided")
        .collect();
    assert_eq!(decided.len(), 3);
    assert_eq!(decided[2].1["aidant_request_decided"]["moving"], true);
    let queue = team.get(&format!("{base}{QUEUE}")).await;
    assert!(queue.body.contains("Bruno Référent"));
    assert!(!queue.body.contains("Léa Durand"));
}

/// Rita withdraws her request for Nora before the team decides: closed, journaled on A's
/// chain, out of the team's queue (in « clôturée »), Nora may be asked for again; Bruno, B's
/// référent, cannot withdraw it; a decided request cannot be withdrawn.
async fn the_referent_withdraws_a_request(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let rita = Browser::new();
    service.sign_in(&rita, &f.email_referent_a, SEED_R).await;
    assert_eq!(
        ask(&service, &rita, &person(NORA, "Nora", "Petit"))
            .await
            .status,
        303
    );
    let nora = request_id(&service, NORA);
    let withdraw = format!("{REQUESTS}/{nora}/retirer");
    let list = rita.get(&format!("{base}{REQUESTS}")).await;
    assert!(list.body.contains(&format!("action=\"{withdraw}\"")));
    assert!(list.body.contains("Retirer la demande pour Nora Petit"));
    let status = |service: &TestService, id: &str| -> String {
        aidant_requests::table
            .find(id)
            .select(aidant_requests::status)
            .first(&mut service.conn())
            .unwrap()
    };

    let bruno = Browser::new();
    service.sign_in(&bruno, &f.email_b, SEED_B).await;
    let refused = bruno
        .post_from(&base, "/espace-referent", &withdraw, &[])
        .await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(status(&service, &nora), "awaiting");

    let done = rita
        .post_from(&base, "/espace-referent", &withdraw, &[])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/espace-referent/demandes?retiree=1")
    );
    assert_eq!(status(&service, &nora), "closed");
    let journaled = entries(&service, ::journal::Action::WithdrawAidantRequest);
    assert_eq!(journaled.len(), 1);
    assert_eq!(journaled[0].chain, f.org_a.as_str());
    assert_eq!(journaled[0].aidant_id.as_ref(), Some(&f.referent_a));
    assert_eq!(journaled[0].subject, nora);
    let list = rita.get(&format!("{base}{REQUESTS}?retiree=1")).await;
    assert!(list.body.contains("Demande retirée"));
    assert!(list.body.contains(">retirée</p>"), "{}", list.body);
    assert!(!list.body.contains(&withdraw));
    let again = rita
        .post_from(&base, "/espace-referent", &withdraw, &[])
        .await;
    assert_eq!(
        again.location.as_deref(),
        Some("/espace-referent/demandes?decidee=1")
    );
    assert_eq!(
        entries(&service, ::journal::Action::WithdrawAidantRequest).len(),
        1
    );

    let team = support_signed_in(&service).await;
    assert!(!team
        .get(&format!("{base}{QUEUE}"))
        .await
        .body
        .contains("Nora Petit"));
    assert!(team
        .get(&format!("{base}{QUEUE}?statut=closed"))
        .await
        .body
        .contains("Nora Petit"));
    // Asked again, validated: no longer to withdraw.
    assert_eq!(
        ask(&service, &rita, &person(NORA, "Nora", "Petit"))
            .await
            .status,
        303
    );
    let second = request_id(&service, NORA);
    assert_eq!(
        decide(&service, &team, &second, "valider", "").await.status,
        303
    );
    let late = rita
        .post_from(
            &base,
            "/espace-referent",
            &format!("{REQUESTS}/{second}/retirer"),
            &[],
        )
        .await;
    assert_eq!(
        late.location.as_deref(),
        Some("/espace-referent/demandes?decidee=1")
    );
    assert_eq!(status(&service, &second), "validated");
}

on_both_backends!(referent_and_team_agree, the_referent_withdraws_a_request);
