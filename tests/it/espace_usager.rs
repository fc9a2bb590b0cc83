//! The usager's own space over HTTP, through the FranceConnect simulator, on both backends: an
//! usager whose mandate was made through FranceConnect enters on their `sub`; one whose record
//! was made before confirms the record found on their identité pivot; a person no structure
//! knows is told so and signed out of FranceConnect; nobody sees another's mandates; the
//! space's session opens no aidant page and an aidant's opens no space; a refused or late
//! FranceConnect answer changes nothing; the sign-out ends FranceConnect's too. The usager
//! revokes a démarche and a whole mandate themselves (the aidants see it, the identity
//! provider refuses it, another person can do neither), reads their attestations, and chooses
//! to be told by e-mail of each mandate made or used.

use crate::back_office_aidants::entries;
use ac_tests::{
    csrf_token, on_both_backends, query_of, Backend, Browser, Page, TestService, SEED_A,
};
use chrono::Duration;
use diesel::prelude::*;
use store::schema::{attestations, autorisations, outbox, usager_sessions, usagers};

const HOME: &str = "/mon-espace/";
const FATOU: usize = 1;
const MARIE: usize = 2;
const LUCIEN: usize = 3;

/// The identité pivot of the simulator's person `index`.
fn pivot_of(index: usize) -> identity::IdentitePivot {
    let person = &fc_sim::idp::IDENTITIES[index];
    identity::IdentitePivot {
        given_name: person.given_name.into(),
        family_name: person.family_name.into(),
        preferred_username: person.preferred_username.into(),
        birthdate: identity::IdentitePivot::parse_birthdate(person.birthdate).unwrap(),
        gender: if person.gender == "male" {
            identity::Gender::Male
        } else {
            identity::Gender::Female
        },
        birthplace: person.birthplace.into(),
        birthcountry: person.birthcountry.into(),
        email: person.email.into(),
    }
}

