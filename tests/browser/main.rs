//! The journeys of issue 6 clicked and typed through in Chromium, as a person would, on
//! PostgreSQL (the production database): (a) an aidant uses a mandate from the administrative
//! site's FranceConnect button; (b) an aidant creates a mandate with the usager identifying at
//! FranceConnect, prints the attestation and verifies it by its link, then the usager opens
//! her own space with FranceConnect, revokes one démarche, and the aidant is no longer offered
//! it at the administrative site; (c) a référent adds an
//! aidant, associates and validates a card, and the new aidant signs in with it; then the pages
//! the journeys do not cross; (f) a member of the national team enrols her card, signs in to
//! the back office and gives a new structure's first référent her card; (g) a structure is
//! habilitated from its online request: filled, sent back for changes, validated, its aidant
//! registered on a training, present, Pix passed, activated, given a card, signed in, her
//! first mandate made; (h) the draft mandate's text is read beside its Arabic translation, laid
//! out right to left. The
//! simulated FranceConnect and administrative site are served as
//! `localhost` and Aidants Connect as `127.0.0.1`: two sites, as in production, so the cookies'
//! SameSite rules are exercised. Screenshots and axe reports: `target/navigateur/<journey>/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use ac_tests::{Backend, TestService, SEED_A, SEED_R};
use chrono::Duration;
use ring::rand::SystemRandom;
use support::Chrome;

/// A card in the national stock, for journey (c).
const STOCK_SERIAL: &str = "GADT0000777";
const STOCK_SEED: &str = "7777777777777777777777777777777777777777";

fn simulated_service() -> (TestService, String) {
    TestService::start_with_simulator_on(Backend::Postgres, "localhost")
}

async fn sign_in(chrome: &Chrome, service: &TestService, email: &str, seed: &str) {
    chrome
        .open(&format!("{}/connexion", service.issuer()), "connexion")
        .await;
    chrome.type_in("Adresse électronique", email).await;
    chrome
        .type_in("Code affiché par votre carte", &service.next_code(seed))
        .await;
    chrome.click("Se connecter", "espace-aidant").await;
    // At a first sign-in, an aidant who may act reads and accepts the CGU in force.
    if chrome
        .url()
        .await
        .contains("/conditions-generales/accepter")
    {
        chrome
            .expect_text("Conditions générales d'utilisation")
            .await;
        chrome
            .tick("J'ai lu les conditions générales d'utilisation et je les accepte.")
            .await;
        chrome.click("Accepter et continuer", "cgu-acceptees").await;
    }
    chrome.expect_at("/espace-aidant").await;
}

/// The aidant A signs in, begins a mandate for « Argent », one month, and opens its draft.
async fn draft_for_argent(chrome: &Chrome, service: &TestService) {
    sign_in(chrome, service, &service.fixtures.email_a, SEED_A).await;
    chrome.click("Créer un mandat", "nouveau-mandat").await;
    chrome.tick("Argent").await;
    chrome.tick("1 mois (31 jours)").await;
    chrome
        .click("Voir le projet de mandat à imprimer", "projet-de-mandat")
        .await;
}

#[tokio::test]
async fn a_aidant_uses_a_mandate_from_the_administrative_site() {
    let (service, sim) = simulated_service();
    let chrome = Chrome::start("a-utiliser-un-mandat", service.issuer()).await;
    chrome.open(&format!("{sim}/"), "site-de-la-demarche").await;
    chrome
        .click("S'identifier avec FranceConnect", "connexion-aidant")
        .await;
    chrome.expect_at("/fi/").await;

    // A mistyped code: the error is shown and tied to the fields.
    chrome
        .type_in("Adresse électronique", &service.fixtures.email_a)
        .await;
    chrome
        .type_in("Code affiché par votre carte", "000000")
        .await;
    chrome.click("Se connecter", "code-errone").await;
    chrome
        .expect_text_of("#erreur-connexion", "incorrect")
        .await;
    assert_eq!(
        chrome.attr_of("#otp", "aria-describedby").await.as_deref(),
        Some("erreur-connexion")
    );

    service.clock.advance(Duration::seconds(5));
    chrome
        .type_in("Code affiché par votre carte", &service.next_code(SEED_A))
        .await;
    chrome.click("Se connecter", "choix-usager").await;
    chrome.expect_text("Pour quel usager agissez-vous ?").await;
    chrome.type_in("Rechercher un usager", "Dubois").await;
    chrome.click("Rechercher", "recherche-usager").await;
    chrome
        .click("Choisir Angela DUBOIS", "choix-demarche")
        .await;
    chrome
        .expect_text("Quelle démarche faites-vous pour Angela DUBOIS ?")
        .await;
    chrome.click("Argent", "identite-recue").await;

    // The administrative site shows the identity it received, checked against /jwks.
    chrome.expect_at(&sim).await;
    assert_eq!(chrome.text_of("#given_name").await, "Angela");
    assert_eq!(chrome.text_of("#family_name").await, "DUBOIS");
    assert_eq!(chrome.text_of("#birthdate").await, "1962-08-24");
    let pages = chrome.finish().await;
    assert_eq!(pages.len(), 5, "Aidants Connect pages checked: {pages:?}");
}

