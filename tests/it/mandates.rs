//! Creating mandates as an aidant and an usager do it together: the wizard, FranceConnect (the
//! simulator's identity-provider role), the recap, the attestation and its verification, the
//! espace aidant, revocation, renewal, remote consent by SMS, and every way FranceConnect can
//! fail — then the mandate used (or refused) through the identity-provider flow.

use ac_tests::{
    csrf_token, on_both_backends, Backend, Browser, TestService, SEED_A, SEED_B, SMS_WEBHOOK_TOKEN,
};
use chrono::Duration;
use diesel::prelude::*;
use journal::Action;
use mandate::Demarche;
use store::{MandateId, UsagerId};

const FATOU: usize = 1;
const MARIE: usize = 2;
const LUCIEN: usize = 3;

fn counts(service: &TestService) -> (i64, i64, i64, i64) {
    use store::schema::{attestations, autorisations, mandates, usagers};
    let mut conn = service.conn();
    (
        usagers::table.count().get_result(&mut conn).unwrap(),
        mandates::table.count().get_result(&mut conn).unwrap(),
        autorisations::table.count().get_result(&mut conn).unwrap(),
        attestations::table.count().get_result(&mut conn).unwrap(),
    )
}

fn usager_by_family_name(service: &TestService, family_name: &str) -> mandate::Usager {
    use store::schema::usagers;
    usagers::table
        .filter(usagers::family_name.eq(family_name))
        .filter(usagers::franceconnect_sub.is_not_null())
        .select(mandate::Usager::as_select())
        .first(&mut service.conn())
        .unwrap()
}

pub(crate) fn span(body: &str, id: &str) -> String {
    let marker = format!(" id=\"{id}\"");
    body.split(&marker)
        .nth(1)
        .unwrap()
        .split_once('>')
        .unwrap()
        .1
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

/// Uses a mandate through fc-sim's administrative site: returns the last page (the identity
/// the site received, or the refusal).
async fn use_through_simulator(
    service: &TestService,
    browser: &Browser,
    usager_id: &UsagerId,
    demarche: &str,
) -> ac_tests::Page {
    let sim = service.sim_base();
    let base = service.issuer();
    let to_ac = browser.get(&format!("{sim}/connexion")).await;
    let interaction = browser.authorize(&to_ac.location.unwrap()).await;
    let chosen = browser
        .submit(
            base,
            &interaction,
            "usager",
            &[("usager", usager_id.as_str())],
        )
        .await;
    if chosen.status != 303 {
        return chosen;
    }
    let back = browser
        .submit(base, &interaction, "demarche", &[("demarche", demarche)])
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    browser.get(&back.location.unwrap()).await
}

/// A mandate made with the usager present through FranceConnect, used by an administrative
/// site, revoked from the espace aidant; its paper attestation still verifies.
async fn mandate_created_used_then_revoked(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let browser = Browser::new();
    let attestation = a_mandate_is_made_with_the_usager_present(&service, &browser).await;
    let usager = usager_by_family_name(&service, "DIALLO");
    the_mandate_is_used_through_franceconnect(&service, &browser, &usager).await;
    it_is_revoked_from_the_espace_aidant(&service, &browser, &usager).await;
    let refused = use_through_simulator(&service, &browser, &usager.id, "argent").await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("pas de mandat actif"));
    the_paper_attestation_says_it_is_revoked(&browser, &attestation).await;
}