/// From the space's welcome page to FranceConnect: the authorization URL.
async fn to_franceconnect(service: &TestService, browser: &Browser) -> String {
    let base = service.issuer();
    let welcome = browser.get(&format!("{base}{HOME}")).await;
    assert_eq!(welcome.status, 200);
    assert!(welcome.shows("mon-espace-accueil"), "{}", welcome.body);
    let sent = browser
        .post(
            &format!("{base}/mon-espace/connexion"),
            &[("csrf_token", &csrf_token(&welcome.body))],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    sent.location.unwrap()
}

/// Person `index` identifies at the simulator; the service's answer to FranceConnect's
/// redirect back.
async fn enter(service: &TestService, browser: &Browser, index: usize) -> Page {
    let authorize = to_franceconnect(service, browser).await;
    let back = service.identify_at_fc(browser, &authorize, index).await;
    assert_eq!(back.status, 302, "{}", back.body);
    browser.get(&back.location.unwrap()).await
}

async fn home(service: &TestService, browser: &Browser) -> Page {
    browser.get(&format!("{}{HOME}", service.issuer())).await
}

fn sessions(service: &TestService) -> i64 {
    usager_sessions::table
        .count()
        .get_result(&mut service.conn())
        .unwrap()
}

/// Fatou's mandate made through FranceConnect: she enters on her `sub` and sees it, then
/// signs out (FranceConnect's session too).
async fn an_usager_sees_her_mandates(service: &TestService) {
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    service
        .create_mandate(
            &aidant,
            &[("demarche", "argent"), ("duree", "SEMESTER")],
            FATOU,
        )
        .await;

    let fatou = Browser::new();
    let entered = enter(service, &fatou, FATOU).await;
    assert_eq!(entered.status, 303, "{}", entered.body);
    assert_eq!(entered.location.as_deref(), Some(HOME));
    let page = home(service, &fatou).await;
    assert!(page.shows("mon-espace"), "{}", page.body);
    assert!(page.body.contains("Bonjour Fatou DIALLO"));
    assert!(
        page.body.contains("<h2>CCAS de Test A</h2>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Mandat en cours, jusqu&#39;au"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Argent"), "{}", page.body);
    // Her session opens no aidant page.
    let espace_aidant = fatou
        .get(&format!("{}/espace-aidant", service.issuer()))
        .await;
    assert_eq!(espace_aidant.status, 303);
    assert!(espace_aidant.location.unwrap().starts_with("/connexion"));
    // The aidant's session opens no space: the welcome page.
    let other = home(service, &aidant).await;
    assert!(other.shows("mon-espace-accueil"));
    assert!(!other.body.contains("DIALLO"));
    let connected = entries(service, ::journal::Action::ConnectUsager);
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].chain, ::journal::NATIONAL_CHAIN);
    her_uses_are_listed_newest_first(service, &fatou).await;

    // Sign-out: the session ends here, then at FranceConnect, back to the welcome page.
    let out = fatou
        .post(
            &format!("{}/mon-espace/deconnexion", service.issuer()),
            &[("csrf_token", &csrf_token(&page.body))],
        )
        .await;
    assert_eq!(out.status, 303);
    let (url, after) = service.follow(&fatou, &out.location.unwrap()).await;
    assert!(url.ends_with("/mon-espace/?revoir=1"), "{url}");
    assert!(after.body.contains("Vous êtes déconnecté."));
    assert_eq!(sessions(service), 0);
    assert!(home(service, &fatou).await.shows("mon-espace-accueil"));
}

/// Each use of Fatou's mandate: the aidant's first name and initial, the structure, the
/// démarche, newest first, twenty a page.
async fn her_uses_are_listed_newest_first(service: &TestService, fatou: &Browser) {
    let f = &service.fixtures;
    let usager_id: store::UsagerId = usagers::table
        .filter(usagers::family_name.eq("DIALLO"))
        .select(usagers::id)
        .first(&mut service.conn())
        .unwrap();
    let none = fatou
        .get(&format!("{}/mon-espace/utilisations", service.issuer()))
        .await;
    assert!(none.shows("mon-espace-utilisations"));
    assert!(none.body.contains("id=\"aucune-utilisation\""));
    // Twenty-four earlier uses, then one through the identity provider, now.
    let start = service.clock_now() - Duration::days(30);
    let earlier: Vec<_> = (0..24)
        .map(|i| {
            (
                start + Duration::hours(i),
                ::journal::NewEntry {
                    chain: f.org_a.as_str(),
                    action: ::journal::Action::UseAutorisation,
                    aidant_id: Some(&f.aidant_a),
                    usager_id: Some(&usager_id),
                    organisation_id: Some(&f.org_a),
                    subject: "logement",
                    details: serde_json::json!({}),
                },
            )
        })
        .collect();
    store::write_transaction(&mut service.conn(), |tx| {
        ::journal::append_many(
            tx,
            &ring::rand::SystemRandom::new(),
            f.org_a.as_str(),
            &earlier,
        )
    })
    .unwrap();
    service.clock.advance(Duration::seconds(30));
    service
        .use_mandate(&usager_id, mandate::Demarche::Argent)
        .await;
    let first = fatou
        .get(&format!("{}/mon-espace/utilisations", service.issuer()))
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.matches("<li class=\"fr-mb-2w\">").count(), 20);
    let newest = first.body.find("Démarche : Argent").unwrap();
    assert!(newest < first.body.find("Démarche : Logement").unwrap());
    assert!(
        first.body.contains("Alex T., de CCAS de Test A"),
        "{}",
        first.body
    );
    assert!(first.body.contains("Page 1 sur 2"));
    let beyond = fatou
        .get(&format!(
            "{}/mon-espace/utilisations?page=99",
            service.issuer()
        ))
        .await;
    assert_eq!(beyond.body.matches("<li class=\"fr-mb-2w\">").count(), 5);
    assert!(beyond.body.contains("Page 2 sur 2"));
    // Her right of access, read by herself: the aidant named by first name and initial.
    let statement = fatou
        .get(&format!("{}/mon-espace/releve", service.issuer()))
        .await;
    assert_eq!(statement.status, 200);
    for text in [
        "Ce qu'Aidants Connect a enregistré sur Fatou DIALLO",
        "Connexion à votre espace",
        "Démarche réalisée par un aidant en votre nom",
        "Alex T.",
    ] {
        assert!(statement.body.contains(text), "{text}: {}", statement.body);
    }
    assert!(!statement.body.contains("Alex Test"));
    let json = fatou
        .get(&format!("{}/mon-espace/releve.json", service.issuer()))
        .await;
    assert_eq!(json.status, 200);
    assert!(json.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert!(body["nombre_d_entrees"].as_u64().unwrap() >= 27, "{body}");
    // Without her session: back to the space's welcome.
    for path in [
        "/mon-espace/utilisations",
        "/mon-espace/releve",
        "/mon-espace/releve.json",
    ] {
        let stranger = Browser::new()
            .get(&format!("{}{path}", service.issuer()))
            .await;
        assert_eq!(stranger.status, 303, "{path}");
        assert_eq!(stranger.location.as_deref(), Some(HOME));
    }
}

/// Lucien's record was made before FranceConnect: found on his pivot, he confirms; then his
/// `sub` is enough. Another browser cannot confirm in his place.
async fn an_older_record_is_confirmed_once(service: &TestService) {
    let lucien_record = service.usager_of_a(&pivot_of(LUCIEN), &[mandate::Demarche::Logement]);
    let lucien = Browser::new();
    let entered = enter(service, &lucien, LUCIEN).await;
    assert_eq!(entered.status, 303, "{}", entered.body);
    assert_eq!(
        entered.location.as_deref(),
        Some("/mon-espace/confirmation")
    );
    assert_eq!(sessions(service), 0, "nothing opens before he confirms");
    let intruder = Browser::new();
    let elsewhere = intruder
        .get(&format!("{}/mon-espace/confirmation", service.issuer()))
        .await;
    assert_eq!(elsewhere.status, 410);
    let page = lucien
        .get(&format!("{}/mon-espace/confirmation", service.issuer()))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.shows("mon-espace-confirmation"));
    assert!(page.body.contains("Lucien Jean PETIT"));
    assert!(page.body.contains("12/03/1947"), "{}", page.body);
    assert!(page.body.contains("Lille (59350)"), "{}", page.body);
    let confirmed = lucien
        .post(
            &format!("{}/mon-espace/confirmation", service.issuer()),
            &[("csrf_token", &csrf_token(&page.body))],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    let mine = home(service, &lucien).await;
    assert!(mine.body.contains("Bonjour Lucien Jean PETIT"));
    assert!(mine.body.contains("Logement"));
    assert!(!mine.body.contains("DIALLO"), "only his own records");
    let his_uses = lucien
        .get(&format!("{}/mon-espace/utilisations", service.issuer()))
        .await;
    assert!(
        his_uses.body.contains("id=\"aucune-utilisation\""),
        "none of Fatou's"
    );
    let his_statement = lucien
        .get(&format!("{}/mon-espace/releve", service.issuer()))
        .await;
    assert!(his_statement.body.contains("PETIT") && !his_statement.body.contains("DIALLO"));
    let sub: Option<String> = usagers::table
        .find(&lucien_record.id)
        .select(usagers::franceconnect_sub)
        .first(&mut service.conn())
        .unwrap();
    assert!(sub.is_some());
    let linked = entries(service, ::journal::Action::LinkUsagerFranceconnect);
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].usager_id.as_ref(), Some(&lucien_record.id));
    // Used once: confirming again does nothing.
    let again = lucien
        .post(
            &format!("{}/mon-espace/confirmation", service.issuer()),
            &[("csrf_token", &csrf_token(&page.body))],
        )
        .await;
    assert_eq!(again.status, 410);
    // Next time, his FranceConnect identity is enough.
    let later = Browser::new();
    let entered = enter(service, &later, LUCIEN).await;
    assert_eq!(entered.location.as_deref(), Some(HOME));
}