#[tokio::test]
async fn b_aidant_creates_a_mandate_prints_and_verifies_the_attestation() {
    let (service, sim) = simulated_service();
    let chrome = Chrome::start("b-creer-un-mandat", service.issuer()).await;
    // The draft, printed to read with the usager before she identifies.
    draft_for_argent(&chrome, &service).await;
    chrome.expect_text("Texte du mandat (version 1)").await;
    chrome
        .expect_text_of("#demarches-du-projet", "Argent")
        .await;
    chrome
        .open(
            &format!("{}/mandats/nouveau", service.issuer()),
            "nouveau-mandat-vierge",
        )
        .await;

    // No démarche chosen: the error is shown and tied to the group of boxes.
    chrome
        .click("S'identifier avec FranceConnect", "nouveau-mandat-erreurs")
        .await;
    chrome
        .expect_text_of("#erreur-demarches", "au moins une démarche")
        .await;
    let labelled = chrome.attr_of("#demarches", "aria-labelledby").await;
    assert!(
        labelled.is_some_and(|ids| ids.contains("erreur-demarches")),
        "the error is not tied to the group"
    );

    chrome.tick("Argent").await;
    chrome.tick("Logement").await;
    chrome.tick("1 mois (31 jours)").await;
    chrome.tick("Oui, l'usager est présent").await;
    chrome
        .click("S'identifier avec FranceConnect", "franceconnect")
        .await;
    chrome.expect_at("localhost").await;

    // The usager identifies at (simulated) FranceConnect, another site.
    chrome.tick("Fatou").await;
    chrome.click("Continuer", "recapitulatif").await;
    chrome.expect_at("/mandats/nouveau/").await;
    assert_eq!(chrome.text_of("#family_name").await, "DIALLO");
    chrome
        .tick("L'usager a lu ce récapitulatif et consent au mandat.")
        .await;
    chrome.click("Créer le mandat", "attestation").await;
    chrome.expect_at("/attestations/").await;
    chrome.expect_text_of("#usager", "Fatou").await;

    // Printed as the browser prints it, on A4 (the mandate's text included: two pages at most),
    // kept beside the screenshots.
    let pages = chrome.print_a4("attestation.pdf").await;
    assert!(
        (1..=2).contains(&pages),
        "the attestation and the mandate's text fit on two A4 sheets: {pages}"
    );

    // The link under the QR code leads to the public verification.
    let link = chrome
        .client
        .find(fantoccini::Locator::Id("verification"))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    assert!(href.starts_with(&format!("{}/attestations/verifier?", service.issuer())));
    link.click().await.unwrap();
    chrome
        .client
        .wait()
        .for_element(fantoccini::Locator::Id("verdict"))
        .await
        .unwrap();
    chrome.record("verification").await;
    chrome
        .expect_text_of("#verdict", "Attestation authentique")
        .await;
    assert_eq!(chrome.text_of("#etat").await, "en cours de validité");

    // Fatou, from the verification page, opens her own space with FranceConnect.
    chrome
        .click("Voir mes mandats dans Mon espace", "mon-espace-accueil")
        .await;
    chrome
        .click(
            "S'identifier avec FranceConnect",
            "mon-espace-franceconnect",
        )
        .await;
    chrome.tick("Fatou").await;
    chrome.click("Continuer", "mon-espace").await;
    chrome.expect_at("/mon-espace/").await;
    chrome.expect_text("Bonjour Fatou DIALLO").await;
    chrome
        .click(
            "Voir ce que les aidants ont fait pour moi",
            "mon-espace-utilisations",
        )
        .await;
    chrome
        .expect_text("Aucun aidant n'a encore utilisé vos mandats.")
        .await;

    // She revokes « Logement » herself, after a confirmation page.
    chrome.click("Retour à mes mandats", "mon-espace").await;
    chrome
        .click("Annuler cette démarche : Logement", "mon-espace-annuler")
        .await;
    chrome
        .expect_text("Voulez-vous annuler cette démarche ?")
        .await;
    chrome
        .click("Oui, annuler la démarche", "mon-espace-demarche-annulee")
        .await;
    chrome
        .expect_text_of("#demarche-annulee", "ne peuvent plus faire « Logement »")
        .await;
    // She chooses an e-mail for each mandate made or used in her name.
    chrome
        .click("Recevoir un e-mail à chaque mandat", "mon-espace-e-mails")
        .await;
    chrome
        .click(
            "Oui, je veux recevoir ces e-mails",
            "mon-espace-e-mails-choisis",
        )
        .await;
    chrome
        .expect_text_of("#choix-enregistre", "C'est noté")
        .await;
    chrome
        .click("Retour à mes mandats", "mon-espace-retour")
        .await;
    chrome
        .click("Voir l'attestation du mandat", "mon-espace-attestation")
        .await;
    chrome.expect_text_of("#usager", "Fatou").await;

    // The aidant, at the administrative site, is no longer offered « Logement » for her.
    chrome.open(&format!("{sim}/"), "site-de-la-demarche").await;
    chrome
        .click("S'identifier avec FranceConnect", "choix-usager")
        .await;
    chrome.type_in("Rechercher un usager", "Diallo").await;
    chrome.click("Rechercher", "recherche-usager").await;
    chrome.click("Choisir Fatou DIALLO", "choix-demarche").await;
    chrome
        .expect_text("Quelle démarche faites-vous pour Fatou DIALLO ?")
        .await;
    let offered = chrome.text_of("main").await;
    assert!(
        offered.contains("Argent") && !offered.contains("Logement"),
        "{offered}"
    );
    chrome.finish().await;
}