/// The wizard, FranceConnect, the recap (nothing written before it), the attestation and the
/// journal; answers the attestation page.
async fn a_mandate_is_made_with_the_usager_present(
    service: &TestService,
    browser: &Browser,
) -> ac_tests::Page {
    let before = counts(service);
    service
        .sign_in(browser, &service.fixtures.email_a, SEED_A)
        .await;
    let recap = service
        .identify_usager(
            browser,
            &[
                ("demarche", "argent"),
                ("demarche", "logement"),
                ("duree", "MONTH"),
                ("mode", "present"),
            ],
            FATOU,
        )
        .await;
    assert_eq!(
        counts(service),
        before,
        "nothing is written before the recap is confirmed"
    );
    let shown = browser.get(&recap).await;
    assert!(
        shown.body.contains(r#"<td id="family_name">DIALLO</td>"#),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Sénégal (99341)"), "{}", shown.body);
    assert!(shown.body.contains("Argent") && shown.body.contains("Logement"));
    assert_eq!(
        service.sim.as_ref().unwrap().logouts().len(),
        1,
        "the usager's FranceConnect session is closed before the recap"
    );
    let done = service.confirm_recap(browser, &recap).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let attestation_url = format!("{}{}", service.issuer(), done.location.unwrap());
    let attestation = browser.get(&attestation_url).await;
    assert_eq!(attestation.status, 200, "{}", attestation.body);
    assert!(attestation.body.contains("Attestation de mandat"));
    assert!(attestation.body.contains("Fatou"));
    assert!(attestation.body.contains("CCAS de Test A"));
    assert!(
        attestation.body.contains("data:image/svg+xml;base64,"),
        "QR code"
    );
    let usager = usager_by_family_name(service, "DIALLO");
    assert_eq!(
        counts(service),
        (before.0 + 1, before.1 + 1, before.2 + 2, before.3 + 1)
    );
    let mut conn = service.conn();
    for action in [Action::FranceconnectUsager, Action::CreateAttestation] {
        let entries = journal::entries_by_action(&mut conn, action).unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.usager_id.as_ref() == Some(&usager.id)),
            "{action:?}"
        );
    }
    assert_eq!(
        journal::verify_chain(&mut conn, service.fixtures.org_a.as_str()).unwrap(),
        None
    );
    attestation
}

