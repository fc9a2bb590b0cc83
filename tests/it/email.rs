//! E-mail through a real SMTP server on loopback: what each message says, to whom, with which
//! links; an SMTP server that refuses, is down or too slow leaves the action done and the
//! message queued or given up; two instances never send a message twice, and a message whose
//! sender died before marking it is sent again once.

use ac_tests::{on_both_backends, Backend, Browser, SmtpSink, TestService, SEED_R};
use aidants_connect::admin;
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SystemRandom;
use store::schema::outbox;

/// A service that sends through `sink`.
fn service_sending_to(backend: Backend, sink: &SmtpSink) -> TestService {
    TestService::start_sending_to(backend, sink, &|_| {})
}

/// Chloé, a second référent of structure A, created and activated as the national team's CLI
/// does; the e-mails of her activation are delivered and the sink emptied.
fn second_referent_of_a(service: &TestService, sink: &SmtpSink, email: &str) {
    admin::create_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        &admin::AidantInput {
            email: email.into(),
            first_name: "Chloé".into(),
            last_name: "Seconde".into(),
            profession: String::new(),
            phone: String::new(),
            siret: "11111111100011".into(),
            referent: true,
        },
    )
    .unwrap();
    admin::activate_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        email,
    )
    .unwrap();
    service.deliver_emails();
    sink.clear();
}

/// Rita, référent of A, signed in; the path of Alex's page in her espace.
async fn rita_on_alex_page(service: &TestService) -> (Browser, String) {
    let rita = Browser::new();
    service
        .sign_in(&rita, &service.fixtures.email_referent_a, SEED_R)
        .await;
    (
        rita,
        format!("/espace-referent/aidants/{}", service.fixtures.aidant_a),
    )
}

