//! The national team's back office, its first door: a member created by the command line
//! enrols their card through a single-use link, signs in at `/administration` with the one
//! answer of every failed sign-in, under a cookie sent to `/administration` only, for a
//! session that ends when idle and at sign-out; each step is journaled on the national chain.

use ac_tests::{on_both_backends, Backend, Browser, Page, TestService, SEED_A};
use aidants_connect::admin;
use chrono::Duration;
use ring::rand::SystemRandom;

const EMAIL: &str = "nora.nationale@aidantsconnect.beta.gouv.fr";

/// The seed an authentication application reads from the enrolment's QR code.
fn scanned_seed(service: &TestService, token: &str) -> Vec<u8> {
    let enrolment = authenticator::staff_enrolment(
        &mut service.conn(),
        &service.cipher,
        service.clock_now(),
        token,
    )
    .unwrap()
    .expect("the link works");
    let uri = enrolment.enrolment.otpauth_uri(EMAIL);
    let secret = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap();
    data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap()
}

/// A code the application shows at the next 30-second step.
fn next_code(service: &TestService, seed: &[u8]) -> String {
    service.clock.advance(Duration::seconds(30));
    authenticator::card_code_at(seed, service.clock_now())
}

/// The national chain's actions, in order.
fn national_actions(service: &TestService) -> Vec<String> {
    journal::chain_entries(&mut service.conn(), journal::NATIONAL_CHAIN)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn sign_in(service: &TestService, browser: &Browser, email: &str, code: &str) -> Page {
    browser
        .post_from(
            service.issuer(),
            "/administration/connexion",
            "/administration/connexion",
            &[("email", email), ("otp", code)],
        )
        .await
}

/// Nora, administrator, created by the command line: her link shows her card once, refuses a
/// wrong code, validates a right one, and then works no more.
async fn a_member_enrols_through_a_single_use_link(service: &TestService) -> Vec<u8> {
    let created = admin::create_staff(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        Duration::hours(service.config.staff.enrolment_hours),
        service.clock_now(),
        EMAIL,
        "Nora",
        "Nationale",
        "admin",
    )
    .unwrap();
    assert!(matches!(
        admin::create_staff(
            &mut service.conn(),
            &SystemRandom::new(),
            &service.cipher,
            Duration::hours(service.config.staff.enrolment_hours),
            service.clock_now(),
            EMAIL,
            "Nora",
            "Bis",
            "admin",
        ),
        Err(admin::AdminError::Refused(_))
    ));
    let token = created.token.unwrap().expose().to_owned();
    let link = format!("/administration/enrolement/{token}");
    let browser = Browser::new();
    let page = browser.get(&format!("{}{link}", service.issuer())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.shows("administration-enrolement"));
    assert!(page.body.contains("src=\"data:image/svg+xml;base64,"));
    let seed = scanned_seed(service, &token);

    let wrong = browser
        .post_from(service.issuer(), &link, &link, &[("otp", "12345x")])
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("Code incorrect"), "{}", wrong.body);
    let right = next_code(service, &seed);
    let done = browser
        .post_from(service.issuer(), &link, &link, &[("otp", &right)])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/administration/connexion?enrole=1")
    );
    let dead = browser.get(&format!("{}{link}", service.issuer())).await;
    assert_eq!(dead.status, 404);
    assert!(
        dead.body.contains("enrôlement inutilisable"),
        "{}",
        dead.body
    );
    seed
}