/// Nora, administrator of the national team (her card known), signs in to the back office.
async fn nora_signs_in_to_the_back_office(chrome: &Chrome, service: &TestService, base: &str) {
    let nora_seed = "4e6f7261206e6174696f6e616c6520636172746531";
    authenticator::create_staff(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        service.clock_now(),
        authenticator::NewStaff {
            email: "nora.nationale@aidantsconnect.beta.gouv.fr",
            first_name: "Nora",
            last_name: "Nationale",
            role: authenticator::StaffRole::Admin,
        },
        authenticator::StaffCard::Known {
            serial: "EQNORA000001",
            seed_hex: nora_seed,
        },
        None,
    )
    .unwrap()
    .unwrap();
    chrome
        .open(
            &format!("{base}/administration/connexion"),
            "equipe-connexion",
        )
        .await;
    chrome
        .type_in(
            "Adresse électronique",
            "nora.nationale@aidantsconnect.beta.gouv.fr",
        )
        .await;
    chrome
        .type_in(
            "Code affiché par votre carte",
            &service.next_code(nora_seed),
        )
        .await;
    chrome.click("Se connecter", "administration").await;
}

#[tokio::test]
async fn c_referent_validates_a_card_and_the_new_aidant_signs_in() {
    let (service, _sim) = simulated_service();
    aidants_connect::admin::import_cards(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        service.clock_now(),
        format!("{STOCK_SERIAL},{STOCK_SEED}\n").as_bytes(),
    )
    .unwrap();
    let chrome = Chrome::start("c-referent-carte", service.issuer()).await;
    sign_in(
        &chrome,
        &service,
        &service.fixtures.email_referent_a,
        SEED_R,
    )
    .await;
    chrome.click("Espace référent", "espace-referent").await;
    chrome
        .click("Demander un nouvel aidant", "ajouter-aidant")
        .await;
    chrome
        .type_in(
            "Adresse électronique professionnelle",
            "ines.moreau@ccas-test.fr",
        )
        .await;
    chrome.type_in("Prénom", "Inès").await;
    chrome.type_in("Nom", "Moreau").await;
    chrome.type_in("Profession", "Conseillère numérique").await;
    chrome.click("Envoyer la demande", "demandes-aidants").await;
    chrome.expect_text("EN ATTENTE DE VALIDATION").await;

    // The national team validates the request: her account waits for her training.
    let base = service.issuer().to_owned();
    nora_signs_in_to_the_back_office(&chrome, &service, &base).await;
    chrome
        .open(
            &format!("{base}/administration/demandes-aidants"),
            "equipe-demandes-aidants",
        )
        .await;
    chrome.click("Inès Moreau", "equipe-demande").await;
    chrome
        .tick("Valider : créer son compte, à activer après sa formation")
        .await;
    chrome
        .click("Enregistrer la décision", "equipe-demande-validee")
        .await;
    chrome
        .open(&format!("{base}/espace-referent"), "espace-referent-apres")
        .await;
    chrome.click("Inès Moreau", "fiche-aidant").await;

    chrome
        .type_in("Numéro de série de la carte physique", STOCK_SERIAL)
        .await;
    chrome.click("Associer la carte", "carte-associee").await;
    chrome
        .expect_text(&format!("carte {STOCK_SERIAL} : à valider"))
        .await;
    service.clock.advance(Duration::seconds(30));
    let code = service.code(STOCK_SEED);
    chrome
        .type_in("Code affiché par la carte à valider", &code)
        .await;
    chrome.click("Valider la carte", "carte-validee").await;
    chrome
        .expect_text(&format!("carte {STOCK_SERIAL} : active"))
        .await;

    // The national team activates her account after the training.
    aidants_connect::admin::activate_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        "ines.moreau@ccas-test.fr",
    )
    .unwrap();
    chrome
        .click("Espace référent", "retour-espace-referent")
        .await;
    chrome.click("Se déconnecter", "deconnexion").await;

    sign_in(&chrome, &service, "ines.moreau@ccas-test.fr", STOCK_SEED).await;
    chrome.expect_text("Inès Moreau — CCAS de Test A").await;
    chrome.finish().await;
}