/// Rita dissociates Alex's card (GADT0000101) for `reason`, through her espace.
async fn rita_takes_alex_card(service: &TestService, reason: &str) {
    let (rita, page) = rita_on_alex_page(service).await;
    let card = authenticator::card_by_serial(&mut service.conn(), "GADT0000101")
        .unwrap()
        .unwrap();
    let done = rita
        .post_from(
            service.issuer(),
            &page,
            &format!("{page}/cartes/{}/dissocier", card.id),
            &[("motif", reason)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
}

/// Messages waiting to be sent (neither sent nor given up).
fn queued(service: &TestService) -> i64 {
    outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .count()
        .get_result(&mut service.conn())
        .unwrap()
}

/// Rita takes Alex's card: Alex is told in his words, Chloé (the other référent) in hers,
/// Rita (who did it) gets nothing; subjects name no one but the aidant, links are absolute.
async fn a_dissociated_card_is_told_to_the_aidant_and_the_other_referents(backend: Backend) {
    let sink = SmtpSink::start();
    let service = service_sending_to(backend, &sink);
    let f = service.fixtures.clone();
    second_referent_of_a(&service, &sink, "chloe.seconde@ccas-test.fr");
    rita_takes_alex_card(&service, "perte").await;
    assert!(sink.received().is_empty(), "nothing leaves before delivery");
    assert_eq!(queued(&service), 2);

    let delivery = service.deliver_emails();
    assert_eq!(
        (delivery.sent, delivery.deferred, delivery.failed),
        (2, 0, 0)
    );
    let to_alex = sink.to(&f.email_a);
    assert_eq!(to_alex.len(), 1);
    let alex = &to_alex[0];
    assert_eq!(
        alex.subject,
        "Votre carte Aidants Connect vous a été retirée"
    );
    assert_eq!(alex.from, "nepasrepondre@aidantsconnect.beta.gouv.fr");
    assert_eq!(alex.reply_to.as_deref(), Some("contact@aidants.example"));
    assert!(
        alex.text.contains("Votre carte GADT0000101"),
        "{}",
        alex.text
    );
    assert!(alex.text.contains("Motif : carte perdue."), "{}", alex.text);
    let login = format!("{}/connexion", service.issuer());
    assert!(alex.text.contains(&login), "{}", alex.text);
    assert!(
        alex.html.contains(&format!("href=\"{login}\"")),
        "{}",
        alex.html
    );
    assert!(alex.html.contains("lang=\"fr\""));

    let to_chloe = sink.to("chloe.seconde@ccas-test.fr");
    assert_eq!(to_chloe.len(), 1);
    assert_eq!(to_chloe[0].subject, "Une carte a été retirée à Alex Test");
    assert!(to_chloe[0]
        .text
        .contains(&format!("{}/espace-referent", service.issuer())));
    assert!(
        sink.to(&f.email_referent_a).is_empty(),
        "not to the one who acted"
    );

    // Delivered once: another round sends nothing.
    assert_eq!(service.deliver_emails(), mail::Delivery::default());
    assert_eq!(sink.received().len(), 2);
}

/// Designating a co-référent tells them; deactivating an aidant tells the other référents.
async fn designation_and_deactivation_are_told(backend: Backend) {
    let sink = SmtpSink::start();
    let service = service_sending_to(backend, &sink);
    let f = service.fixtures.clone();
    second_referent_of_a(&service, &sink, "chloe.seconde@ccas-test.fr");
    let (rita, page) = rita_on_alex_page(&service).await;
    let done = rita
        .post_from(service.issuer(), &page, &format!("{page}/referent"), &[])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let again = rita
        .post_from(service.issuer(), &page, &format!("{page}/referent"), &[])
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    let done = rita
        .post_from(service.issuer(), &page, &format!("{page}/desactiver"), &[])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    service.deliver_emails();

    let to_alex = sink.to(&f.email_a);
    assert_eq!(to_alex.len(), 1, "{to_alex:?}");
    assert_eq!(
        to_alex[0].subject,
        "Vous êtes désormais référent·e Aidants Connect"
    );
    assert!(to_alex[0].text.contains("de la structure CCAS de Test A"));
    let to_chloe = sink.to("chloe.seconde@ccas-test.fr");
    assert_eq!(to_chloe.len(), 1, "{to_chloe:?}");
    assert_eq!(
        to_chloe[0].subject,
        "Alex Test a été désactivé·e dans votre structure"
    );
}

/// An address the server refuses for good is given up at once, listed as failed, and does
/// not hold up the others; the action itself was done.
async fn a_refused_address_is_given_up_and_blocks_nothing(backend: Backend) {
    let sink = SmtpSink::start();
    let service = service_sending_to(backend, &sink);
    second_referent_of_a(&service, &sink, "inexistant@ccas-test.fr");
    rita_takes_alex_card(&service, "casse").await;
    let delivery = service.deliver_emails();
    assert_eq!((delivery.sent, delivery.failed), (1, 1));
    assert_eq!(sink.to(&service.fixtures.email_a).len(), 1);
    // Her welcome at activation, then the notice of the card: both given up, nothing else.
    let failed = mail::failed(&mut service.conn(), 10).unwrap();
    let kinds: Vec<&str> = failed.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["card_dissociated", "welcome"], "newest first");
    for message in &failed {
        assert_eq!(message.recipient, "inexistant@ccas-test.fr");
        assert!(
            message
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("550"),
            "{failed:?}"
        );
    }
    refusals_are_journaled_once_and_shown_to_the_referent(&service).await;
    // Given up means not tried again, even much later.
    service.clock.advance(Duration::days(2));
    assert_eq!(service.deliver_emails(), mail::Delivery::default());
    // Until the team puts it back (`email retry`), once the address is fixed.
    assert_eq!(
        mail::retry(
            &mut service.conn(),
            service.clock_now(),
            Some(&failed[0].id)
        )
        .unwrap(),
        1
    );
    assert_eq!(queued(&service), 1);
    assert_eq!(mail::failed(&mut service.conn(), 10).unwrap().len(), 1);
}

/// Each refused message to Chloé is journaled `email_undeliverable` on her structure's chain,
/// once however many rounds follow; Rita sees the refused address in her espace référent.
async fn refusals_are_journaled_once_and_shown_to_the_referent(service: &TestService) {
    let f = &service.fixtures;
    let chloe = accounts::find_aidant_by_email(&mut service.conn(), "inexistant@ccas-test.fr")
        .unwrap()
        .unwrap();
    let refusals = || -> Vec<journal::JournalEntry> {
        journal::chain_entries(&mut service.conn(), f.org_a.as_str())
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "email_undeliverable")
            .collect()
    };
    assert_eq!(service.deliver_emails(), mail::Delivery::default());
    let entries = refusals();
    assert_eq!(entries.len(), 2, "{entries:?}");
    for entry in &entries {
        assert_eq!(entry.subject, chloe.id.as_str());
        assert!(
            !entry.details.contains("inexistant@"),
            "no address in the journal"
        );
    }
    let (rita, _) = rita_on_alex_page(service).await;
    let list = rita
        .get(&format!("{}/espace-referent", service.issuer()))
        .await;
    assert!(
        list.body.contains(&format!("id=\"refusee-{}\"", chloe.id)),
        "{}",
        list.body
    );
    assert!(!list
        .body
        .contains(&format!("id=\"refusee-{}\"", f.aidant_a)));
    let page = rita
        .get(&format!(
            "{}/espace-referent/aidants/{}",
            service.issuer(),
            chloe.id
        ))
        .await;
    assert!(
        page.body.contains("id=\"adresse-refusee\""),
        "{}",
        page.body
    );
}