/// A wrong code and an unknown address get the same answer; the right code opens a session
/// whose cookie goes to `/administration` only, strictly same-site.
async fn sign_in_answers_alike_and_scopes_its_cookie(
    service: &TestService,
    seed: &[u8],
) -> Browser {
    let browser = Browser::new();
    let unknown = sign_in(service, &browser, "inconnu@exemple.fr", "123456").await;
    assert_eq!(unknown.status, 422);
    service.clock.advance(Duration::minutes(5));
    let wrong = sign_in(service, &browser, EMAIL, "000000").await;
    assert_eq!(wrong.status, 422);
    let message = |page: &Page| {
        let start = page.body.find("id=\"erreur-connexion\"").unwrap();
        page.body[start..start + 200].to_owned()
    };
    assert_eq!(message(&unknown), message(&wrong));

    service.clock.advance(Duration::minutes(5));
    let code = next_code(service, seed);
    let signed = sign_in(service, &browser, EMAIL, &code).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/administration/"));
    let cookie = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ac_equipe="))
        .expect("the staff session cookie");
    for flag in ["Path=/administration", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let home = browser
        .get(&format!("{}/administration/", service.issuer()))
        .await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.shows("administration"));
    assert!(home.body.contains("Nora Nationale"));
    assert!(home
        .body
        .contains("<span id=\"role\">administrateur</span>"));
    browser
}

