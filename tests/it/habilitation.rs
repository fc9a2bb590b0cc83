//! The habilitation journey over HTTP, on both backends: an issuer with no account confirms
//! their address through a single-use signed link, files a request step by step (each refused
//! field explained, nothing typed lost), submits it; the national team asks for changes, the
//! issuer resubmits, the team validates — and the structure, its référent and its aidants to
//! train exist, in one transaction, journaled, with their e-mails. Every state change that is
//! not allowed is refused, and an issuer never sees another's request.

use crate::back_office_aidants::{entries, post};
use crate::staff::{auditor_signed_in, support_signed_in, trainer_signed_in};
use ac_tests::{on_both_backends, Backend, Browser, Page, TestService};
use chrono::Duration;
use diesel::prelude::*;
use store::schema::outbox;

const ISSUER: &str = "ines.demandeuse@mairie-plouzane.fr";
const SIRET: &str = "21290019700014";

/// The (kind, payload) of the messages waiting for `recipient`, oldest first.
pub(crate) fn mail_to(service: &TestService, recipient: &str) -> Vec<(String, serde_json::Value)> {
    outbox::table
        .filter(outbox::recipient.eq(recipient))
        .order(outbox::created_at)
        .select((outbox::kind, outbox::payload))
        .load::<(String, String)>(&mut service.conn())
        .unwrap()
        .into_iter()
        .map(|(k, p)| (k, serde_json::from_str(&p).unwrap()))
        .collect()
}