/// A server that is down, asks to come back later or answers too slowly leaves the message
/// queued, tried again later with a growing delay, and sent once the server answers.
async fn an_unavailable_server_defers_and_a_later_round_sends(backend: Backend) {
    let sink = SmtpSink::start();
    let service = service_sending_to(backend, &sink);
    let (rita, page) = rita_on_alex_page(&service).await;
    let done = rita
        .post_from(service.issuer(), &page, &format!("{page}/referent"), &[])
        .await;
    assert_eq!(done.status, 303);
    let mut down = aidants_connect::mailer(&service.config).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("smtp://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    down.transport = Box::new(
        mail::SmtpTransport::new(&mail::SmtpSettings {
            url: closed_url,
            username: String::new(),
            password: String::new(),
            timeout: std::time::Duration::from_secs(2),
        })
        .unwrap(),
    );
    assert_eq!(service.deliver_emails_as(&down).deferred, 1);
    // Not due again before the delay: a round right away sends nothing, even to a live server.
    assert_eq!(service.deliver_emails(), mail::Delivery::default());
    service.clock.advance(Duration::seconds(61));
    assert_eq!(service.deliver_emails_as(&down).deferred, 1);
    service.clock.advance(Duration::seconds(61));
    assert_eq!(
        service.deliver_emails(),
        mail::Delivery::default(),
        "the second delay is twice the first"
    );
    service.clock.advance(Duration::seconds(60));
    assert_eq!(service.deliver_emails().sent, 1);
    assert_eq!(sink.to(&service.fixtures.email_a).len(), 1);

    // A server too slow to answer (beyond email.timeout_seconds) is a failure to try again,
    // not a message sent.
    store::write_transaction(&mut service.conn(), |tx| {
        mail::enqueue(
            tx,
            &SystemRandom::new(),
            service.clock_now(),
            "lent@ccas-test.fr",
            &mail::Email::MadeReferent {
                aidant: "Léon Lent".into(),
                organisation: "CCAS de Test A".into(),
            },
        )
    })
    .unwrap();
    let slow = service.deliver_emails();
    assert_eq!((slow.sent, slow.deferred), (0, 1));
    let waiting = outbox::table
        .filter(outbox::recipient.eq("lent@ccas-test.fr"))
        .select(outbox::last_error)
        .first::<Option<String>>(&mut service.conn())
        .unwrap()
        .unwrap_or_default();
    assert!(waiting.contains("échec passager"), "{waiting}");
}

/// Two instances delivering at once send each message once; a message claimed by an
/// instance that died before marking it sent is sent again once its claim has lapsed, once.
async fn two_instances_never_send_twice_and_a_dead_claim_is_sent_once(backend: Backend) {
    let sink = SmtpSink::start();
    let service = service_sending_to(backend, &sink);
    let now = service.clock_now();
    let rng = SystemRandom::new();
    store::write_transaction(&mut service.conn(), |tx| {
        for n in 0..20 {
            mail::enqueue(
                tx,
                &rng,
                now,
                &format!("aidant{n}@ccas-test.fr"),
                &mail::Email::MadeReferent {
                    aidant: format!("Aidant {n}"),
                    organisation: "CCAS de Test A".into(),
                },
            )?;
        }
        Ok::<_, mail::MailError>(())
    })
    .unwrap();
    let first = aidants_connect::mailer(&service.config).unwrap();
    let second = aidants_connect::mailer(&service.config).unwrap();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| service.deliver_emails_as(&first));
        let b = s.spawn(|| service.deliver_emails_as(&second));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.sent + b.sent, 20);
    let received = sink.received();
    assert_eq!(received.len(), 20);
    let mut recipients: Vec<_> = received.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 20, "each message once");

    // An instance claimed a message, handed it to the server, and died before marking it.
    store::write_transaction(&mut service.conn(), |tx| {
        mail::enqueue(
            tx,
            &rng,
            now,
            "apres.panne@ccas-test.fr",
            &mail::Email::MadeReferent {
                aidant: "Après Panne".into(),
                organisation: "CCAS de Test A".into(),
            },
        )
    })
    .unwrap();
    diesel::update(outbox::table.filter(outbox::recipient.eq("apres.panne@ccas-test.fr")))
        .set((
            outbox::claimed_by.eq("instance-disparue"),
            outbox::claimed_until.eq(now + Duration::minutes(2)),
        ))
        .execute(&mut service.conn())
        .unwrap();
    assert_eq!(
        service.deliver_emails(),
        mail::Delivery::default(),
        "claimed"
    );
    service.clock.advance(Duration::minutes(3));
    assert_eq!(service.deliver_emails().sent, 1, "the claim lapsed");
    assert_eq!(service.deliver_emails(), mail::Delivery::default());
    assert_eq!(sink.to("apres.panne@ccas-test.fr").len(), 1);
}