/// Marie has no record: told so, signed out of FranceConnect, no session; a refused and a
/// late answer of FranceConnect change nothing.
async fn strangers_and_failed_answers_see_nothing(service: &TestService) {
    let before = sessions(service);
    let marie = Browser::new();
    let entered = enter(service, &marie, MARIE).await;
    assert_eq!(entered.status, 303, "{}", entered.body);
    let (url, page) = service.follow(&marie, &entered.location.unwrap()).await;
    assert!(url.ends_with("/mon-espace/?inconnu=1"), "{url}");
    assert!(
        page.body
            .contains("Aucune structure n&#39;a de mandat à votre nom.")
            || page
                .body
                .contains("Aucune structure n'a de mandat à votre nom.")
    );
    assert!(!page.body.contains("DIALLO") && !page.body.contains("PETIT"));
    assert_eq!(sessions(service), before);

    // FranceConnect refuses (the person cancelled).
    let browser = Browser::new();
    let authorize = to_franceconnect(service, &browser).await;
    let state = query_of(&authorize)["state"].clone();
    let refused = browser
        .get(&format!(
            "{}/fc/callback?state={state}&error=access_denied",
            service.issuer()
        ))
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused
        .body
        .contains("Vous avez annulé la connexion avec FranceConnect."));
    // Too late: the sign-in waited more than ten minutes.
    let authorize = to_franceconnect(service, &browser).await;
    service.clock.advance(Duration::minutes(11));
    let back = service.identify_at_fc(&browser, &authorize, FATOU).await;
    let late = browser.get(&back.location.unwrap()).await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(late
        .body
        .contains("Cette connexion a expiré ou a déjà servi."));
    // Nor can another browser bring FranceConnect's answer to a sign-in it did not begin.
    let authorize = to_franceconnect(service, &browser).await;
    let back = service.identify_at_fc(&browser, &authorize, FATOU).await;
    let stolen = Browser::new().get(&back.location.unwrap()).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    assert_eq!(sessions(service), before);
}