/// (f) The national team: Nora, created by the command line, enrols her card through her
/// link (the QR code read as an application reads it), signs in to the back office, creates a
/// structure and its référent Chloé, activates her, and gives her the card in stock; she
/// transfers a mandate of the CCAS to the new structure, finds the transfer in the journal,
/// checks the journal's integrity and opens the exports and an usager search; Chloé then signs
/// in with her card and finds the transferred usager in her espace.
#[tokio::test]
async fn f_the_national_team_gives_a_first_referent_her_card() {
    let (service, _sim) = simulated_service();
    let rng = SystemRandom::new();
    let chloe = "chloe.premiere@fs-brest.fr";
    aidants_connect::admin::import_cards(
        &mut service.conn(),
        &rng,
        &service.cipher,
        service.clock_now(),
        format!("{STOCK_SERIAL},{STOCK_SEED}\n").as_bytes(),
    )
    .unwrap();
    let nora = "nora.nationale@aidantsconnect.beta.gouv.fr";
    let created = aidants_connect::admin::create_staff(
        &mut service.conn(),
        &rng,
        &service.cipher,
        Duration::hours(48),
        service.clock_now(),
        nora,
        "Nora",
        "Nationale",
        "admin",
    )
    .unwrap();
    let token = created.token.unwrap().expose().to_owned();
    let uri = authenticator::staff_enrolment(
        &mut service.conn(),
        &service.cipher,
        service.clock_now(),
        &token,
    )
    .unwrap()
    .unwrap()
    .enrolment
    .otpauth_uri(nora);
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let seed = hex::encode(
        data_encoding::BASE32_NOPAD
            .decode(secret.as_bytes())
            .unwrap(),
    );

    let base = service.issuer().to_owned();
    let chrome = Chrome::start("f-equipe-nationale", &base).await;
    chrome
        .open(
            &format!("{base}/administration/enrolement/{token}"),
            "enrolement",
        )
        .await;
    chrome
        .type_in("Code affiché par l'application", &service.next_code(&seed))
        .await;
    chrome.click("Enrôler ma carte", "carte-enrolee").await;
    chrome.expect_text("Votre carte est enrôlée").await;
    chrome.type_in("Adresse électronique", nora).await;
    chrome
        .type_in("Code affiché par votre carte", &service.next_code(&seed))
        .await;
    chrome.click("Se connecter", "administration").await;
    chrome.expect_text("Nora Nationale").await;
    chrome.click("Équipe nationale", "equipe").await;
    chrome
        .expect_text("nora.nationale@aidantsconnect.beta.gouv.fr")
        .await;
    chrome
        .click("Administration", "administration-accueil")
        .await;
    chrome.click("Structures", "structures").await;
    for (label, value) in [
        ("Nom", "France Services de Brest"),
        ("SIRET", "12345678900011"),
        ("Adresse", "2 rue de Siam"),
        ("Code postal", "29200"),
        ("Ville", "Brest"),
        ("Type", "France Services"),
    ] {
        chrome.type_in(label, value).await;
    }
    chrome.click("Créer la structure", "structure-creee").await;
    for (label, value) in [
        ("Adresse électronique professionnelle", chloe),
        ("Prénom", "Chloé"),
        ("Nom", "Première"),
        ("Profession", "Conseillère France Services"),
    ] {
        chrome.type_in(label, value).await;
    }
    chrome.tick("Référent de la structure").await;
    chrome.click("Ajouter", "referente-ajoutee").await;
    chrome
        .click("Activer le compte de Chloé Première", "referente-activee")
        .await;
    chrome.expect_text("Compte activé").await;
    chrome.click("Cartes des aidants", "cartes").await;
    chrome
        .type_in("Adresse électronique de l'aidant", chloe)
        .await;
    chrome
        .type_in("Numéro de série de la carte", STOCK_SERIAL)
        .await;
    chrome.click("Associer la carte", "carte-associee").await;
    chrome
        .expect_text(&format!("Valider la carte de {chloe}"))
        .await;
    chrome
        .type_in("Code affiché par la carte", &service.next_code(STOCK_SEED))
        .await;
    chrome.click("Valider la carte", "carte-validee").await;
    chrome
        .expect_text("Carte validée : l'aidant peut se connecter avec.")
        .await;
    transfer_and_find_it_in_the_journal(&chrome, &service, &base).await;
    aidant_and_card_pages(&chrome, &base).await;
    chrome
        .open(&format!("{base}/administration/"), "retour-administration")
        .await;
    chrome
        .click("Se déconnecter", "deconnexion-administration")
        .await;

    sign_in(&chrome, &service, chloe, STOCK_SEED).await;
    chrome
        .expect_text("Chloé Première — France Services de Brest")
        .await;
    chrome.expect_text("Angela DUBOIS").await;
    chrome.finish().await;
}

/// Nora moves Angela DUBOIS's mandate from the CCAS to the new structure, finds the move in
/// the journal, and checks that the journal holds.
async fn transfer_and_find_it_in_the_journal(chrome: &Chrome, service: &TestService, base: &str) {
    chrome
        .open(
            &format!("{base}/administration/structures?q=CCAS"),
            "structures-ccas",
        )
        .await;
    chrome.click("CCAS de Test A", "structure-ccas").await;
    chrome.tick("Angela DUBOIS").await;
    chrome
        .type_in("Structure qui reprend les mandats", "12345678900011")
        .await;
    chrome
        .click("Transférer les mandats cochés", "mandats-transferes")
        .await;
    chrome.expect_text("1 mandat(s) transféré(s)").await;
    chrome
        .open(&format!("{base}/administration/journal"), "journal")
        .await;
    chrome
        .type_in("Structure (identifiant ou SIRET)", "12345678900011")
        .await;
    chrome.click("Rechercher", "journal-structure").await;
    chrome
        .expect_text("transfert d'un mandat vers une autre structure")
        .await;
    chrome
        .click("Vérifier l'intégrité du journal", "journal-verification")
        .await;
    chrome
        .click("Vérifier le journal maintenant", "verification-demandee")
        .await;
    chrome.expect_text("en cours").await;
    assert_eq!(service.verify_journal(), Some(true));
    chrome
        .open(
            &format!("{base}/administration/journal/verification"),
            "verification-faite",
        )
        .await;
    chrome.expect_text("Journal intact").await;
    chrome
        .open(&format!("{base}/administration/exports"), "exports")
        .await;
    chrome
        .open(
            &format!("{base}/administration/usagers?q=dubois"),
            "usagers",
        )
        .await;
    chrome.expect_text("mandat en cours").await;
}

/// Nora finds Chloé's page and her card's history, records the shipment of the card to
/// the new structure, and previews a mass deactivation that names nobody.
async fn aidant_and_card_pages(chrome: &Chrome, base: &str) {
    chrome
        .open(&format!("{base}/administration/aidants?q=chloé"), "aidants")
        .await;
    chrome
        .click("Chloé Première", "fiche-aidant-administration")
        .await;
    chrome.expect_text("France Services de Brest").await;
    chrome.click(STOCK_SERIAL, "carte-administration").await;
    chrome.expect_text("association d'une carte").await;
    chrome.expect_text("validation d'une carte").await;
    chrome
        .open(
            &format!("{base}/administration/structures?q=12345678900011"),
            "structures-brest",
        )
        .await;
    chrome
        .click("France Services de Brest", "structure-brest")
        .await;
    chrome.type_in("Quantité de cartes", "1").await;
    chrome
        .type_in("Référence de suivi du transporteur", "COLIS-BREST-1")
        .await;
    chrome
        .click("Enregistrer l'envoi", "envoi-enregistre")
        .await;
    chrome.expect_text("Envoi de cartes enregistré.").await;
    chrome
        .open(
            &format!("{base}/administration/aidants/desactivation"),
            "desactivation",
        )
        .await;
    chrome
        .type_in("Adresses électroniques", "personne@exemple.fr")
        .await;
    chrome.click("Voir l'aperçu", "desactivation-apercu").await;
    chrome.expect_text("aucun aidant : ignorée").await;
}