fn kinds_to(service: &TestService, recipient: &str) -> Vec<String> {
    mail_to(service, recipient)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Posts `fields` to `path` with the CSRF token of the page at `from`.
async fn send(
    service: &TestService,
    browser: &Browser,
    from: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    browser
        .post_from(service.issuer(), from, path, fields)
        .await
}

async fn get(service: &TestService, browser: &Browser, path: &str) -> Page {
    browser.get(&format!("{}{path}", service.issuer())).await
}

/// An issuer's space opened through the link e-mailed to `email`.
async fn issuer_signed_in(service: &TestService, email: &str, first_name: &str) -> Browser {
    let browser = Browser::new();
    let sent = send(
        service,
        &browser,
        "/habilitation",
        "/habilitation/demandeur",
        &[
            ("first_name", first_name),
            ("last_name", "Demandeuse"),
            ("email", email),
            ("phone", "02 98 00 00 00"),
            ("profession", "Directrice générale des services"),
        ],
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let link = service.issuer_link(email);
    let opened = send(service, &browser, &link, &link, &[]).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    browser
}

/// Bad input is explained field by field and kept; the link is single-use and signed; the
/// space needs it.
async fn the_issuer_confirms_their_address_by_a_single_use_link(service: &TestService) -> Browser {
    let browser = Browser::new();
    let home = get(service, &browser, "/habilitation").await;
    assert!(home.shows("habilitation"), "{}", home.body);
    let refused = send(
        service,
        &browser,
        "/habilitation",
        "/habilitation/demandeur",
        &[
            ("first_name", "Inès"),
            ("last_name", ""),
            ("email", "ines@"),
            ("phone", "12"),
            ("profession", "DGS"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422);
    for message in [
        "Saisissez le nom.",
        "Saisissez une adresse électronique valide",
        "Saisissez un numéro de téléphone valide",
    ] {
        assert!(
            refused.body.contains(message),
            "{message}: {}",
            refused.body
        );
    }
    assert!(refused.body.contains("value=\"Inès\""), "typed name kept");
    assert!(refused.body.contains("value=\"DGS\""));
    assert!(kinds_to(service, "ines@").is_empty());

    let shared = send(
        service,
        &browser,
        "/habilitation",
        "/habilitation/demandeur",
        &[
            ("first_name", "Inès"),
            ("last_name", "Demandeuse"),
            ("email", "accueil@mairie-plouzane.fr"),
            ("phone", "0298000000"),
            ("profession", "DGS"),
        ],
    )
    .await;
    assert_eq!(shared.status, 422);
    assert!(shared.body.contains("semble partagée"), "{}", shared.body);

    let closed = get(service, &browser, "/habilitation/demandes").await;
    assert_eq!(closed.status, 303);
    let browser = issuer_signed_in(service, ISSUER, "Inès").await;
    let (_, first) = &mail_to(service, ISSUER)[0];
    assert_eq!(first["issuer_link"]["first"], true);
    let space = get(service, &browser, "/habilitation/demandes").await;
    assert!(space.shows("habilitation-demandes"), "{}", space.body);
    assert!(space.body.contains("Inès Demandeuse"));
    let used = service.issuer_link(ISSUER);
    assert_eq!(get(service, &Browser::new(), &used).await.status, 404);
    let forged = format!("{}0", service.issuer_link(ISSUER));
    assert_eq!(get(service, &Browser::new(), &forged).await.status, 404);
    // The sign-in is journaled once, the used and forged links opening nothing.
    let signed_in = crate::back_office_aidants::entries(service, ::journal::Action::ConnectIssuer);
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0].chain, ::journal::NATIONAL_CHAIN);
    assert_eq!(signed_in[0].details, r#"{"adresse_confirmee":true}"#);

    // Asking again for a known or an unknown address answers alike; only the known one is sent.
    let asked = |email: &'static str| {
        let b = Browser::new();
        async move {
            send(
                service,
                &b,
                "/habilitation",
                "/habilitation/retrouver",
                &[("find_email", email)],
            )
            .await
        }
    };
    let known = asked(ISSUER).await;
    let unknown = asked("personne@exemple.fr").await;
    assert_eq!((known.status, unknown.status), (200, 200));
    assert_eq!(
        known.body.replace(ISSUER, "X"),
        unknown.body.replace("personne@exemple.fr", "X")
    );
    assert!(kinds_to(service, "personne@exemple.fr").is_empty());
    let (_, again) = mail_to(service, ISSUER).pop().unwrap();
    assert_eq!(again["issuer_link"]["first"], false);
    browser
}

/// SIRET, structure, référent and aidants: each step refused field by field, then saved.
async fn the_issuer_fills_the_request_step_by_step(
    service: &TestService,
    ines: &Browser,
) -> String {
    let space = "/habilitation/demandes";
    let luhn = send(service, ines, space, space, &[("siret", "21290019700015")]).await;
    assert_eq!(luhn.status, 422);
    assert!(
        luhn.body.contains("SIRET n&#39;est pas valide"),
        "{}",
        luhn.body
    );
    assert!(luhn.body.contains("value=\"21290019700015\""));
    let other = send(service, ines, space, space, &[("siret", "13002526500013")]).await;
    assert_eq!(other.status, 303, "a SIRET nobody has: {}", other.body);
    let started = send(
        service,
        ines,
        space,
        space,
        &[("siret", "212 900 197 00014")],
    )
    .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let step = started.location.unwrap();
    let id = step
        .trim_start_matches("/habilitation/demandes/")
        .trim_end_matches("/structure")
        .to_owned();
    let twice = send(service, ines, space, space, &[("siret", SIRET)]).await;
    assert_eq!(twice.status, 422);
    assert!(twice.body.contains("déjà en cours"), "{}", twice.body);

    let structure = format!("{space}/{id}/structure");
    let mut fields = vec![
        ("name", "Mairie de Plouzané"),
        ("kind", "Municipalités"),
        ("private", "non"),
        ("address", "1 place de la Mairie"),
        ("zipcode", "292"),
        ("city", "Plouzané"),
        ("mission", "Accueil des habitants, aide aux démarches."),
        ("weekly_volume", "25"),
    ];
    let refused = send(service, ines, &structure, &structure, &fields).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("code postal de 5 chiffres"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Cochez au moins une des démarches"));
    assert!(
        refused.body.contains("value=\"Mairie de Plouzané\""),
        "kept"
    );
    assert!(refused
        .body
        .contains("Accueil des habitants, aide aux démarches."));
    fields[4] = ("zipcode", "29280");
    fields.extend([("demarche", "social"), ("demarche", "argent")]);
    let saved = send(service, ines, &structure, &structure, &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location.unwrap(), format!("{space}/{id}/referent"));

    let referent = format!("{space}/{id}/referent");
    let person = |email: &'static str| {
        vec![
            ("first_name", "Rémi"),
            ("last_name", "Référent"),
            ("email", email),
            ("phone", "0298000001"),
            ("profession", "Responsable de l'accueil"),
            ("also_aidant", "1"),
        ]
    };
    let shared = send(
        service,
        ines,
        &referent,
        &referent,
        &person("mairie@plouzane.fr"),
    )
    .await;
    assert_eq!(shared.status, 422);
    assert!(shared.body.contains("semble partagée"));
    let saved = send(
        service,
        ines,
        &referent,
        &referent,
        &person("remi.referent@plouzane.fr"),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    let aidants = format!("{space}/{id}/aidants");
    let aidant = |first: &'static str, email: &'static str| {
        vec![
            ("first_name", first),
            ("last_name", "Aidante"),
            ("email", email),
            ("phone", ""),
            ("profession", "Agent d'accueil"),
        ]
    };
    let same = send(
        service,
        ines,
        &aidants,
        &aidants,
        &aidant("Rémi", "remi.referent@plouzane.fr"),
    )
    .await;
    assert_eq!(same.status, 422);
    assert!(
        same.body.contains("C&#39;est l&#39;adresse du référent"),
        "{}",
        same.body
    );
    for (first, email) in [("Anna", "anna@plouzane.fr"), ("Bob", "bob@plouzane.fr")] {
        let added = send(service, ines, &aidants, &aidants, &aidant(first, email)).await;
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let twice = send(
        service,
        ines,
        &aidants,
        &aidants,
        &aidant("Anna", "anna@plouzane.fr"),
    )
    .await;
    assert_eq!(twice.status, 422);
    assert!(twice.body.contains("déjà dans la liste"));
    let listed = people(service, &id);
    assert_eq!(listed.len(), 3, "{listed:?}");
    let id_of = |email: &str| listed.iter().find(|p| p.2 == email).unwrap().0.clone();
    let (anna, bob) = (id_of("anna@plouzane.fr"), id_of("bob@plouzane.fr"));
    let edit = format!("{aidants}/{anna}");
    let edited = send(
        service,
        ines,
        &edit,
        &edit,
        &aidant("Anna", "anna.aidante@plouzane.fr"),
    )
    .await;
    assert_eq!(edited.status, 303, "{}", edited.body);
    let removed = send(
        service,
        ines,
        &aidants,
        &format!("{aidants}/{bob}/retirer"),
        &[],
    )
    .await;
    assert_eq!(removed.status, 303);
    let mut listed: Vec<(String, String, bool)> = people(service, &id)
        .into_iter()
        .map(|(_, role, email, also)| (role, email, also))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("aidant".into(), "anna.aidante@plouzane.fr".into(), false),
            ("referent".into(), "remi.referent@plouzane.fr".into(), true),
        ]
    );
    id
}

/// The people of request `id`: (id, role, email, also_aidant), in the order they were given.
fn people(service: &TestService, id: &str) -> Vec<(String, String, String, bool)> {
    use store::schema::habilitation_people as p;
    p::table
        .filter(p::request_id.eq(id))
        .order(p::created_at)
        .select((p::id, p::role, p::email, p::also_aidant))
        .load(&mut service.conn())
        .unwrap()
}

/// The status of request `id`.
fn status(service: &TestService, id: &str) -> String {
    use store::schema::habilitation_requests as r;
    r::table
        .find(id)
        .select(r::status)
        .first(&mut service.conn())
        .unwrap()
}

/// Submitting needs every commitment; then the request awaits, with a reference, and can no
/// longer be changed; the issuer and the team are told.
async fn the_issuer_submits_with_the_commitments(service: &TestService, ines: &Browser, id: &str) {
    let page = format!("/habilitation/demandes/{id}");
    let submit = format!("{page}/soumettre");
    let refused = send(service, ines, &page, &submit, &[("cgu", "1")]).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("3 champs sont à corriger"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("id=\"cgu\" name=\"cgu\" value=\"1\" checked"),
        "ticked box kept"
    );
    assert_eq!(status(service, id), "draft");
    let all = [
        ("professionals_only", "1"),
        ("free_training", "1"),
        ("dpo_informed", "1"),
        ("cgu", "1"),
    ];
    let done = send(service, ines, &page, &submit, &all).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(status(service, id), "awaiting");
    let shown = get(service, ines, &format!("{page}?soumise=1")).await;
    assert!(
        shown.body.contains("en attente de validation"),
        "{}",
        shown.body
    );
    let reference = reference(service, id);
    assert!(reference.starts_with("HAB-"), "{reference}");
    assert!(shown.body.contains(&reference));
    assert!(kinds_to(service, ISSUER).contains(&"habilitation_submitted".to_owned()));
    assert_eq!(
        kinds_to(service, &service.config.email.national_team),
        ["habilitation_to_review"]
    );
    let locked = format!("{page}/structure");
    assert_eq!(get(service, ines, &locked).await.status, 409);
    let late = send(
        service,
        ines,
        &page,
        &format!("{page}/aidants"),
        &[
            ("first_name", "Zoé"),
            ("last_name", "Tard"),
            ("email", "zoe@plouzane.fr"),
            ("profession", "Agent"),
        ],
    )
    .await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert_eq!(people(service, id).len(), 2);
}

fn reference(service: &TestService, id: &str) -> String {
    use store::schema::habilitation_requests as r;
    r::table
        .find(id)
        .select(r::reference)
        .first::<Option<String>>(&mut service.conn())
        .unwrap()
        .unwrap()
}

/// The team asks for changes (a message is required), the issuer is told, changes the
/// request, writes back and resubmits under the same reference.
async fn changes_are_asked_and_made(
    service: &TestService,
    team: &Browser,
    ines: &Browser,
    id: &str,
) {
    let queue = get(service, team, "/administration/habilitations").await;
    assert!(
        queue.shows("administration-habilitations"),
        "{}",
        queue.body
    );
    assert!(queue.body.contains(&reference(service, id)));
    assert!(queue.body.contains("Mairie de Plouzané"));
    let page = format!("/administration/habilitations/{id}");
    let decision = format!("{page}/decision");
    let silent = post(
        service,
        team,
        &decision,
        &[("decision", "changes_required"), ("decision_body", " ")],
    )
    .await;
    assert_eq!(silent.status, 422);
    assert!(
        silent.body.contains("modifications attendues"),
        "{}",
        silent.body
    );
    let asked = post(
        service,
        team,
        &decision,
        &[
            ("decision", "changes_required"),
            (
                "decision_body",
                "Merci d'ajouter le numéro de téléphone de la mairie.",
            ),
        ],
    )
    .await;
    assert_eq!(asked.status, 303, "{}", asked.body);
    assert_eq!(status(service, id), "changes_required");
    let (kind, told) = mail_to(service, ISSUER).pop().unwrap();
    assert_eq!(kind, "habilitation_decided");
    assert_eq!(told["habilitation_decided"]["decision"], "changes_required");
    let mine = get(service, ines, &format!("/habilitation/demandes/{id}")).await;
    assert!(
        mine.body
            .contains("Merci d&#39;ajouter le numéro de téléphone de la mairie."),
        "{}",
        mine.body
    );
    assert!(mine.body.contains("modifications demandées"));

    let structure = format!("/habilitation/demandes/{id}/structure");
    let edit = get(service, ines, &structure).await;
    assert_eq!(edit.status, 200, "editable again: {}", edit.body);
    assert!(
        edit.body.contains("value=\"Mairie de Plouzané\""),
        "the saved step is shown"
    );
    let message = format!("/habilitation/demandes/{id}/messages");
    let written = send(
        service,
        ines,
        &format!("/habilitation/demandes/{id}"),
        &message,
        &[("body", "C'est fait : 02 98 00 00 00.")],
    )
    .await;
    assert_eq!(written.status, 303, "{}", written.body);
    assert_eq!(
        kinds_to(service, &service.config.email.national_team),
        ["habilitation_to_review", "habilitation_message"]
    );
    let all = [
        ("professionals_only", "1"),
        ("free_training", "1"),
        ("dpo_informed", "1"),
        ("cgu", "1"),
    ];
    let page = format!("/habilitation/demandes/{id}");
    let again = send(service, ines, &page, &format!("{page}/soumettre"), &all).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(status(service, id), "awaiting");
    let (_, back) = mail_to(service, &service.config.email.national_team)
        .pop()
        .unwrap();
    assert_eq!(back["habilitation_to_review"]["again"], true);
}

/// Validation creates the structure, its référent (active) and aidants to train (pending),
/// journaled with the member's id, and tells the issuer and the référent; what follows a
/// decision is refused.
async fn the_team_validates(service: &TestService, team: &Browser, id: &str) {
    let auditor = auditor_signed_in(service).await;
    let decision = format!("/administration/habilitations/{id}/decision");
    let forbidden = post(service, &auditor, &decision, &[("decision", "validated")]).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(status(service, id), "awaiting");

    let validated = post(
        service,
        team,
        &decision,
        &[("decision", "validated"), ("decision_body", "")],
    )
    .await;
    assert_eq!(validated.status, 303, "{}", validated.body);
    assert_eq!(status(service, id), "validated");
    let organisation = accounts::organisation_by_siret(&mut service.conn(), SIRET)
        .unwrap()
        .expect("the structure exists");
    assert!(organisation.is_habilitated());
    assert_eq!(organisation.kind, "Municipalités");
    let members = accounts::members(&mut service.conn(), &organisation.id).unwrap();
    let seen: Vec<(String, accounts::Role, bool)> = members
        .iter()
        .map(|m| (m.aidant.email.clone(), m.role, m.aidant.active))
        .collect();
    assert!(
        seen.contains(&(
            "remi.referent@plouzane.fr".into(),
            accounts::Role::Referent,
            true
        )),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(
            "anna.aidante@plouzane.fr".into(),
            accounts::Role::Aidant,
            false
        )),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 2);
    let to_train: i64 = store::schema::trainees::table
        .filter(store::schema::trainees::organisation_id.eq(&organisation.id))
        .count()
        .get_result(&mut service.conn())
        .unwrap();
    assert_eq!(to_train, 2, "Anna, and Rémi who will also be an aidant");
    // Rémi manages the structure at once, and acts for usagers once trained.
    let remi = accounts::find_aidant_by_email(&mut service.conn(), "remi.referent@plouzane.fr")
        .unwrap()
        .unwrap();
    assert!(remi.active && !remi.acts_for_usagers);
    let (kind, welcome) = mail_to(service, "remi.referent@plouzane.fr").pop().unwrap();
    assert_eq!(kind, "structure_habilitated");
    assert_eq!(
        welcome["structure_habilitated"]["aidants"],
        serde_json::json!(["Rémi Référent", "Anna Aidante"])
    );
    assert_eq!(
        mail_to(service, ISSUER).pop().unwrap().1["habilitation_decided"]["decision"],
        "validated"
    );
    let created = entries(service, journal::Action::CreateOrganisation);
    let entry = created
        .iter()
        .find(|e| e.subject == SIRET)
        .expect("journaled");
    assert_eq!(entry.chain, journal::NATIONAL_CHAIN);
    assert!(entry.details.contains("\"staff\""), "{}", entry.details);
    let reviews = entries(service, journal::Action::ReviewHabilitationRequest);
    assert_eq!(reviews.len(), 2, "changes asked, then validated");
    assert!(reviews.iter().all(|e| e.subject == id));
    let page = get(
        service,
        team,
        &format!("/administration/habilitations/{id}"),
    )
    .await;
    assert!(page
        .body
        .contains(&format!("/administration/structures/{}", organisation.id)));

    for (to, word) in [
        ("refused", "refusée"),
        ("closed", "clôturée"),
        ("validated", "validée"),
    ] {
        let refused = post(service, team, &decision, &[("decision", to)]).await;
        assert_eq!(refused.status, 422, "{to}");
        assert!(
            refused
                .body
                .contains(&format!("une demande validée ne peut pas être {word}")),
            "{}",
            refused.body
        );
    }
    assert_eq!(
        accounts::members(&mut service.conn(), &organisation.id)
            .unwrap()
            .len(),
        2
    );

    // After her training, the team activates Anna: the public statistics count the structure
    // and the aidant habilitated this month.
    let activated = post(
        service,
        team,
        &format!("/administration/structures/{}/activer", organisation.id),
        &[("email", "anna.aidante@plouzane.fr")],
    )
    .await;
    assert_eq!(activated.status, 303, "{}", activated.body);
    let month = ::journal::stats::monthly(&mut service.conn(), service.clock_now(), 1).unwrap();
    assert_eq!(
        (month[0].organisations, month[0].habilitated_aidants),
        (1, 1)
    );
}

async fn a_structure_is_habilitated_from_its_online_request(backend: Backend) {
    let service = TestService::start(backend);
    let ines = the_issuer_confirms_their_address_by_a_single_use_link(&service).await;
    let id = the_issuer_fills_the_request_step_by_step(&service, &ines).await;
    the_issuer_submits_with_the_commitments(&service, &ines, &id).await;
    let team = support_signed_in(&service).await;
    changes_are_asked_and_made(&service, &team, &ines, &id).await;
    the_team_validates(&service, &team, &id).await;

    // Another issuer sees none of it.
    let other = issuer_signed_in(&service, "olga.autre@asso-brest.fr", "Olga").await;
    let theirs = get(&service, &other, &format!("/habilitation/demandes/{id}")).await;
    assert_eq!(theirs.status, 404);
    let list = get(&service, &other, "/habilitation/demandes").await;
    assert!(!list.body.contains("Plouzané"), "{}", list.body);
    let steal = send(
        &service,
        &other,
        "/habilitation/demandes",
        &format!("/habilitation/demandes/{id}/messages"),
        &[("body", "coucou")],
    )
    .await;
    assert_eq!(steal.status, 404);
}

on_both_backends!(a_structure_is_habilitated_from_its_online_request);

/// A refused request cannot be validated; links and sessions expire; validation that cannot
/// create everything creates nothing.
async fn refusals_expiry_and_an_all_or_nothing_validation(backend: Backend) {
    let service = TestService::start(backend);
    let team = support_signed_in(&service).await;
    let ines = issuer_signed_in(&service, ISSUER, "Inès").await;
    let id = filled_and_submitted(&service, &ines, SIRET).await;
    let second = filled_and_submitted(&service, &ines, "13002526500013").await;

    // Someone creates a structure with the first SIRET meanwhile: its validation is refused
    // and writes nothing.
    let created = post(
        &service,
        &team,
        "/administration/structures",
        &[
            ("name", "Doublon"),
            ("siret", SIRET),
            ("address", "1 rue"),
            ("zipcode", "29280"),
            ("city", "Plouzané"),
            ("kind", "Mairie"),
        ],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let decision = format!("/administration/habilitations/{id}/decision");
    let refused = post(&service, &team, &decision, &[("decision", "validated")]).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("une structure a déjà le SIRET"),
        "{}",
        refused.body
    );
    assert_eq!(status(&service, &id), "awaiting");
    assert!(
        accounts::find_aidant_by_email(&mut service.conn(), "remi.referent@plouzane.fr")
            .unwrap()
            .is_none()
    );

    let refuse = post(
        &service,
        &team,
        &decision,
        &[
            ("decision", "refused"),
            ("decision_body", "Structure déjà habilitée."),
        ],
    )
    .await;
    assert_eq!(refuse.status, 303);
    let validate = post(&service, &team, &decision, &[("decision", "validated")]).await;
    assert_eq!(validate.status, 422);
    assert!(
        validate
            .body
            .contains("une demande refusée ne peut pas être validée"),
        "{}",
        validate.body
    );
    assert_eq!(status(&service, &id), "refused");
    let edit = get(
        &service,
        &ines,
        &format!("/habilitation/demandes/{id}/structure"),
    )
    .await;
    assert_eq!(edit.status, 409);
    // A refused request no longer blocks its SIRET… but the structure that exists does.
    let again = send(
        &service,
        &ines,
        "/habilitation/demandes",
        "/habilitation/demandes",
        &[("siret", SIRET)],
    )
    .await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("Doublon"), "{}", again.body);

    // The second one can be closed, not asked for changes once closed.
    let close = format!("/administration/habilitations/{second}/decision");
    assert_eq!(
        post(&service, &team, &close, &[("decision", "closed")])
            .await
            .status,
        303
    );
    let late = post(
        &service,
        &team,
        &close,
        &[("decision", "changes_required"), ("decision_body", "?")],
    )
    .await;
    assert_eq!(late.status, 422);

    // The session ends after an hour idle; a link after a day.
    service.clock.advance(Duration::minutes(61));
    assert_eq!(
        get(&service, &ines, "/habilitation/demandes").await.status,
        303
    );
    let asked = send(
        &service,
        &Browser::new(),
        "/habilitation",
        "/habilitation/retrouver",
        &[("find_email", ISSUER)],
    )
    .await;
    assert_eq!(asked.status, 200);
    let link = service.issuer_link(ISSUER);
    service.clock.advance(Duration::hours(25));
    assert_eq!(get(&service, &Browser::new(), &link).await.status, 404);
    // The upkeep deletes the dead links and sessions.
    let purged = service.upkeep().purged.issuer_links;
    assert!(purged >= 3, "two links and a session: {purged}");
    assert_eq!(service.upkeep().purged.issuer_links, 0);
}