async fn the_back_office_has_its_own_door(backend: Backend) {
    let service = TestService::start(backend);
    let seed = a_member_enrols_through_a_single_use_link(&service).await;
    let nora = sign_in_answers_alike_and_scopes_its_cookie(&service, &seed).await;
    let base = service.issuer().to_owned();

    // An aidant's session is not a staff session.
    let alex = Browser::new();
    service
        .sign_in(&alex, &service.fixtures.email_a, SEED_A)
        .await;
    let refused = alex.get(&format!("{base}/administration/")).await;
    assert_eq!(refused.status, 303);
    assert_eq!(
        refused.location.as_deref(),
        Some("/administration/connexion")
    );

    // Idle for longer than the staff's idle lifetime: signed out.
    service.clock.advance(Duration::minutes(16));
    let idle = nora.get(&format!("{base}/administration/")).await;
    assert_eq!(idle.status, 303);

    // Signed in again, then out.
    let code = next_code(&service, &seed);
    assert_eq!(sign_in(&service, &nora, EMAIL, &code).await.status, 303);
    let out = nora
        .post_from(
            &base,
            "/administration/",
            "/administration/deconnexion",
            &[],
        )
        .await;
    assert_eq!(out.status, 303);
    let after = nora.get(&format!("{base}/administration/")).await;
    assert_eq!(after.status, 303);

    // A forged form signs no one in.
    let forged = nora
        .post(
            &format!("{base}/administration/connexion"),
            &[("email", EMAIL), ("otp", "123456"), ("csrf_token", "x")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    let actions = national_actions(&service);
    let count = |action: &str| actions.iter().filter(|a| *a == action).count();
    assert_eq!(count("create_staff"), 1, "{actions:?}");
    assert_eq!(count("enrol_staff"), 1);
    assert_eq!(count("connect_staff"), 2);
}

/// Wrong codes lock a member's card as they lock an aidant's, journaled.
async fn wrong_codes_lock_a_members_card(backend: Backend) {
    let service = TestService::start(backend);
    let seed = a_member_enrols_through_a_single_use_link(&service).await;
    let browser = Browser::new();
    let max = service.config.session.max_failures;
    for _ in 0..max {
        service.clock.advance(Duration::hours(1));
        let refused = sign_in(&service, &browser, EMAIL, "000000").await;
        assert_eq!(refused.status, 422);
    }
    assert!(national_actions(&service)
        .iter()
        .any(|a| a == "lock_otp_card"));
    let code = next_code(&service, &seed);
    assert_eq!(
        sign_in(&service, &browser, EMAIL, &code).await.status,
        422,
        "the right code is refused while the card is locked"
    );
}

/// A card in stock and the seeds of the cards of this scenario.
const STOCK_SERIAL: &str = "GADT0000999";
const STOCK_SEED: &str = "5374616666207374636b20636172642030393939";
const NORA_SEED: &str = "4e6f7261206e6174696f6e616c652063617264";
const ANA_SEED: &str = "416e612061756469747269636520636172643031";

/// A member with a card already validated (`Known`), signed in in a new browser.
async fn member_signed_in(
    service: &TestService,
    email: &str,
    serial: &str,
    seed_hex: &str,
    role: authenticator::StaffRole,
) -> Browser {
    authenticator::create_staff(
        &mut service.conn(),
        &SystemRandom::new(),
        &service.cipher,
        service.clock_now(),
        authenticator::NewStaff {
            email,
            first_name: "Membre",
            last_name: "Équipe",
            role,
        },
        authenticator::StaffCard::Known { serial, seed_hex },
        None,
    )
    .unwrap()
    .unwrap();
    let browser = Browser::new();
    let code = service.next_code(seed_hex);
    assert_eq!(sign_in(service, &browser, email, &code).await.status, 303);
    browser
}

/// Ana, auditor, signed in.
pub(crate) async fn auditor_signed_in(service: &TestService) -> Browser {
    member_signed_in(
        service,
        "ana.auditrice@aidantsconnect.beta.gouv.fr",
        "EQANA0000001",
        ANA_SEED,
        authenticator::StaffRole::Auditor,
    )
    .await
}

/// Nora, administrator, signed in.
pub(crate) async fn admin_signed_in(service: &TestService) -> Browser {
    member_signed_in(
        service,
        EMAIL,
        "EQNORA000001",
        NORA_SEED,
        authenticator::StaffRole::Admin,
    )
    .await
}

/// Whether the stock card is still free.
fn stock_card_free(service: &TestService) -> bool {
    authenticator::card_by_serial(&mut service.conn(), STOCK_SERIAL)
        .unwrap()
        .unwrap()
        .aidant_id
        .is_none()
}

/// Chloé, first référent of a structure, created by the command line without a card: an
/// auditor may not equip her (nothing is written); an administrator associates the stock card,
/// a wrong code keeps what was typed, the right one validates it, and Chloé signs in.
async fn the_national_team_equips_a_first_referent(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    let rng = SystemRandom::new();
    let chloe = "chloe.premiere@ccas-test.fr";
    admin::create_aidant(
        &mut service.conn(),
        &rng,
        service.clock_now(),
        &admin::AidantInput {
            email: chloe.into(),
            first_name: "Chloé".into(),
            last_name: "Première".into(),
            profession: String::new(),
            phone: String::new(),
            siret: "11111111100011".into(),
            referent: true,
        },
    )
    .unwrap();
    admin::activate_aidant(&mut service.conn(), &rng, service.clock_now(), chloe).unwrap();
    store::write_transaction(&mut service.conn(), |tx| {
        authenticator::create_card(
            tx,
            &rng,
            &service.cipher,
            service.clock_now(),
            authenticator::NewCard {
                serial: STOCK_SERIAL,
                seed_hex: STOCK_SEED,
                kind: authenticator::CardKind::Physical,
                aidant_id: None,
                validated: false,
            },
        )
    })
    .unwrap();

    let ana = auditor_signed_in(&service).await;
    assert_eq!(
        ana.get(&format!("{base}/administration/cartes"))
            .await
            .status,
        403
    );
    let refused = ana
        .post_from(
            &base,
            "/administration/",
            "/administration/cartes/associer",
            &[("aidant", chloe), ("serial", STOCK_SERIAL)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(stock_card_free(&service), "nothing written on refusal");

    let nora = admin_signed_in(&service).await;
    let cards = "/administration/cartes";
    let unknown = nora
        .post_from(
            &base,
            cards,
            "/administration/cartes/associer",
            &[("aidant", "personne@exemple.fr"), ("serial", STOCK_SERIAL)],
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.body.contains("cette adresse électronique."),
        "{}",
        unknown.body
    );
    assert!(
        unknown.body.contains("value=\"GADT0000999\""),
        "what was typed stays"
    );
    let associated = nora
        .post_from(
            &base,
            cards,
            "/administration/cartes/associer",
            &[("aidant", chloe), ("serial", &STOCK_SERIAL.to_lowercase())],
        )
        .await;
    assert_eq!(associated.status, 303, "{}", associated.body);
    let validation = associated.location.unwrap();
    assert!(validation.contains("fait=associee"), "{validation}");
    let wrong = nora
        .post_from(
            &base,
            &validation,
            "/administration/cartes/valider",
            &[("aidant", chloe), ("otp", "12345x")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("Code incorrect"), "{}", wrong.body);
    assert!(wrong.body.contains(&format!("Valider la carte de {chloe}")));
    let code = service.next_code(STOCK_SEED);
    let validated = nora
        .post_from(
            &base,
            &validation,
            "/administration/cartes/valider",
            &[("aidant", chloe), ("otp", &code)],
        )
        .await;
    assert_eq!(validated.status, 303, "{}", validated.body);

    service.sign_in(&Browser::new(), chloe, STOCK_SEED).await;

    let entries = journal::chain_entries(&mut service.conn(), journal::NATIONAL_CHAIN).unwrap();
    let nora_id = nora_id(&service);
    for action in ["card_association", "card_validation"] {
        let entry = entries.iter().rfind(|e| e.action == action).unwrap();
        assert_eq!(entry.subject, STOCK_SERIAL);
        assert!(
            entry.details.contains(&format!("\"staff\":\"{nora_id}\"")),
            "{}",
            entry.details
        );
    }
}

/// Nora's staff id.
fn nora_id(service: &TestService) -> String {
    use diesel::prelude::*;
    store::schema::staff::table
        .filter(store::schema::staff::email.eq(EMAIL))
        .select(store::schema::staff::id)
        .first(&mut service.conn())
        .unwrap()
}

/// A structure and its référent made from the back office: an auditor sees the structures but
/// may create none; an administrator's wrong postcode is refused with what was typed kept;
/// the structure is found by name, case aside, and by département; its référent is added
/// pending activation, then activated (her welcome is written), each step journaled with the
/// member's id.
async fn a_structure_and_its_referent_are_made_from_the_back_office(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    let list = "/administration/structures";
    let fields = |zipcode: &'static str| {
        vec![
            ("name", "France Services de Brest"),
            ("siret", "12345678900011"),
            ("address", "2 rue de Siam"),
            ("zipcode", zipcode),
            ("city", "Brest"),
            ("kind", "France Services"),
        ]
    };
    let ana = auditor_signed_in(&service).await;
    let seen = ana.get(&format!("{base}{list}")).await;
    assert_eq!(seen.status, 200);
    assert!(!seen.body.contains("Créer la structure"));
    let refused = ana
        .post_from(&base, "/administration/", list, &fields("29200"))
        .await;
    assert_eq!(refused.status, 403);
    let found = |q: &str| {
        accounts::search_organisations(&mut service.conn(), q, 50)
            .unwrap()
            .len()
    };
    assert_eq!(found("brest"), 0, "nothing written on refusal");

    let nora = admin_signed_in(&service).await;
    let wrong = nora.post_from(&base, list, list, &fields("2920")).await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("code postal invalide"),
        "{}",
        wrong.body
    );
    assert!(wrong.body.contains("value=\"France Services de Brest\""));
    let created = nora.post_from(&base, list, list, &fields("29200")).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let page = created.location.unwrap();
    for q in ["BREST", "29", "12345678900011"] {
        let results = nora.get(&format!("{base}{list}?q={q}")).await;
        assert!(results.body.contains(&format!("href=\"{page}\"")), "{q}");
    }
    assert_eq!(found("ccas de test"), 1, "the fixture A only");

    let referent = [
        ("email", "lea.martin@fs-brest.fr"),
        ("first_name", "Léa"),
        ("last_name", "Martin"),
        ("profession", "Conseillère"),
        ("referent", "1"),
    ];
    let added = nora
        .post_from(&base, &page, &format!("{page}/aidants"), &referent)
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let again = nora
        .post_from(&base, &page, &format!("{page}/aidants"), &referent)
        .await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("fait déjà partie de la structure"));
    let shown = nora.get(&format!("{base}{page}")).await;
    assert!(shown
        .body
        .contains("aria-label=\"Activer le compte de Léa Martin\""));
    let activated = nora
        .post_from(
            &base,
            &page,
            &format!("{page}/activer"),
            &[("email", "lea.martin@fs-brest.fr")],
        )
        .await;
    assert_eq!(activated.status, 303, "{}", activated.body);
    let lea = accounts::find_aidant_by_email(&mut service.conn(), "lea.martin@fs-brest.fr")
        .unwrap()
        .unwrap();
    assert!(lea.active);
    let welcome: i64 = {
        use diesel::prelude::*;
        store::schema::outbox::table
            .filter(store::schema::outbox::recipient.eq("lea.martin@fs-brest.fr"))
            .filter(store::schema::outbox::kind.eq("welcome"))
            .count()
            .get_result(&mut service.conn())
            .unwrap()
    };
    assert_eq!(welcome, 1);

    let tagged = format!("\"staff\":\"{}\"", nora_id(&service));
    let organisation = page.rsplit('/').next().unwrap().to_owned();
    let national = journal::chain_entries(&mut service.conn(), journal::NATIONAL_CHAIN).unwrap();
    for action in [
        "create_organisation",
        "activate_aidant",
        "add_aidant",
        "designate_referent",
    ] {
        let entry = national.iter().rfind(|e| e.action == action).unwrap();
        assert_eq!(
            entry.organisation_id.as_ref().map(|o| o.as_str()),
            (action != "activate_aidant").then_some(organisation.as_str()),
            "{action} names the structure"
        );
        assert!(
            entry.details.contains(&tagged),
            "{action}: {}",
            entry.details
        );
    }
}

/// Only an administrator sees the team and adds to it: a refused form keeps what was typed; a
/// new member's link is shown once and works; the new support member may not manage the team.
async fn an_administrator_adds_a_member_who_enrols(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    let team = "/administration/equipe";
    let ana = auditor_signed_in(&service).await;
    assert_eq!(ana.get(&format!("{base}{team}")).await.status, 403);
    let nora = admin_signed_in(&service).await;
    let sam = "sam.support@aidantsconnect.beta.gouv.fr";
    let fields = [
        ("email", sam),
        ("first_name", "Sam"),
        ("last_name", "Support"),
    ];
    let no_role = nora.post_from(&base, team, team, &fields).await;
    assert_eq!(no_role.status, 422);
    assert!(no_role.body.contains("Choisissez le rôle du membre."));
    assert!(no_role.body.contains(&format!("value=\"{sam}\"")));
    let mut with_role = fields.to_vec();
    with_role.push(("role", "support"));
    let created = nora.post_from(&base, team, team, &with_role).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let marker = "/administration/enrolement/";
    let start = created.body.find(marker).expect("the link is shown");
    let token: String = created.body[start + marker.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(
        !nora
            .get(&format!("{base}{team}"))
            .await
            .body
            .contains(&token),
        "shown once"
    );

    let seed = scanned_seed(&service, &token);
    let link = format!("{marker}{token}");
    let browser = Browser::new();
    let code = next_code(&service, &seed);
    let enrolled = browser
        .post_from(&base, &link, &link, &[("otp", &code)])
        .await;
    assert_eq!(enrolled.status, 303, "{}", enrolled.body);
    let code = next_code(&service, &seed);
    assert_eq!(sign_in(&service, &browser, sam, &code).await.status, 303);
    let home = browser.get(&format!("{base}/administration/")).await;
    assert!(home.body.contains("<span id=\"role\">support</span>"));
    assert!(!home.body.contains("/administration/equipe"));
    assert_eq!(browser.get(&format!("{base}{team}")).await.status, 403);

    let entry = journal::chain_entries(&mut service.conn(), journal::NATIONAL_CHAIN)
        .unwrap()
        .into_iter()
        .rfind(|e| e.action == "create_staff")
        .unwrap();
    assert!(
        entry
            .details
            .contains(&format!("\"staff\":\"{}\"", nora_id(&service))),
        "{}",
        entry.details
    );
}

on_both_backends!(
    an_administrator_adds_a_member_who_enrols,
    the_back_office_has_its_own_door,
    wrong_codes_lock_a_members_card,
    the_national_team_equips_a_first_referent,
    a_structure_and_its_referent_are_made_from_the_back_office
);

/// An administrator's change to the member `id`, posted from the home page.
async fn change(
    service: &TestService,
    browser: &Browser,
    id: &str,
    fields: &[(&str, &str)],
) -> Page {
    browser
        .post_from(
            service.issuer(),
            "/administration/",
            &format!("/administration/equipe/{id}"),
            fields,
        )
        .await
}

/// The id of the member with this address.
fn member_id(service: &TestService, email: &str) -> String {
    authenticator::staff_members(&mut service.conn())
        .unwrap()
        .into_iter()
        .find(|(m, _)| m.email == email)
        .unwrap()
        .0
        .id
        .to_string()
}

/// Nora, administrator, changes Ana: an auditor may not, the last administrator cannot demote
/// herself, Ana made support reaches the cards at once, deactivated she is signed out, given a
/// new enrolment link her old card no longer signs in and the link opens her new card.
async fn an_administrator_changes_a_member(backend: Backend) {
    let service = TestService::start(backend);
    let base = service.issuer().to_owned();
    let ana_email = "ana.auditrice@aidantsconnect.beta.gouv.fr";
    let ana = auditor_signed_in(&service).await;
    let nora = admin_signed_in(&service).await;
    let (ana_id, nora_id) = (member_id(&service, ana_email), member_id(&service, EMAIL));
    let edits = |service: &TestService| {
        journal::entries_by_action(&mut service.conn(), journal::Action::EditStaff)
            .unwrap()
            .len()
    };

    let refused = change(&service, &ana, &nora_id, &[("action", "desactiver")]).await;
    assert_eq!(refused.status, 403);
    let last = change(
        &service,
        &nora,
        &nora_id,
        &[("action", "role"), ("role", "support")],
    )
    .await;
    assert_eq!(last.status, 422, "{}", last.body);
    assert!(
        last.body.contains("au moins un administrateur"),
        "{}",
        last.body
    );
    assert_eq!(edits(&service), 0);

    assert_eq!(
        ana.get(&format!("{base}/administration/cartes"))
            .await
            .status,
        403
    );
    let promoted = change(
        &service,
        &nora,
        &ana_id,
        &[("action", "role"), ("role", "support")],
    )
    .await;
    assert_eq!(promoted.status, 303, "{}", promoted.body);
    assert_eq!(
        ana.get(&format!("{base}/administration/cartes"))
            .await
            .status,
        200,
        "the new role applies at once"
    );

    let off = change(&service, &nora, &ana_id, &[("action", "desactiver")]).await;
    assert_eq!(off.status, 303);
    let home = ana.get(&format!("{base}/administration/cartes")).await;
    assert_eq!(home.status, 303, "her session ended");
    let inactive = change(&service, &nora, &ana_id, &[("action", "lien")]).await;
    assert_eq!(inactive.status, 422, "{}", inactive.body);
    assert!(
        inactive.body.contains("Réactivez d&#39;abord ce membre"),
        "{}",
        inactive.body
    );
    let on = change(&service, &nora, &ana_id, &[("action", "reactiver")]).await;
    assert_eq!(on.status, 303);

    let link = change(&service, &nora, &ana_id, &[("action", "lien")]).await;
    assert_eq!(link.status, 200, "{}", link.body);
    assert!(
        link.body.contains("Nouveau lien d&#39;enrôlement"),
        "{}",
        link.body
    );
    let token = link
        .body
        .split("/administration/enrolement/")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    let old_code = service.next_code(ANA_SEED);
    assert_eq!(
        sign_in(&service, &Browser::new(), ana_email, &old_code)
            .await
            .status,
        422,
        "the old card is out of service"
    );
    let enrol = Browser::new()
        .get(&format!("{base}/administration/enrolement/{token}"))
        .await;
    assert_eq!(enrol.status, 200, "{}", enrol.body);
    assert_eq!(edits(&service), 4);
    assert!(
        journal::entries_by_action(&mut service.conn(), journal::Action::EditStaff)
            .unwrap()
            .iter()
            .all(|e| e.details.contains("\"staff\":"))
    );
}

on_both_backends!(an_administrator_changes_a_member);

/// Sam, support, signed in.
pub(crate) async fn support_signed_in(service: &TestService) -> Browser {
    member_signed_in(
        service,
        "sam.support@aidantsconnect.beta.gouv.fr",
        "EQSAM0000001",
        SAM_SEED,
        authenticator::StaffRole::Support,
    )
    .await
}

const SAM_SEED: &str = "53616d20737570706f7274206361726420303031";

/// Théo, of a training body, signed in.
pub(crate) async fn trainer_signed_in(service: &TestService) -> Browser {
    member_signed_in(
        service,
        "theo.formateur@pix-formation.fr",
        "EQTHEO000001",
        "5468656f20666f726d61746575722063617264",
        authenticator::StaffRole::Trainer,
    )
    .await
}

/// Sam, support, manages accounts and cards but is refused what only an administrator does:
/// the team, transfers and erasure (nothing written).
async fn the_support_manages_accounts_but_not_the_team_transfers_or_erasure(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let base = service.issuer().to_owned();
    let sam = support_signed_in(&service).await;
    admin_signed_in(&service).await;
    let nora_id = member_id(&service, EMAIL);

    assert_eq!(
        sam.get(&format!("{base}/administration/equipe"))
            .await
            .status,
        403
    );
    let refused = change(&service, &sam, &nora_id, &[("action", "desactiver")]).await;
    assert_eq!(refused.status, 403);
    let siret_b = accounts::organisation(&mut service.conn(), &f.org_b)
        .unwrap()
        .unwrap()
        .siret;
    let transfer = sam
        .post_from(
            &base,
            "/administration/",
            &format!("/administration/structures/{}/transfert", f.org_a),
            &[("vers", siret_b.as_str()), ("portee", "tous")],
        )
        .await;
    assert_eq!(transfer.status, 403, "{}", transfer.body);
    let erase = sam
        .post_from(
            &base,
            "/administration/",
            &format!("/administration/usagers/{}/effacer", f.usager_expired.id),
            &[("reference", "TICKET-9")],
        )
        .await;
    assert_eq!(erase.status, 403);
    for action in [
        journal::Action::EditStaff,
        journal::Action::TransferMandat,
        journal::Action::EraseUsager,
    ] {
        assert!(
            journal::entries_by_action(&mut service.conn(), action)
                .unwrap()
                .is_empty(),
            "{action:?} written"
        );
    }

    assert_eq!(
        sam.get(&format!("{base}/administration/cartes"))
            .await
            .status,
        200
    );
    let moved = sam
        .post_from(
            &base,
            "/administration/",
            &format!(
                "/administration/aidants/{}/structures/{}",
                f.aidant_a, f.org_a
            ),
            &[("action", "desactiver")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    assert!(
        !accounts::member(&mut service.conn(), &f.org_a, &f.aidant_a)
            .unwrap()
            .unwrap()
            .active
    );
}

on_both_backends!(the_support_manages_accounts_but_not_the_team_transfers_or_erasure);