/// The kinds of the messages waiting for `recipient`.
fn told(service: &TestService, recipient: &str) -> Vec<String> {
    outbox::table
        .filter(outbox::recipient.eq(recipient))
        .order(outbox::created_at)
        .select(outbox::kind)
        .load(&mut service.conn())
        .unwrap()
}

/// The usager of `browser` answers `recevoir` (« oui » or « non ») on the e-mails page.
async fn choose_emails(service: &TestService, browser: &Browser, recevoir: &str) -> Page {
    let url = format!("{}/mon-espace/e-mails", service.issuer());
    let page = browser.get(&url).await;
    browser
        .post(
            &url,
            &[
                ("csrf_token", &csrf_token(&page.body)),
                ("recevoir", recevoir),
            ],
        )
        .await
}

/// The aidant of structure A tries to use Fatou's mandate for `demarche` through the identity
/// provider: the status of their choice of the démarche.
async fn aidant_chooses(
    service: &TestService,
    usager_id: &store::UsagerId,
    demarche: &str,
) -> Page {
    let browser = Browser::new();
    let interaction = crate::refusals::logged_in_interaction(
        service,
        &browser,
        &service.fixtures.email_a,
        SEED_A,
    )
    .await;
    let chosen = browser
        .submit(
            service.issuer(),
            &interaction,
            "usager",
            &[("usager", usager_id.as_str())],
        )
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    browser
        .submit(
            service.issuer(),
            &interaction,
            "demarche",
            &[("demarche", demarche)],
        )
        .await
}