/// FranceConnect → Aidants Connect: the site receives the usager's identity.
async fn the_mandate_is_used_through_franceconnect(
    service: &TestService,
    browser: &Browser,
    usager: &mandate::Usager,
) {
    let received = use_through_simulator(service, browser, &usager.id, "argent").await;
    assert_eq!(received.status, 200, "{}", received.body);
    assert!(
        received
            .body
            .contains(r#"<td id="family_name">DIALLO</td>"#),
        "{}",
        received.body
    );
    assert!(received
        .body
        .contains(r#"<td id="birthcountry">99341</td>"#));
    assert!(received.body.contains(r#"<td id="birthplace"></td>"#));
}

/// The confirmation, then the revocation attestation.
async fn it_is_revoked_from_the_espace_aidant(
    service: &TestService,
    browser: &Browser,
    usager: &mandate::Usager,
) {
    let page = browser
        .get(&format!(
            "{}/espace-aidant/usagers/{}",
            service.issuer(),
            usager.id
        ))
        .await;
    assert_eq!(page.status, 200);
    let mandate_id = page
        .body
        .split("/espace-aidant/mandats/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let confirm_url = format!(
        "{}/espace-aidant/mandats/{mandate_id}/revoquer",
        service.issuer()
    );
    let confirm = browser.get(&confirm_url).await;
    assert!(
        confirm.body.contains("Révoquer le mandat de Fatou DIALLO"),
        "{}",
        confirm.body
    );
    let revoked = browser
        .post(&confirm_url, &[("csrf_token", &csrf_token(&confirm.body))])
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    let revocation = browser
        .get(&format!(
            "{}{}",
            service.issuer(),
            revoked.location.unwrap()
        ))
        .await;
    assert!(
        revocation
            .body
            .contains("Attestation de révocation de mandat"),
        "{}",
        revocation.body
    );
}

/// The attestation's verification link still answers "authentique", with the mandate revoked
/// and never the usager's name.
async fn the_paper_attestation_says_it_is_revoked(browser: &Browser, attestation: &ac_tests::Page) {
    let verify_url = span(&attestation.body, "verification").replace("&#38;", "&");
    let verify = browser.get(&verify_url).await;
    assert!(
        verify.body.contains(r#"data-verdict="authentique""#),
        "{}",
        verify.body
    );
    assert!(verify.body.contains(r#"<td id="etat">révoqué</td>"#));
    assert!(
        !verify.body.contains("DIALLO"),
        "the verification never shows the usager"
    );
}

/// Renewing a mandate: the form preselects its démarches; someone else at FranceConnect is
/// refused with nothing written; the same person's new mandate replaces the old one.
async fn renewal_replaces_and_checks_the_person(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let browser = Browser::new();
    service
        .sign_in(&browser, &service.fixtures.email_a, SEED_A)
        .await;
    let (usager, first) =
        the_renewal_form_names_the_usager_and_her_demarches(&service, &browser).await;
    someone_else_at_franceconnect_is_refused(&service, &browser, &first).await;
    the_same_person_renews_and_replaces_the_mandate(&service, &browser, &usager, &first).await;
}

/// Marie's mandate for argent, and its renewal form; answers her and the mandate's id.
async fn the_renewal_form_names_the_usager_and_her_demarches(
    service: &TestService,
    browser: &Browser,
) -> (mandate::Usager, String) {
    service
        .create_mandate(
            browser,
            &[("demarche", "argent"), ("duree", "MONTH")],
            MARIE,
        )
        .await;
    let usager = usager_by_family_name(service, "MARTIN");
    let first = mandate::check_coverage(
        &mut service.conn(),
        &service.fixtures.org_a,
        &usager.id,
        Demarche::Argent,
        service.clock_now(),
    )
    .unwrap()
    .unwrap()
    .mandate_id()
    .to_owned();
    let renew_form = browser
        .get(&format!(
            "{}/mandats/nouveau?renouveler={}",
            service.issuer(),
            first
        ))
        .await;
    assert!(
        renew_form
            .body
            // Her usage name is not asked of FranceConnect: Aidants Connect's habilitation
            // does not cover preferred_username.
            .contains("Renouveler le mandat de Marie Hélène MARTIN"),
        "{}",
        renew_form.body
    );
    assert!(
        renew_form.body.contains(r#"value="argent" checked"#),
        "démarches preselected"
    );
    (usager, first.into())
}

async fn someone_else_at_franceconnect_is_refused(
    service: &TestService,
    browser: &Browser,
    first: &str,
) {
    let before = counts(service);
    let started = service
        .start_mandate(
            browser,
            &[
                ("renouveler", first),
                ("demarche", "argent"),
                ("duree", "LONG"),
            ],
        )
        .await;
    let back = service
        .identify_at_fc(browser, &started.location.unwrap(), LUCIEN)
        .await;
    let (_, page) = service.follow(browser, &back.location.unwrap()).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(
        page.body
            .contains("n&#39;est pas l&#39;usager du mandat à renouveler"),
        "{}",
        page.body
    );
    assert_eq!(counts(service), before);
}

/// A new mandate replaces the argent autorisation and adds famille; both attempts journaled.
async fn the_same_person_renews_and_replaces_the_mandate(
    service: &TestService,
    browser: &Browser,
    usager: &mandate::Usager,
    first: &str,
) {
    service.clock.advance(Duration::days(3));
    service
        .sign_in(browser, &service.fixtures.email_a, SEED_A)
        .await;
    let recap = service
        .identify_usager(
            browser,
            &[
                ("renouveler", first),
                ("demarche", "argent"),
                ("demarche", "famille"),
                ("duree", "LONG"),
            ],
            MARIE,
        )
        .await;
    assert!(browser
        .get(&recap)
        .await
        .body
        .contains("Renouvellement du mandat"));
    assert_eq!(service.confirm_recap(browser, &recap).await.status, 303);
    let mut conn = service.conn();
    let now = service.clock_now();
    let renewed = mandate::check_coverage(
        &mut conn,
        &service.fixtures.org_a,
        &usager.id,
        Demarche::Argent,
        now,
    )
    .unwrap()
    .unwrap();
    assert_ne!(renewed.mandate_id(), first);
    assert!(renewed.expires_at() > now + Duration::days(300), "LONG");
    let details =
        mandate::mandates_of_usager(&mut conn, &service.fixtures.org_a, &usager.id, now).unwrap();
    assert_eq!(
        details[0].mandate.renews.as_ref(),
        Some(MandateId::from(first)).as_ref()
    );
    let old = details.iter().find(|d| d.mandate.id == *first).unwrap();
    assert!(
        old.autorisations
            .iter()
            .all(|(a, _, _)| a.revoked_at.is_some()),
        "replaced"
    );
    assert!(mandate::check_coverage(
        &mut conn,
        &service.fixtures.org_a,
        &usager.id,
        Demarche::Famille,
        now
    )
    .unwrap()
    .is_some());
    assert_eq!(
        journal::entries_by_action(&mut conn, Action::InitRenewMandat)
            .unwrap()
            .len(),
        2,
        "both renewal attempts are journaled"
    );
}

async fn post_sms(
    service: &TestService,
    token: &str,
    from: &str,
    text: &str,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/sms/reponse", service.issuer()))
        .bearer_auth(token)
        .json(&serde_json::json!({ "from": from, "text": text }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// A remote mandate: a mobile number required; unusable until the usager answers the SMS;
/// usable after "Oui"; another one refused by "NON" after a failed first sending.
async fn remote_consent_by_sms(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let browser = Browser::new();
    service
        .sign_in(&browser, &service.fixtures.email_a, SEED_A)
        .await;
    a_remote_mandate_needs_a_mobile_number(&service, &browser).await;
    a_remote_mandate_is_usable_once_the_usager_says_oui(&service, &browser).await;
    a_failed_sms_is_sent_again_and_non_refuses_the_mandate(&service, &browser).await;
    let mut conn = service.conn();
    for (action, count) in [
        (Action::RemoteSmsConsentSent, 2),
        (Action::RemoteSmsConsentReceived, 1),
        (Action::RemoteSmsDenial, 1),
    ] {
        assert_eq!(
            journal::entries_by_action(&mut conn, action).unwrap().len(),
            count,
            "{action:?}"
        );
    }
}

/// Whether organisation A may act for the usager on Social now.
fn covered(service: &TestService, usager: &str) -> bool {
    mandate::check_coverage(
        &mut service.conn(),
        &service.fixtures.org_a,
        &UsagerId::from(usager),
        Demarche::Social,
        service.clock_now(),
    )
    .unwrap()
    .is_some()
}

async fn a_remote_mandate_needs_a_mobile_number(service: &TestService, browser: &Browser) {
    // A phone number is required and must be a mobile.
    let bad = service
        .start_mandate(
            browser,
            &[
                ("demarche", "social"),
                ("duree", "MONTH"),
                ("mode", "distance"),
                ("telephone", "01 23 45 67 89"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains(r#"id="erreur-telephone""#),
        "{}",
        bad.body
    );
}

async fn a_remote_mandate_is_usable_once_the_usager_says_oui(
    service: &TestService,
    browser: &Browser,
) {
    let inbox = service.sms.as_ref().unwrap();
    let recap = service
        .identify_usager(
            browser,
            &[
                ("demarche", "social"),
                ("duree", "MONTH"),
                ("mode", "distance"),
                ("telephone", "06 12 34 56 78"),
            ],
            MARIE,
        )
        .await;
    assert!(browser.get(&recap).await.body.contains("+•••••••••78"));
    assert_eq!(service.confirm_recap(browser, &recap).await.status, 303);
    let sent = inbox.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+33612345678");
    assert!(
        sent[0].message.contains("CCAS de Test A") && sent[0].message.contains("Social – Santé")
    );
    assert!(
        !sent[0].message.contains("MARTIN"),
        "no identity in the SMS"
    );
    let marie = usager_by_family_name(service, "MARTIN");
    assert!(
        !covered(service, marie.id.as_str()),
        "unusable until consent arrives"
    );
    let refused = use_through_simulator(service, browser, &marie.id, "social").await;
    assert_eq!(refused.status, 422, "absent consent: {}", refused.body);

    assert_eq!(
        post_sms(service, "mauvais-jeton", "+33612345678", "Oui")
            .await
            .0,
        401
    );
    assert!(!covered(service, marie.id.as_str()));
    assert_eq!(
        post_sms(service, SMS_WEBHOOK_TOKEN, "06 12 34 56 78", "peut-être")
            .await
            .1["resultat"],
        "reponse_non_comprise"
    );
    assert_eq!(
        post_sms(service, SMS_WEBHOOK_TOKEN, "+33 6 12 34 56 78", "Oui !")
            .await
            .1["resultat"],
        "consentement_enregistre"
    );
    assert!(
        covered(service, marie.id.as_str()),
        "usable once the usager said Oui"
    );
    let used = use_through_simulator(service, browser, &marie.id, "social").await;
    assert_eq!(used.status, 200, "{}", used.body);
    assert_eq!(
        post_sms(service, SMS_WEBHOOK_TOKEN, "+33612345678", "Oui")
            .await
            .1["resultat"],
        "aucune_demande_en_attente"
    );
}

async fn a_failed_sms_is_sent_again_and_non_refuses_the_mandate(
    service: &TestService,
    browser: &Browser,
) {
    let inbox = service.sms.as_ref().unwrap();
    inbox.set_failing(true);
    let recap = service
        .identify_usager(
            browser,
            &[
                ("demarche", "social"),
                ("duree", "SHORT"),
                ("mode", "distance"),
                ("telephone", "0698765432"),
            ],
            LUCIEN,
        )
        .await;
    let failed = service.confirm_recap(browser, &recap).await;
    assert_eq!(failed.status, 502, "{}", failed.body);
    assert!(failed.body.contains("n'a pas pu être envoyé"));
    let lucien = usager_by_family_name(service, "PETIT");
    assert!(!covered(service, lucien.id.as_str()));
    // The failure is journaled, and the national team told by e-mail (naming the structure,
    // not the usager).
    let journaled =
        journal::entries_by_action(&mut service.conn(), Action::RemoteSmsConsentFailed).unwrap();
    assert_eq!(journaled.len(), 1);
    assert_eq!(journaled[0].usager_id.as_ref(), Some(&lucien.id));
    let told: Vec<(String, String, String)> = store::schema::outbox::table
        .filter(store::schema::outbox::kind.eq("sms_failed"))
        .select((
            store::schema::outbox::recipient,
            store::schema::outbox::kind,
            store::schema::outbox::payload,
        ))
        .load(&mut service.conn())
        .unwrap();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0, service.config.email.national_team);
    assert!(told[0].2.contains("CCAS de Test A"), "{}", told[0].2);
    assert!(!told[0].2.contains("PETIT") && !told[0].2.contains("0698765432"));
    inbox.set_failing(false);
    let resend_action = failed
        .body
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let resent = browser
        .post(
            &format!("{}{resend_action}", service.issuer()),
            &[("csrf_token", &csrf_token(&failed.body))],
        )
        .await;
    assert_eq!(resent.status, 303, "{}", resent.body);
    assert_eq!(inbox.received().len(), 2);
    assert_eq!(
        post_sms(service, SMS_WEBHOOK_TOKEN, "+33698765432", "NON")
            .await
            .1["resultat"],
        "refus_enregistre"
    );
    assert!(!covered(service, lucien.id.as_str()));
}

async fn attestations_are_verified(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let browser = Browser::new();
    service
        .sign_in(&browser, &service.fixtures.email_a, SEED_A)
        .await;
    let url = service
        .create_mandate(&browser, &[("toutes", "1"), ("duree", "SEMESTER")], 0)
        .await;
    let page = browser.get(&url).await;
    let (id, fingerprint) = (span(&page.body, "numero"), span(&page.body, "empreinte"));
    let verify = |id: String, fp: String| {
        let browser = &browser;
        let base = service.issuer().to_owned();
        async move {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("id", &id)
                .append_pair("empreinte", &fp)
                .finish();
            browser
                .get(&format!("{base}/attestations/verifier?{query}"))
                .await
                .body
        }
    };
    let genuine = verify(id.clone(), fingerprint.clone()).await;
    assert!(
        genuine.contains(r#"data-verdict="authentique""#),
        "{genuine}"
    );
    assert!(genuine.contains("CCAS de Test A") && genuine.contains("Loisirs"));
    assert!(
        !genuine.contains("DUBOIS") && !genuine.contains("1962"),
        "no identity leaks"
    );
    let mut altered = fingerprint.clone();
    altered.replace_range(0..1, if altered.starts_with('0') { "1" } else { "0" });
    assert!(verify(id.clone(), altered)
        .await
        .contains(r#"data-verdict="alteree""#));
    assert!(verify("inexistante".into(), fingerprint.clone())
        .await
        .contains(r#"data-verdict="inconnue""#));
    // Someone edits the stored content behind the service's back: no longer genuine.
    {
        use store::schema::attestations;
        let mut conn = service.conn();
        let content: String = attestations::table
            .find(&id)
            .select(attestations::content)
            .first(&mut conn)
            .unwrap();
        diesel::update(attestations::table.find(&id))
            .set(attestations::content.eq(content.replace("SEMESTER", "LONG")))
            .execute(&mut conn)
            .unwrap();
    }
    assert!(verify(id, fingerprint)
        .await
        .contains(r#"data-verdict="alteree""#));
}

async fn franceconnect_failures_write_nothing(backend: Backend) {
    let (service, _sim) = TestService::start_with_simulator(backend);
    let control = service.sim.clone().unwrap();
    let browser = Browser::new();
    service
        .sign_in(&browser, &service.fixtures.email_a, SEED_A)
        .await;
    let before = counts(&service);
    let fields = [("demarche", "travail"), ("duree", "MONTH")];

    // The usager cancels at FranceConnect.
    let started = service.start_mandate(&browser, &fields).await;
    let page = browser.get(&started.location.unwrap()).await;
    let action = page
        .body
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let back = browser
        .post(
            &format!("{}{action}", service.sim_base()),
            &[("annuler", "1")],
        )
        .await;
    let (_, cancelled) = service.follow(&browser, &back.location.unwrap()).await;
    assert_eq!(cancelled.status, 400);
    assert!(
        cancelled.body.contains("L&#39;usager a annulé"),
        "{}",
        cancelled.body
    );

    // A state we never sent.
    let forged = browser
        .get(&format!(
            "{}/fc/callback?code=abc&state=un-etat-jamais-envoye",
            service.issuer()
        ))
        .await;
    assert_eq!(forged.status, 400);
    assert!(forged
        .body
        .contains("ne correspond à aucune création de mandat"));

    // Wrong nonce, unknown signing key, token endpoint down.
    for fault in [
        fc_sim::idp::Fault::WrongNonce,
        fc_sim::idp::Fault::UnknownKey,
        fc_sim::idp::Fault::TokenServerError,
    ] {
        control.set_fault(Some(fault));
        let started = service.start_mandate(&browser, &fields).await;
        let back = service
            .identify_at_fc(&browser, &started.location.unwrap(), FATOU)
            .await;
        let (_, refused) = service.follow(&browser, &back.location.unwrap()).await;
        assert_eq!(refused.status, 502, "{fault:?}: {}", refused.body);
        assert!(refused.body.contains("Aucun mandat n&#39;a été créé"));
    }
    control.set_fault(None);
    assert_eq!(counts(&service), before, "nothing half-written");
    assert!(control.logouts().is_empty());

    // A cross-site form post cannot confirm a recap.
    let recap = service.identify_usager(&browser, &fields, FATOU).await;
    let page = browser.get(&recap).await;
    let attacker = Browser::new();
    let forged = attacker
        .post(
            &recap,
            &[
                ("csrf_token", &csrf_token(&page.body)),
                ("consentement", "oui"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(counts(&service), before);
}

async fn franceconnect_unreachable(backend: Backend) {
    let service = TestService::start_configured(backend, &|config| {
        config.franceconnect.issuer = "http://127.0.0.1:9/api/v2".into();
    });
    let browser = Browser::new();
    service
        .sign_in(&browser, &service.fixtures.email_a, SEED_A)
        .await;
    let before = counts(&service);
    let started = service
        .start_mandate(&browser, &[("demarche", "papiers"), ("duree", "SHORT")])
        .await;
    assert_eq!(started.status, 503, "{}", started.body);
    assert!(started
        .body
        .contains("FranceConnect est momentanément indisponible"));
    assert_eq!(counts(&service), before);
    use store::schema::mandate_drafts;
    let drafts: i64 = mandate_drafts::table
        .count()
        .get_result(&mut service.conn())
        .unwrap();
    assert_eq!(drafts, 0);
}

/// The espace aidant: lists by state, search and pages; nothing of another structure is
/// reachable; revoking asks a fresh code after the activity window.
async fn espace_aidant_lists_and_guards(backend: Backend) {
    let service = TestService::start(backend);
    let browser = Browser::new();
    usagers_are_listed_by_state_and_found_by_name(&service, &browser).await;
    many_usagers_are_paged(&service, &browser).await;
    let csrf = nothing_of_another_structure_is_reachable(&service, &browser).await;
    revoking_asks_a_fresh_code_after_the_activity_window(&service, &browser, &csrf).await;
    another_aidant_sees_only_their_structure(&service).await;
}

async fn usagers_are_listed_by_state_and_found_by_name(service: &TestService, browser: &Browser) {
    let f = &service.fixtures;
    let base = service.issuer();
    let anonymous = browser.get(&format!("{base}/espace-aidant")).await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location.unwrap().starts_with("/connexion?suite="));
    service.sign_in(browser, &f.email_a, SEED_A).await;

    let active = browser.get(&format!("{base}/espace-aidant")).await.body;
    assert!(
        active.contains("Angela DUBOIS") && active.contains("Bernard MARTIN"),
        "{active}"
    );
    assert!(!active.contains("PETIT") && !active.contains("RICHARD"));
    let expired = browser
        .get(&format!("{base}/espace-aidant?etat=expires"))
        .await
        .body;
    assert!(
        expired.contains("Chantal PETIT") && expired.contains("Denise ROBERT"),
        "{expired}"
    );
    assert!(!expired.contains("DUBOIS"));
    service.clock.advance(Duration::days(2));
    service.sign_in(browser, &f.email_a, SEED_A).await;
    let soon = browser
        .get(&format!("{base}/espace-aidant?etat=bientot"))
        .await
        .body;
    assert!(
        soon.contains("Bernard MARTIN") && !soon.contains("DUBOIS"),
        "{soon}"
    );
    let search = browser
        .get(&format!("{base}/espace-aidant?q=dubo"))
        .await
        .body;
    assert!(search.contains("DUBOIS") && !search.contains("MARTIN"));
}

async fn many_usagers_are_paged(service: &TestService, browser: &Browser) {
    let base = service.issuer();
    for i in 0..25 {
        let pivot = identity::IdentitePivot {
            given_name: format!("Usager{i:02}"),
            family_name: "NOMBREUX".into(),
            preferred_username: String::new(),
            birthdate: identity::IdentitePivot::parse_birthdate("1980-01-01").unwrap(),
            gender: identity::Gender::Male,
            birthplace: "75107".into(),
            birthcountry: identity::FRANCE_COG.into(),
            email: String::new(),
        };
        service.usager_of_a(&pivot, &[Demarche::Loisirs]);
    }
    let first = browser
        .get(&format!("{base}/espace-aidant?q=nombreux"))
        .await
        .body;
    assert!(
        first.contains(r#"<p id="total">25 usagers</p>"#) && first.contains("Page 1 sur 2"),
        "{first}"
    );
    assert!(first.contains("Usager00") && !first.contains("Usager24"));
    let second = browser
        .get(&format!("{base}/espace-aidant?q=nombreux&page=2"))
        .await
        .body;
    assert!(second.contains("Usager24") && !second.contains("Usager00"));
}

/// Organisation B's usager, mandate and autorisation are unknown to A's aidant; returns the
/// CSRF token of the aidant's page.
async fn nothing_of_another_structure_is_reachable(
    service: &TestService,
    browser: &Browser,
) -> String {
    let f = &service.fixtures;
    let base = service.issuer();
    let of_b = browser
        .get(&format!(
            "{base}/espace-aidant/usagers/{}",
            f.usager_of_b.id
        ))
        .await;
    assert_eq!(of_b.status, 404);
    let b_covered = || {
        mandate::check_coverage(
            &mut service.conn(),
            &f.org_b,
            &f.usager_of_b.id,
            Demarche::Argent,
            service.clock_now(),
        )
        .unwrap()
    };
    let b_mandate = b_covered().unwrap();
    let page = browser.get(&format!("{base}/espace-aidant")).await;
    let csrf = csrf_token(&page.body);
    for url in [
        format!(
            "{base}/espace-aidant/autorisations/{}/revoquer",
            b_mandate.autorisation_id()
        ),
        format!(
            "{base}/espace-aidant/mandats/{}/revoquer",
            b_mandate.mandate_id()
        ),
    ] {
        assert_eq!(
            browser.post(&url, &[("csrf_token", &csrf)]).await.status,
            404,
            "{url}"
        );
    }
    for url in [
        format!(
            "{base}/espace-aidant/mandats/{}/revoquer",
            b_mandate.mandate_id()
        ),
        format!(
            "{base}/mandats/nouveau?renouveler={}",
            b_mandate.mandate_id()
        ),
    ] {
        assert_eq!(browser.get(&url).await.status, 404, "{url}");
    }
    assert!(b_covered().is_some());
    csrf
}

async fn revoking_asks_a_fresh_code_after_the_activity_window(
    service: &TestService,
    browser: &Browser,
    csrf: &str,
) {
    let f = &service.fixtures;
    let base = service.issuer();
    let covers = |demarche| {
        mandate::check_coverage(
            &mut service.conn(),
            &f.org_a,
            &f.usager_all.id,
            demarche,
            service.clock_now(),
        )
        .unwrap()
    };
    let covered = covers(Demarche::Famille).unwrap();
    service.clock.advance(Duration::minutes(21));
    let revoke_url = format!(
        "{base}/espace-aidant/autorisations/{}/revoquer",
        covered.autorisation_id()
    );
    let asked = browser.post(&revoke_url, &[("csrf_token", csrf)]).await;
    assert_eq!(asked.status, 303);
    assert!(asked.location.unwrap().starts_with("/code?suite="));
    let code_page = browser
        .get(&format!("{base}/code?suite=/espace-aidant"))
        .await;
    let fresh = service.next_code(SEED_A);
    let rechecked = browser
        .post(
            &format!("{base}/code"),
            &[
                ("csrf_token", &csrf_token(&code_page.body)),
                ("otp", &fresh),
                ("suite", "/espace-aidant"),
            ],
        )
        .await;
    assert_eq!(rechecked.status, 303, "{}", rechecked.body);
    let revoked = browser.post(&revoke_url, &[("csrf_token", csrf)]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert!(covers(Demarche::Famille).is_none());
    assert!(covers(Demarche::Argent).is_some());
}

async fn another_aidant_sees_only_their_structure(service: &TestService) {
    let f = &service.fixtures;
    let other = Browser::new();
    service.sign_in(&other, &f.email_b, SEED_B).await;
    let list = other
        .get(&format!("{}/espace-aidant", service.issuer()))
        .await
        .body;
    assert!(list.contains("Emma RICHARD") && !list.contains("DUBOIS"));
}

on_both_backends!(
    mandate_created_used_then_revoked,
    renewal_replaces_and_checks_the_person,
    remote_consent_by_sms,
    attestations_are_verified,
    franceconnect_failures_write_nothing,
    franceconnect_unreachable,
    espace_aidant_lists_and_guards,
);