/// The national team activates an aidant: the aidant is welcomed (how to begin, the sign-in
/// link), the référents of the structure are told; activating again sends nothing.
async fn an_activated_aidant_is_welcomed_and_the_referents_told(backend: Backend) {
    let sink = SmtpSink::start();
    let service = service_sending_to(backend, &sink);
    admin::create_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        &admin::AidantInput {
            email: "nouvelle.aidante@ccas-test.fr".into(),
            first_name: "Nadia".into(),
            last_name: "Nouvelle".into(),
            profession: "Conseillère numérique".into(),
            phone: String::new(),
            siret: "11111111100011".into(),
            referent: false,
        },
    )
    .unwrap();
    for _ in 0..2 {
        admin::activate_aidant(
            &mut service.conn(),
            &SystemRandom::new(),
            service.clock_now(),
            "nouvelle.aidante@ccas-test.fr",
        )
        .unwrap();
    }
    assert_eq!(service.deliver_emails().sent, 2);
    let welcome = sink.to("nouvelle.aidante@ccas-test.fr");
    assert_eq!(welcome.len(), 1);
    assert_eq!(
        welcome[0].subject,
        "Votre compte Aidants Connect est activé"
    );
    assert!(welcome[0].text.contains("Bonjour Nadia Nouvelle,"));
    assert!(welcome[0].text.contains("les usagers de CCAS de Test A"));
    assert!(welcome[0]
        .text
        .contains(&format!("{}/connexion", service.issuer())));
    let told = sink.to(&service.fixtures.email_referent_a);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].subject, "Le compte de Nadia Nouvelle est activé");
    assert!(
        sink.to(&service.fixtures.email_a).is_empty(),
        "not to plain aidants"
    );
}

/// A stranger's wrong codes lock Alex's card for unrecognised browsers: Alex is told (with
/// until when, in Paris time), and so is Rita, référent of his structure; the stranger's
/// failures before the lock send nothing.
async fn a_locked_card_is_told_to_its_holder_and_the_referents(backend: Backend) {
    let sink = SmtpSink::start();
    let service = service_sending_to(backend, &sink);
    let f = service.fixtures.clone();
    let stranger = Browser::new();
    let right = service.next_code(ac_tests::SEED_A);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for wait in [1, 2, 4, 8] {
        let page = service.try_sign_in(&stranger, &f.email_a, wrong).await;
        assert_eq!(page.status, 422);
        service.clock.advance(Duration::seconds(wait));
    }
    assert_eq!(queued(&service), 0, "four failures lock nothing");
    let page = service.try_sign_in(&stranger, &f.email_a, wrong).await;
    assert_eq!(page.status, 422);
    let until = paris::local(service.clock_now() + Duration::minutes(15))
        .format("%d/%m/%Y à %H:%M")
        .to_string();
    assert_eq!(service.deliver_emails().sent, 2);
    let alex = sink.to(&f.email_a);
    assert_eq!(alex.len(), 1);
    assert_eq!(alex[0].subject, "Votre carte Aidants Connect est bloquée");
    assert!(
        alex[0].text.contains("votre carte GADT0000101"),
        "{}",
        alex[0].text
    );
    assert!(
        alex[0].text.contains(&format!("jusqu'au {until}")),
        "{}",
        alex[0].text
    );
    let rita = sink.to(&f.email_referent_a);
    assert_eq!(rita.len(), 1);
    assert_eq!(rita[0].subject, "La carte de Alex Test est bloquée");
}

on_both_backends!(
    a_locked_card_is_told_to_its_holder_and_the_referents,
    an_activated_aidant_is_welcomed_and_the_referents_told,
    a_dissociated_card_is_told_to_the_aidant_and_the_other_referents,
    designation_and_deactivation_are_told,
    a_refused_address_is_given_up_and_blocks_nothing,
    an_unavailable_server_defers_and_a_later_round_sends,
    two_instances_never_send_twice_and_a_dead_claim_is_sent_once,
);