/// Fatou chooses to be told by e-mail, then revokes one démarche and a whole mandate herself;
/// Lucien can touch none of hers.
async fn an_usager_controls_her_mandates(service: &TestService) {
    let base = service.issuer().to_owned();
    let fatou_email = fc_sim::idp::IDENTITIES[FATOU].email;
    // Hers, newest first.
    let cancels = |service: &TestService| {
        let mut all: Vec<_> = entries(service, ::journal::Action::CancelAutorisation)
            .into_iter()
            .filter(|e| e.aidant_id.is_none())
            .collect();
        all.reverse();
        all
    };
    let cancelled_before = cancels(service).len();
    let fatou = Browser::new();
    assert_eq!(
        enter(service, &fatou, FATOU).await.location.as_deref(),
        Some(HOME)
    );
    // E-mails, off by default, at the address FranceConnect gave.
    let choice = fatou.get(&format!("{base}/mon-espace/e-mails")).await;
    assert!(choice.shows("mon-espace-e-mails"), "{}", choice.body);
    assert!(choice.body.contains("id=\"e-mails-inactifs\""));
    assert!(choice.body.contains(fatou_email), "{}", choice.body);
    let chosen = choose_emails(service, &fatou, "oui").await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    let saved = fatou
        .get(&format!("{base}{}", chosen.location.unwrap()))
        .await;
    assert!(saved.body.contains("id=\"choix-enregistre\""));
    assert!(saved.body.contains("id=\"e-mails-actifs\""));
    assert_eq!(entries(service, ::journal::Action::NotifyUsager).len(), 1);
    // Once FranceConnect gives another address, she may move the e-mails to it.
    diesel::update(usagers::table.filter(usagers::family_name.eq("DIALLO")))
        .set(usagers::notify_email.eq(Some("ancienne@exemple.fr")))
        .execute(&mut service.conn())
        .unwrap();
    let moving = fatou.get(&format!("{base}/mon-espace/e-mails")).await;
    assert!(
        moving.body.contains("id=\"nouvelle-adresse\""),
        "{}",
        moving.body
    );
    let moved = choose_emails(service, &fatou, "oui").await;
    assert_eq!(moved.status, 303);
    let now_to: Option<String> = usagers::table
        .filter(usagers::family_name.eq("DIALLO"))
        .select(usagers::notify_email)
        .first(&mut service.conn())
        .unwrap();
    assert_eq!(now_to.as_deref(), Some(fatou_email));
    let same = fatou.get(&format!("{base}/mon-espace/e-mails")).await;
    assert!(!same.body.contains("id=\"nouvelle-adresse\""));
    assert_eq!(entries(service, ::journal::Action::NotifyUsager).len(), 2);
    // A new mandate made for her, then used: an e-mail each time.
    let aidant = Browser::new();
    service
        .sign_in(&aidant, &service.fixtures.email_a, SEED_A)
        .await;
    service
        .create_mandate(
            &aidant,
            &[
                ("demarche", "logement"),
                ("demarche", "famille"),
                ("duree", "SEMESTER"),
            ],
            FATOU,
        )
        .await;
    let usager_id: store::UsagerId = usagers::table
        .filter(usagers::family_name.eq("DIALLO"))
        .select(usagers::id)
        .first(&mut service.conn())
        .unwrap();
    service
        .use_mandate(&usager_id, mandate::Demarche::Logement)
        .await;
    assert_eq!(told(service, fatou_email), ["mandate_made", "mandate_used"]);

    // She revokes « Logement »: a confirmation page, then it is done.
    let page = home(service, &fatou).await;
    let autorisation_id: String = autorisations::table
        .inner_join(store::schema::mandates::table)
        .filter(store::schema::mandates::usager_id.eq(&usager_id))
        .filter(autorisations::demarche.eq("logement"))
        .select(autorisations::id)
        .first(&mut service.conn())
        .unwrap();
    let revoke = format!("/mon-espace/demarches/{autorisation_id}/annuler");
    assert!(page.body.contains(&revoke), "{}", page.body);
    let confirm = fatou.get(&format!("{base}{revoke}")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.shows("mon-espace-annuler"));
    assert!(confirm
        .body
        .contains("Voulez-vous annuler cette démarche ?"));
    assert!(
        confirm.body.contains("<li>Logement</li>"),
        "{}",
        confirm.body
    );
    // Lucien, in his own space, can neither see nor revoke it.
    let lucien = Browser::new();
    assert_eq!(
        enter(service, &lucien, LUCIEN).await.location.as_deref(),
        Some(HOME)
    );
    let his = home(service, &lucien).await;
    assert_eq!(lucien.get(&format!("{base}{revoke}")).await.status, 404);
    let attempt = lucien
        .post(
            &format!("{base}{revoke}"),
            &[("csrf_token", &csrf_token(&his.body))],
        )
        .await;
    assert_eq!(attempt.status, 404);
    assert_eq!(cancels(service).len(), cancelled_before);
    let done = fatou
        .post(
            &format!("{base}{revoke}"),
            &[("csrf_token", &csrf_token(&confirm.body))],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = fatou
        .get(&format!("{base}{}", done.location.unwrap()))
        .await;
    assert!(
        after.body.contains("id=\"demarche-annulee\""),
        "{}",
        after.body
    );
    assert!(after
        .body
        .contains("ne peuvent plus faire « Logement » pour vous"));
    assert!(!after.body.contains(&revoke), "no longer offered");
    let cancelled = cancels(service);
    assert_eq!(cancelled.len(), cancelled_before + 1);
    assert_eq!(cancelled[0].chain, service.fixtures.org_a.as_str());
    assert_eq!(cancelled[0].aidant_id, None);
    assert!(cancelled[0].details.contains("\"par\":\"usager\""));
    // Revoked for good: the identity provider refuses it, the aidants see who revoked it.
    let refused = aidant_chooses(service, &usager_id, "logement").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let aidant_page = aidant
        .get(&format!("{base}/espace-aidant/usagers/{usager_id}"))
        .await;
    assert!(
        aidant_page
            .body
            .contains("par l&#39;usager, depuis son espace")
            || aidant_page.body.contains("par l'usager, depuis son espace"),
        "{}",
        aidant_page.body
    );
    let again = fatou
        .post(
            &format!("{base}{revoke}"),
            &[("csrf_token", &csrf_token(&confirm.body))],
        )
        .await;
    assert_eq!(again.status, 303);
    assert_eq!(cancels(service).len(), cancelled_before + 1);

    // The whole mandate (« Famille » left): its revocation attestation, produced for her.
    let mandate_id: String = store::schema::autorisations::table
        .find(&autorisation_id)
        .select(autorisations::mandate_id)
        .first(&mut service.conn())
        .unwrap();
    let whole = format!("/mon-espace/mandats/{mandate_id}/annuler");
    assert_eq!(lucien.get(&format!("{base}{whole}")).await.status, 404);
    let confirm = fatou.get(&format!("{base}{whole}")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Voulez-vous annuler ce mandat ?"));
    assert!(
        confirm.body.contains("<li>Famille</li>") && !confirm.body.contains("<li>Logement</li>")
    );
    let done = fatou
        .post(
            &format!("{base}{whole}"),
            &[("csrf_token", &csrf_token(&confirm.body))],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.unwrap();
    assert!(
        location.starts_with("/mon-espace/attestations/"),
        "{location}"
    );
    let attestation = fatou.get(&format!("{base}{location}")).await;
    assert_eq!(attestation.status, 200);
    for text in [
        "Attestation de révocation de mandat",
        "id=\"mandat-annule\"",
        "Lieu de naissance : Sénégal (99341)",
        "par l&#39;usager lui-même",
    ] {
        assert!(
            attestation.body.contains(text)
                || attestation.body.contains(&text.replace("&#39;", "'")),
            "{text}: {}",
            attestation.body
        );
    }
    let attestation_id = location
        .trim_start_matches("/mon-espace/attestations/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (author, fingerprint): (Option<String>, String) = attestations::table
        .find(&attestation_id)
        .select((attestations::created_by, attestations::fingerprint))
        .first(&mut service.conn())
        .unwrap();
    assert_eq!(author, None, "produced at the usager's request");
    assert_eq!(
        lucien
            .get(&format!("{base}/mon-espace/attestations/{attestation_id}"))
            .await
            .status,
        404
    );
    // Genuine on the public verification page; the aidants read it too.
    let verify = crate::back_office_mandates::verify_url(service, &attestation_id, &fingerprint);
    assert!(attestation.body.contains(&fingerprint));
    let verified = Browser::new().get(&verify).await;
    assert!(verified.body.contains("authentique"), "{}", verified.body);
    let read = aidant
        .get(&format!("{base}/attestations/{attestation_id}"))
        .await;
    assert_eq!(read.status, 200);
    assert!(read.body.contains("lui-même"));
    let mine = home(service, &fatou).await;
    assert!(mine.body.contains("Mandat annulé"), "{}", mine.body);
    assert!(mine.body.contains("Famille : annulée"));
    assert!(!mine.body.contains(&whole), "no longer offered");
    let refused = aidant_chooses(service, &usager_id, "famille").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let by_usager = |service: &TestService| {
        entries(service, ::journal::Action::CancelMandat)
            .into_iter()
            .filter(|e| e.aidant_id.is_none() && e.details.contains("\"par\":\"usager\""))
            .count()
    };
    assert_eq!(by_usager(service), 1);
    assert_eq!(
        cancels(service).len(),
        cancelled_before + 2,
        "« Famille » too"
    );
    // Revoking it again changes nothing: the same attestation.
    let again = fatou
        .post(
            &format!("{base}{whole}"),
            &[("csrf_token", &csrf_token(&confirm.body))],
        )
        .await;
    assert_eq!(again.location.as_deref(), Some(location.as_str()));
    assert_eq!(by_usager(service), 1);

    // No more e-mails once she says so.
    let stopped = choose_emails(service, &fatou, "non").await;
    assert_eq!(stopped.status, 303);
    service
        .use_mandate(&usager_id, mandate::Demarche::Argent)
        .await;
    assert_eq!(told(service, fatou_email).len(), 2);
    assert_eq!(entries(service, ::journal::Action::NotifyUsager).len(), 3);
}

async fn the_usager_space(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    an_usager_sees_her_mandates(&service).await;
    an_older_record_is_confirmed_once(&service).await;
    strangers_and_failed_answers_see_nothing(&service).await;
    an_usager_controls_her_mandates(&service).await;
}

on_both_backends!(the_usager_space);