/// The pages anyone reaches: home, statistics, accessibility, a missing page, an unknown
/// attestation, FranceConnect's logout.
async fn public_pages(chrome: &Chrome, base: &str) {
    for (path, step) in [
        ("/", "accueil"),
        ("/statistiques", "statistiques"),
        ("/accessibilite", "accessibilite"),
        ("/page-qui-n-existe-pas", "page-introuvable"),
        (
            "/attestations/verifier?id=inconnue&empreinte=0000",
            "attestation-inconnue",
        ),
        ("/logout", "deconnexion-fc"),
        ("/administration/connexion", "administration-connexion"),
        ("/mon-espace/", "mon-espace-accueil"),
        ("/mentions-legales", "mentions-legales"),
        ("/donnees-personnelles", "donnees-personnelles"),
        ("/aide", "aide"),
        ("/ressources", "ressources"),
        ("/conditions-generales", "conditions-generales"),
        ("/mandats/texte/1", "texte-du-mandat-langues"),
        ("/mandats/texte/1/ar", "traduction-absente"),
    ] {
        chrome.open(&format!("{base}{path}"), step).await;
    }
}

/// The espace aidant's tabs and an usager's page; its revocation form is then posted by a
/// hostile site in the aidant's signed-in browser, even with the right token: the browser
/// sends no cookie across sites, the form is refused and the mandate stays.
async fn cross_site_revocation_is_refused(chrome: &Chrome, base: &str, sim: &str) {
    chrome
        .click("Mandats expirés ou révoqués", "espace-aidant-expires")
        .await;
    chrome.click("Mandats actifs", "espace-aidant-actifs").await;
    chrome.click("Angela DUBOIS", "fiche-usager").await;
    let usager_path = chrome.url().await[base.len()..].to_owned();
    chrome
        .click("Révoquer tout le mandat", "revocation-confirmation")
        .await;
    let form = chrome
        .client
        .find(fantoccini::Locator::Css("form[action$='/revoquer']"))
        .await
        .unwrap();
    let action = format!("{base}{}", form.attr("action").await.unwrap().unwrap());
    let token = form
        .find(fantoccini::Locator::Css("input[name=csrf_token]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    chrome
        .click("Annuler et revenir à l'usager", "fiche-usager-retour")
        .await;
    for (forged, step) in [
        ("faux", "post-intersite-faux-jeton"),
        (token.as_str(), "post-intersite"),
    ] {
        chrome.open(&format!("{sim}/"), "site-hostile").await;
        chrome.expect_at(sim).await;
        chrome
            .forge_post(&action, &[("csrf_token", forged)], step)
            .await;
        chrome.expect_text("Formulaire refusé").await;
    }
    chrome
        .open(&format!("{base}{usager_path}"), "fiche-usager-intacte")
        .await;
    chrome.expect_text("Révoquer tout le mandat").await;
}

/// The référent's request for an aidant refuses one already in the structure (the message at
/// the field); then an aidant's page and the digital card's enrolment.
async fn referent_pages(chrome: &Chrome, service: &TestService, base: &str) {
    chrome
        .open(
            &format!("{base}/espace-referent/aidants/nouveau"),
            "ajouter-aidant",
        )
        .await;
    chrome
        .type_in(
            "Adresse électronique professionnelle",
            &service.fixtures.email_a,
        )
        .await;
    chrome.type_in("Prénom", "Paul").await;
    chrome.type_in("Nom", "Durand").await;
    chrome.type_in("Profession", "Médiateur numérique").await;
    chrome
        .click("Envoyer la demande", "ajouter-aidant-erreur")
        .await;
    chrome
        .expect_text_of("#email-erreur", "fait déjà partie de votre structure")
        .await;
    chrome
        .open(&format!("{base}/espace-referent"), "espace-referent")
        .await;
    chrome.click("Alex Test", "fiche-aidant").await;
    chrome
        .click(
            "Associer une carte numérique (application sur téléphone)",
            "carte-numerique",
        )
        .await;
}

#[tokio::test]
async fn d_the_other_pages_pass_axe_too() {
    let (service, sim) = simulated_service();
    let base = service.issuer().to_owned();
    let chrome = Chrome::start("d-autres-pages", &base).await;
    public_pages(&chrome, &base).await;
    sign_in(
        &chrome,
        &service,
        &service.fixtures.email_referent_a,
        SEED_R,
    )
    .await;
    cross_site_revocation_is_refused(&chrome, &base, &sim).await;

    // Twenty-one minutes later, the journal asks for a fresh code first.
    service.clock.advance(Duration::minutes(21));
    chrome
        .click(
            "Relevé de tout ce que le journal contient sur cet usager (droit d'accès RGPD)",
            "nouveau-code",
        )
        .await;
    chrome
        .type_in("Code de la carte", &service.next_code(SEED_R))
        .await;
    chrome.click("Confirmer", "releve-journal").await;
    chrome
        .expect_text("Ce qu'Aidants Connect a enregistré sur Angela DUBOIS")
        .await;

    referent_pages(&chrome, &service, &base).await;

    // The identity provider asks a signed-in aidant whose code is old for a fresh one.
    service.clock.advance(Duration::minutes(21));
    chrome
        .open(&format!("{sim}/connexion"), "fc-code-a-confirmer")
        .await;
    chrome.expect_text("Confirmez votre identité").await;
    chrome.finish().await;
}

/// The check itself: axe, run as the journeys run it, does see an image without text and a
/// field without label (so zero violations elsewhere means something).
#[tokio::test]
async fn e_the_accessibility_check_finds_broken_markup() {
    let service = TestService::start(Backend::Sqlite);
    let base = service.issuer().to_owned();
    let chrome = Chrome::start("e-controle-axe", &base).await;
    chrome
        .open(&format!("{base}/accessibilite"), "accessibilite")
        .await;
    chrome
        .client
        .execute(
            "const main = document.getElementById('contenu');
             const img = document.createElement('img');
             img.src = '/static/dsfr/favicon/apple-touch-icon.png';
             main.appendChild(img);
             const input = document.createElement('input');
             input.type = 'text';
             main.appendChild(input);",
            vec![],
        )
        .await
        .unwrap();
    let found: Vec<(String, String)> = chrome
        .axe()
        .await
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["impact"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        found.contains(&("image-alt".to_owned(), "critical".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("label".to_owned(), "critical".to_owned())),
        "{found:?}"
    );
    chrome.finish().await;
}

/// (g) A structure asks to be habilitated online: Inès, its issuer, confirms her address by
/// the e-mailed link, fills the request step by step, forgets the commitments then ticks
/// them; Nora, of the national team, asks for a change; Inès makes it and submits again;
/// Nora validates, which creates the structure, its référent and its aidant to train; she
/// gives the référent his card, and he signs in to his espace.
#[tokio::test]
async fn g_a_structure_is_habilitated_from_its_online_request() {
    let (service, _sim) = simulated_service();
    let base = service.issuer().to_owned();
    let ines = "ines.demandeuse@mairie-plouzane.fr";
    let remi = "remi.referent@mairie-plouzane.fr";
    let chrome = Chrome::start("g-habilitation", &base).await;
    chrome
        .open(&format!("{base}/habilitation"), "accueil")
        .await;
    for (label, value) in [
        ("Prénom", "Inès"),
        ("Nom", "Demandeuse"),
        ("Adresse électronique professionnelle", ines),
        ("Téléphone", "02 98 00 00 00"),
        ("Profession ou fonction", "Directrice générale des services"),
    ] {
        chrome.type_in(label, value).await;
    }
    chrome
        .click("Recevoir le lien de confirmation", "lien-envoye")
        .await;
    chrome.expect_text("Consultez votre messagerie").await;
    chrome
        .open(&format!("{base}{}", service.issuer_link(ines)), "lien")
        .await;
    chrome.click("Accéder à mes demandes", "mes-demandes").await;
    chrome
        .type_in("Numéro SIRET de la structure", "21290019700015")
        .await;
    chrome.click("Commencer la demande", "siret-refuse").await;
    chrome.expect_text("Ce numéro SIRET n'est pas valide").await;
    chrome
        .type_in("Numéro SIRET de la structure", "21290019700014")
        .await;
    chrome.click("Commencer la demande", "structure").await;
    for (label, value) in [
        ("Nom de la structure", "Mairie de Plouzané"),
        ("Adresse", "1 place de la Mairie"),
        ("Code postal", "29280"),
        ("Ville", "Plouzané"),
        ("Les missions de la structure", "Accueil des habitants."),
        ("Nombre de démarches prévues par semaine", "25"),
    ] {
        chrome.type_in(label, value).await;
    }
    chrome.choose("Type de structure", "Municipalités").await;
    chrome.tick("Publique").await;
    chrome.tick("Social – Santé").await;
    chrome.click("Enregistrer et continuer", "referent").await;
    for (label, value) in [
        ("Prénom", "Rémi"),
        ("Nom", "Référent"),
        ("Adresse électronique professionnelle", remi),
        ("Téléphone", "02 98 00 00 01"),
        ("Fonction dans la structure", "Responsable de l'accueil"),
    ] {
        chrome.type_in(label, value).await;
    }
    chrome.tick("Le référent sera aussi aidant").await;
    chrome.click("Enregistrer et continuer", "aidants").await;
    for (label, value) in [
        ("Prénom", "Anna"),
        ("Nom", "Aidante"),
        (
            "Adresse électronique professionnelle",
            "anna.aidante@mairie-plouzane.fr",
        ),
        ("Profession ou fonction", "Agent d'accueil"),
    ] {
        chrome.type_in(label, value).await;
    }
    chrome.click("Ajouter cet aidant", "aidant-ajoute").await;
    chrome.expect_text("Anna Aidante").await;
    chrome
        .click("Continuer vers le récapitulatif", "recapitulatif")
        .await;
    chrome
        .click("Soumettre la demande", "engagements-oublies")
        .await;
    chrome.expect_text("4 champs sont à corriger").await;
    for label in [
        "Seuls des professionnels",
        "La structure sait que la formation",
        "Le délégué à la protection des données",
        "J'ai lu et j'accepte",
    ] {
        chrome.tick(label).await;
    }
    chrome.click("Soumettre la demande", "soumise").await;
    chrome.expect_text("Votre demande est soumise").await;
    let request = chrome.url().await;

    nora_signs_in_to_the_back_office(&chrome, &service, &base).await;
    chrome
        .click("Demandes d'habilitation", "file-des-demandes")
        .await;
    let reference = chrome.text_of("td a").await;
    chrome.click(&reference, "demande-a-instruire").await;
    chrome.tick("Demander des modifications").await;
    chrome
        .type_in("Message au demandeur", "Précisez le volume : par mois ?")
        .await;
    chrome
        .click("Enregistrer la décision", "modifications-demandees")
        .await;
    chrome.expect_text("MODIFICATIONS DEMANDÉES").await;

    chrome
        .open(&request.replace("?soumise=1", ""), "a-modifier")
        .await;
    chrome.expect_text("Précisez le volume : par mois ?").await;
    chrome
        .click("Modifier la structure", "structure-a-modifier")
        .await;
    chrome
        .type_in("Nombre de démarches prévues par semaine", "6")
        .await;
    chrome
        .click("Enregistrer et continuer", "referent-inchange")
        .await;
    chrome
        .click("Enregistrer et continuer", "aidants-inchanges")
        .await;
    chrome
        .click("Continuer vers le récapitulatif", "recapitulatif-modifie")
        .await;
    chrome.expect_text("6 par semaine").await;
    for label in [
        "Seuls des professionnels",
        "La structure sait que la formation",
        "Le délégué à la protection des données",
        "J'ai lu et j'accepte",
    ] {
        chrome.tick(label).await;
    }
    chrome
        .click("Soumettre la demande", "soumise-a-nouveau")
        .await;
    chrome.expect_text("Votre demande est soumise").await;

    chrome
        .open(
            &format!("{base}/administration/habilitations"),
            "file-a-nouveau",
        )
        .await;
    chrome.click(&reference, "demande-modifiee").await;
    chrome
        .tick("Valider : créer la structure, son référent et ses aidants")
        .await;
    chrome.click("Enregistrer la décision", "validee").await;
    chrome.expect_text("VALIDÉE").await;
    chrome
        .click("Voir la structure créée", "structure-creee")
        .await;
    chrome.expect_text("Rémi Référent").await;
    chrome.expect_text("Anna Aidante").await;

    // Nora publishes a training session, online, starting in five minutes.
    let soon = paris::local(service.clock_now() + Duration::minutes(5));
    chrome
        .open(&format!("{base}/administration/formations"), "formations")
        .await;
    for (label, value) in [
        ("Date", soon.format("%Y-%m-%d").to_string()),
        ("Heure de début", soon.format("%H:%M").to_string()),
        ("Organisme de formation", "Pix Formation".to_owned()),
        ("Nombre de places", "10".to_owned()),
    ] {
        chrome.type_in(label, &value).await;
    }
    chrome.tick("En ligne").await;
    chrome.click("Publier la session", "session-publiee").await;
    let session_page = chrome.url().await;
    chrome
        .open(&format!("{base}/administration/"), "administration-retour")
        .await;

    chrome.click("Cartes des aidants", "cartes").await;
    chrome
        .type_in("Adresse électronique de l'aidant", remi)
        .await;
    chrome
        .type_in("Numéro de série de la carte", STOCK_SERIAL)
        .await;
    aidants_connect::admin::import_cards(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        service.clock_now(),
        format!("{STOCK_SERIAL},{STOCK_SEED}\n").as_bytes(),
    )
    .unwrap();
    chrome.click("Associer la carte", "carte-associee").await;
    chrome
        .type_in("Code affiché par la carte", &service.next_code(STOCK_SEED))
        .await;
    chrome.click("Valider la carte", "carte-validee").await;
    chrome
        .expect_text("Carte validée : l'aidant peut se connecter avec.")
        .await;
    sign_in(&chrome, &service, remi, STOCK_SEED).await;
    chrome
        .expect_text("Rémi Référent — Mairie de Plouzané")
        .await;
    training_activation_and_first_sign_in(&chrome, &service, &base, &session_page).await;
    chrome.finish().await;
}

/// Journey (g), continued: Rémi asks for one more aidant to train, which Nora validates; he
/// registers Anna on the session; once it began, Nora records
/// her presence and imports her Pix result, which activates her account; Rémi gives her a
/// card, she signs in and makes her first mandate.
async fn training_activation_and_first_sign_in(
    chrome: &Chrome,
    service: &TestService,
    base: &str,
    session_page: &str,
) {
    let anna = "anna.aidante@mairie-plouzane.fr";
    let (serial, seed) = ("GADT0000778", "7878787878787878787878787878787878787878");
    // Rémi asks for one more aidant; Nora validates: Yanis is to train too.
    chrome
        .open(&format!("{base}/espace-referent"), "espace-referent-remi")
        .await;
    chrome
        .click("Demander un nouvel aidant", "demander-aidant")
        .await;
    for (label, value) in [
        ("Prénom", "Yanis"),
        ("Nom", "Nouveau"),
        (
            "Adresse électronique professionnelle",
            "yanis.nouveau@mairie-plouzane.fr",
        ),
        ("Profession ou fonction", "Agent d'accueil"),
    ] {
        chrome.type_in(label, value).await;
    }
    chrome.click("Envoyer la demande", "demande-envoyee").await;
    chrome
        .expect_text("Demande envoyée à l'équipe Aidants Connect.")
        .await;
    chrome
        .open(
            &format!("{base}/administration/demandes-aidants"),
            "demandes-aidants",
        )
        .await;
    chrome.click("Yanis Nouveau", "demande-yanis").await;
    chrome
        .tick("Valider : créer son compte, à activer après sa formation")
        .await;
    chrome
        .click("Enregistrer la décision", "demande-yanis-validee")
        .await;
    chrome.expect_text("VALIDÉE").await;
    chrome
        .open(
            &format!("{base}/espace-referent/formations"),
            "formations-referent",
        )
        .await;
    chrome
        .expect_text("Yanis Nouveau : pas encore inscrit")
        .await;
    chrome
        .expect_text("Anna Aidante : pas encore inscrit")
        .await;
    chrome
        .expect_text("Rémi Référent : pas encore inscrit")
        .await;
    chrome.choose("Aidant à inscrire", "Anna Aidante").await;
    chrome.click("Inscrire l'aidant", "aidant-inscrit").await;
    chrome.expect_text("Inscription enregistrée.").await;

    service.clock.advance(Duration::minutes(6));
    chrome.open(session_page, "session-commencee").await;
    chrome.tick("Anna Aidante (Mairie de Plouzané)").await;
    chrome.click("Enregistrer les présences", "presences").await;
    chrome.expect_text("Présences enregistrées.").await;
    chrome
        .open(
            &format!("{base}/administration/formations"),
            "formations-pix",
        )
        .await;
    chrome
        .type_in("Résultats Pix", &format!("{anna};réussi"))
        .await;
    chrome.click("Importer les résultats", "pix-importe").await;
    chrome.expect_text("1 compte(s) activé(s)").await;

    aidants_connect::admin::import_cards(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        service.clock_now(),
        format!("{serial},{seed}\n").as_bytes(),
    )
    .unwrap();
    chrome
        .open(&format!("{base}/espace-referent"), "espace-referent")
        .await;
    chrome.click("Anna Aidante", "fiche-anna").await;
    chrome
        .type_in("Numéro de série de la carte physique", serial)
        .await;
    chrome
        .click("Associer la carte", "carte-anna-associee")
        .await;
    service.clock.advance(Duration::seconds(30));
    chrome
        .type_in("Code affiché par la carte à valider", &service.code(seed))
        .await;
    chrome.click("Valider la carte", "carte-anna-validee").await;
    chrome
        .expect_text(&format!("carte {serial} : active"))
        .await;
    chrome
        .click("Espace référent", "retour-espace-referent")
        .await;
    chrome.click("Se déconnecter", "deconnexion").await;
    sign_in(chrome, service, anna, seed).await;
    chrome
        .expect_text("Anna Aidante — Mairie de Plouzané")
        .await;

    // Her first mandate, with Fatou present, identified at FranceConnect.
    chrome.click("Créer un mandat", "premier-mandat").await;
    chrome.tick("Argent").await;
    chrome.tick("1 mois (31 jours)").await;
    chrome.tick("Oui, l'usager est présent").await;
    chrome
        .click("S'identifier avec FranceConnect", "franceconnect")
        .await;
    chrome.tick("Fatou").await;
    chrome.click("Continuer", "recapitulatif").await;
    chrome
        .tick("L'usager a lu ce récapitulatif et consent au mandat.")
        .await;
    chrome.click("Créer le mandat", "attestation").await;
    chrome.expect_at("/attestations/").await;
    chrome.expect_text_of("#usager", "Fatou").await;
    chrome.expect_text("Mairie de Plouzané").await;
}

/// (h) The aidant, from the draft mandate, reads the mandate's text in Arabic with the usager:
/// the listing names every language (with or without its reviewed translation), the print sets
/// the Arabic column right to left beside the authoritative French text. The translation is the
/// tests' own (none is published yet).
#[tokio::test]
async fn h_the_mandate_text_is_printed_beside_its_translation() {
    let (service, _sim) = TestService::start_with_simulator_adjusted(
        Backend::Postgres,
        "localhost",
        &|_| {},
        ac_tests::translated_into_arabic(),
    );
    let chrome = Chrome::start("h-traduction", service.issuer()).await;
    draft_for_argent(&chrome, &service).await;
    chrome
        .click("Lire ce texte dans une autre langue", "langues")
        .await;
    chrome
        .expect_text_of("#langue-en", "pas encore de traduction relue en anglais")
        .await;
    chrome
        .click(
            "العربية\u{a0}: lire le mandat en arabe, à côté du texte français",
            "traduction-arabe",
        )
        .await;
    chrome.expect_at("/mandats/texte/1/ar").await;
    chrome
        .expect_text_of(
            "#fait-foi",
            "Seul le texte en français a une valeur juridique.",
        )
        .await;

    // The translated column is laid out right to left: its text starts at the cell's right.
    let layout = chrome
        .client
        .execute(
            "const cell = document.querySelector('#cote-a-cote td.traduit'); \
             const range = document.createRange(); range.selectNodeContents(cell); \
             const text = range.getBoundingClientRect(), box = cell.getBoundingClientRect(); \
             const french = document.querySelector('#cote-a-cote td'); \
             return { dir: getComputedStyle(cell).direction, lang: cell.lang, \
                      french: getComputedStyle(french).direction, \
                      notice: getComputedStyle(document.querySelector('#avertissement')).direction, \
                      right: box.right - text.right, left: text.left - box.left };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout["dir"], "rtl", "{layout}");
    assert_eq!(layout["lang"], "ar", "{layout}");
    assert_eq!(layout["notice"], "rtl", "{layout}");
    assert_eq!(layout["french"], "ltr", "{layout}");
    assert!(
        layout["right"].as_f64().unwrap() < layout["left"].as_f64().unwrap(),
        "the Arabic text is not set against the cell's right edge: {layout}"
    );

    // Printed on A4, kept beside the screenshots.
    assert!(chrome.print_a4("texte-arabe.pdf").await >= 1);
    chrome.finish().await;
}