/// A request filled and submitted by the signed-in issuer for `siret`; its id.
async fn filled_and_submitted(service: &TestService, ines: &Browser, siret: &str) -> String {
    let space = "/habilitation/demandes";
    let started = send(service, ines, space, space, &[("siret", siret)]).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let id = started
        .location
        .unwrap()
        .trim_start_matches("/habilitation/demandes/")
        .trim_end_matches("/structure")
        .to_owned();
    let structure = format!("{space}/{id}/structure");
    let saved = send(
        service,
        ines,
        &structure,
        &structure,
        &[
            ("name", "Mairie de Plouzané"),
            ("kind", "Autre"),
            ("kind_other", "Mairie annexe"),
            ("private", "non"),
            ("address", "1 place de la Mairie"),
            ("zipcode", "29280"),
            ("city", "Plouzané"),
            ("mission", "Accueil."),
            ("weekly_volume", "5"),
            ("demarche", "papiers"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let referent = format!("{space}/{id}/referent");
    let saved = send(
        service,
        ines,
        &referent,
        &referent,
        &[
            ("first_name", "Rémi"),
            ("last_name", "Référent"),
            ("email", "remi.referent@plouzane.fr"),
            ("phone", "0298000001"),
            ("profession", "Responsable"),
            ("also_aidant", "1"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let page = format!("{space}/{id}");
    let done = send(
        service,
        ines,
        &page,
        &format!("{page}/soumettre"),
        &[
            ("professionals_only", "1"),
            ("free_training", "1"),
            ("dpo_informed", "1"),
            ("cgu", "1"),
        ],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    id
}

on_both_backends!(refusals_expiry_and_an_all_or_nothing_validation);

/// The référent's role changes hands: a co-référent's role is taken off (never the last
/// working référent's), and a leaving référent hands the role over to a working member in one
/// transaction (refused, nothing written, to a deactivated one).
async fn a_leaving_referent_hands_over_the_role(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let rita = Browser::new();
    service
        .sign_in(&rita, &f.email_referent_a, ac_tests::SEED_R)
        .await;
    let alex = format!("/espace-referent/aidants/{}", f.aidant_a);
    let own = format!("/espace-referent/aidants/{}", f.referent_a);
    let act = |page: &str, action: &str| {
        let (page, path) = (page.to_owned(), format!("{page}/{action}"));
        let (rita, base) = (&rita, base.clone());
        async move { rita.post_from(&base, &page, &path, &[]).await }
    };
    let role = |aidant: &store::AidantId| {
        accounts::member(&mut service.conn(), &f.org_a, aidant)
            .unwrap()
            .unwrap()
            .role
    };

    let last = act(&own, "retirer-referent").await;
    assert_eq!(last.status, 422);
    assert!(
        last.body.contains("garder au moins un référent"),
        "{}",
        last.body
    );
    assert_eq!(act(&alex, "referent").await.status, 303);
    let removed = act(&alex, "retirer-referent").await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(role(&f.aidant_a), accounts::Role::Aidant);
    let journaled = journal::chain_entries(&mut service.conn(), f.org_a.as_str()).unwrap();
    assert!(journaled.iter().any(|e| e.action == "remove_referent"));

    assert_eq!(act(&alex, "desactiver").await.status, 303);
    let refused = act(&alex, "transmettre").await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("garder au moins un référent"));
    assert_eq!(
        (role(&f.aidant_a), role(&f.referent_a)),
        (accounts::Role::Aidant, accounts::Role::Referent),
        "nothing written"
    );
    assert_eq!(act(&alex, "reactiver").await.status, 303);
    let handed = act(&alex, "transmettre").await;
    assert_eq!(handed.status, 303, "{}", handed.body);
    assert_eq!(
        (role(&f.aidant_a), role(&f.referent_a)),
        (accounts::Role::Referent, accounts::Role::Aidant)
    );
    assert!(kinds_to(&service, &f.email_a).contains(&"made_referent".to_owned()));
    let espace = rita.get(&format!("{base}/espace-referent")).await;
    assert_ne!(espace.status, 200, "Rita is no longer a référent");
}

on_both_backends!(a_leaving_referent_hands_over_the_role);

/// Keeps `browser`'s back-office session alive while the clock moves `minutes` ahead.
pub(crate) async fn time_passes(service: &TestService, team: &Browser, minutes: i64) {
    for _ in 0..(minutes + 9) / 10 {
        service.clock.advance(Duration::minutes(10));
        let home = get(service, team, "/administration/").await;
        assert_eq!(home.status, 200, "the team's session lives");
    }
}

/// The training: the team publishes a session (in the future, with seats), the référent
/// registers an aidant to train (refused when full), the team records attendance once the
/// session began, imports Pix results (all rows or none), and the aidant who attended and
/// passed is activated and welcomed; the public statistics count them.
async fn aidants_to_train_are_registered_trained_and_activated(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    let team = support_signed_in(&service).await;
    let list = "/administration/formations";
    let later = paris::local(service.clock_now() + Duration::hours(1));
    let (day, time) = (
        later.format("%Y-%m-%d").to_string(),
        later.format("%H:%M").to_string(),
    );
    let refused = post(
        &service,
        &team,
        list,
        &[
            ("date", "2026-01-01"),
            ("time", "09:30"),
            ("place", ""),
            ("organiser", "Pix Formation"),
            ("seats", "0"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422);
    for message in ["dans le futur", "cochez « En ligne »", "entre 1 et 500"] {
        assert!(
            refused.body.contains(message),
            "{message}: {}",
            refused.body
        );
    }
    assert!(refused.body.contains("value=\"Pix Formation\""), "kept");
    let created = post(
        &service,
        &team,
        list,
        &[
            ("date", &day),
            ("time", &time),
            ("place", ""),
            ("online", "1"),
            ("organiser", "Pix Formation"),
            ("seats", "1"),
        ],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let session_page = created.location.unwrap();
    let session_id = session_page.rsplit('/').next().unwrap().to_owned();

    let rita = Browser::new();
    service
        .sign_in(&rita, &service.fixtures.email_referent_a, ac_tests::SEED_R)
        .await;
    for (email, first) in [
        ("tom.forme@ccas-test.fr", "Tom"),
        ("zoe.forme@ccas-test.fr", "Zoé"),
    ] {
        let added = rita
            .post_from(
                &base,
                "/espace-referent",
                "/espace-referent/aidants/nouveau",
                &[
                    ("email", email),
                    ("first_name", first),
                    ("last_name", "Formé"),
                    ("profession", "Agent"),
                ],
            )
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
        let id: String = store::schema::aidant_requests::table
            .filter(store::schema::aidant_requests::email.eq(email))
            .select(store::schema::aidant_requests::id)
            .first(&mut service.conn())
            .unwrap();
        let decision = format!("/administration/demandes-aidants/{id}/decision");
        let validated = post(&service, &team, &decision, &[("decision", "valider")]).await;
        assert_eq!(validated.status, 303, "{}", validated.body);
    }
    let id_of = |email: &str| {
        accounts::find_aidant_by_email(&mut service.conn(), email)
            .unwrap()
            .unwrap()
            .id
    };
    let (tom, zoe) = (
        id_of("tom.forme@ccas-test.fr"),
        id_of("zoe.forme@ccas-test.fr"),
    );
    let trainings = "/espace-referent/formations";
    let page = rita.get(&format!("{base}{trainings}")).await;
    assert!(page.shows("referent-formations"), "{}", page.body);
    assert!(
        page.body
            .contains("Tom Formé</strong> : pas encore inscrit"),
        "{}",
        page.body
    );
    let register = |aidant: &store::AidantId| {
        let form = [
            ("aidant", aidant.as_str().to_owned()),
            ("session", session_id.clone()),
        ];
        let (rita, base) = (&rita, base.clone());
        async move {
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            // From a page opened before the session filled up.
            rita.post_from(&base, "/espace-referent", trainings, &fields)
                .await
        }
    };
    assert_eq!(register(&tom).await.status, 303);
    let (kind, told) = mail_to(&service, "tom.forme@ccas-test.fr").pop().unwrap();
    assert_eq!(kind, "training_registered");
    assert_eq!(told["training_registered"]["place"], "En ligne");
    let full = register(&zoe).await;
    assert_eq!(full.status, 422);
    assert!(full.body.contains("complète"), "{}", full.body);
    let early = post(
        &service,
        &team,
        &format!("{session_page}/presences"),
        &[("present", tom.as_str())],
    )
    .await;
    assert_eq!(early.status, 422);
    assert!(early.body.contains("pas encore eu lieu"), "{}", early.body);

    time_passes(&service, &team, 70).await;
    let recorded = post(
        &service,
        &team,
        &format!("{session_page}/presences"),
        &[("present", tom.as_str())],
    )
    .await;
    assert_eq!(recorded.status, 303, "{}", recorded.body);
    assert!(
        !accounts::aidant(&mut service.conn(), &tom)
            .unwrap()
            .unwrap()
            .active,
        "no Pix yet"
    );

    let bad = post(&service, &team, "/administration/formations/pix", &[(
        "pix", "email;resultat\ntom.forme@ccas-test.fr;réussi\ninconnu@exemple.fr;réussi\nzoe.forme@ccas-test.fr;peut-être",
    )]).await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body
            .contains("Aucun résultat importé : 2 ligne(s) refusée(s)"),
        "{}",
        bad.body
    );
    assert!(
        bad.body
            .contains("Ligne 3 : aucun aidant n&#39;a l&#39;adresse inconnu@exemple.fr"),
        "{}",
        bad.body
    );
    let stored: i64 = store::schema::pix_results::table
        .count()
        .get_result(&mut service.conn())
        .unwrap();
    assert_eq!(stored, 0, "all rows or none");
    let good = post(
        &service,
        &team,
        "/administration/formations/pix",
        &[(
            "pix",
            "tom.forme@ccas-test.fr;réussi\nzoe.forme@ccas-test.fr;échoué",
        )],
    )
    .await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert!(
        good.body
            .contains("2 résultat(s) enregistré(s) ; 1 compte(s) activé(s)."),
        "{}",
        good.body
    );
    assert!(
        accounts::aidant(&mut service.conn(), &tom)
            .unwrap()
            .unwrap()
            .active
    );
    assert!(
        !accounts::aidant(&mut service.conn(), &zoe)
            .unwrap()
            .unwrap()
            .active
    );
    assert!(kinds_to(&service, "tom.forme@ccas-test.fr").contains(&"welcome".to_owned()));
    for action in [
        journal::Action::CreateTrainingSession,
        journal::Action::RecordAttendance,
        journal::Action::ImportPixResults,
    ] {
        assert_eq!(entries(&service, action).len(), 1, "{action:?}");
    }
    let registered = entries(&service, journal::Action::RegisterTraining);
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].chain, service.fixtures.org_a.as_str());
    let month = ::journal::stats::monthly(&mut service.conn(), service.clock_now(), 1).unwrap();
    assert_eq!(month[0].habilitated_aidants, 1);
}

on_both_backends!(aidants_to_train_are_registered_trained_and_activated);

/// Lists `aidant` of organisation A to train (as a validated request lists its people).
pub(crate) fn to_train_again(service: &TestService, aidant: &store::AidantId) {
    diesel::insert_into(store::schema::trainees::table)
        .values((
            store::schema::trainees::aidant_id.eq(aidant),
            store::schema::trainees::organisation_id.eq(&service.fixtures.org_a),
            store::schema::trainees::created_at.eq(service.clock_now()),
        ))
        .execute(&mut service.conn())
        .unwrap();
}

/// A session in an hour, online, published by `team`, on which Rita (signed in `rita`)
/// registers `aidant`; returns the session's page.
pub(crate) async fn session_with(
    service: &TestService,
    team: &Browser,
    rita: &Browser,
    aidant: &store::AidantId,
) -> String {
    let later = paris::local(service.clock_now() + Duration::hours(1));
    let created = post(
        service,
        team,
        "/administration/formations",
        &[
            ("date", &later.format("%Y-%m-%d").to_string()),
            ("time", &later.format("%H:%M").to_string()),
            ("place", ""),
            ("online", "1"),
            ("organiser", "Pix Formation"),
            ("seats", "3"),
        ],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let session_page = created.location.unwrap();
    let session_id = session_page.rsplit('/').next().unwrap().to_owned();
    let registered = rita
        .post_from(
            service.issuer(),
            "/espace-referent/formations",
            "/espace-referent/formations",
            &[("aidant", aidant.as_str()), ("session", &session_id)],
        )
        .await;
    assert_eq!(registered.status, 303, "{}", registered.body);
    session_page
}

/// A training body's member sees the training pages only: records the attendance of a
/// session that began and imports Pix results (journaled with their id), publishes nothing,
/// and every other page of the back office refuses them.
async fn a_training_body_records_attendance_and_pix_only(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let team = support_signed_in(&service).await;
    // Alex is to train again (as a validated request lists its people).
    to_train_again(&service, &f.aidant_a);
    let rita = Browser::new();
    service
        .sign_in(&rita, &f.email_referent_a, ac_tests::SEED_R)
        .await;
    let session_page = session_with(&service, &team, &rita, &f.aidant_a).await;
    time_passes(&service, &team, 70).await;

    let theo = trainer_signed_in(&service).await;
    let home = get(&service, &theo, "/administration/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location.as_deref(), Some("/administration/formations"));
    for path in [
        "/administration/aidants",
        "/administration/structures",
        "/administration/journal",
        "/administration/exports",
        "/administration/habilitations",
        "/administration/demandes-aidants",
        "/administration/equipe",
    ] {
        let page = get(&service, &theo, path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(
            page.body.contains("Page réservée à l&#39;équipe nationale"),
            "{path}"
        );
    }
    let list = get(&service, &theo, "/administration/formations").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("id=\"pix\""));
    assert!(!list.body.contains("id=\"publier\""));
    let publish = theo
        .post_from(
            &base,
            "/administration/formations",
            "/administration/formations",
            &[("date", "2030-01-01"), ("time", "09:00"), ("online", "1")],
        )
        .await;
    assert_eq!(publish.status, 403);
    let present = theo
        .post_from(
            &base,
            &session_page,
            &format!("{session_page}/presences"),
            &[("present", f.aidant_a.as_str())],
        )
        .await;
    assert_eq!(present.status, 303, "{}", present.body);
    let pix = theo
        .post_from(
            &base,
            "/administration/formations",
            "/administration/formations/pix",
            &[("pix", &format!("{};réussi", f.email_a))],
        )
        .await;
    assert_eq!(pix.status, 200, "{}", pix.body);
    assert!(
        pix.body.contains("1 résultat(s) enregistré(s)"),
        "{}",
        pix.body
    );
    let theo_id: String = store::schema::staff::table
        .filter(store::schema::staff::email.eq("theo.formateur@pix-formation.fr"))
        .select(store::schema::staff::id)
        .first(&mut service.conn())
        .unwrap();
    for action in [
        journal::Action::RecordAttendance,
        journal::Action::ImportPixResults,
    ] {
        let entry = entries(&service, action).pop().unwrap();
        assert!(
            entry.details.contains(&theo_id),
            "{action:?}: {}",
            entry.details
        );
    }
}

on_both_backends!(a_training_body_records_attendance_and_pix_only);
