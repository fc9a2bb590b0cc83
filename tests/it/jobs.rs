//! The upkeep's scheduled jobs, with e-mail through a real SMTP server on loopback: the weekly
//! digest of mandates about to end, the weekly reminder of aidants without a card, the
//! inactivity rule (warning, then deactivation); each period done once however many
//! instances run, and the last run shown in every instance's `/metrics`.

use ac_tests::{on_both_backends, Backend, Browser, SmtpSink, TestService, SEED_B, SEED_R};
use aidants_connect::admin;
use aidants_connect::jobs::{Job, JobRun, Schedule};
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SystemRandom;
use store::schema::{outbox, scheduled_jobs};
use store::Timestamp;

/// Only the weekly digest of expiring mandates.
const DIGEST: Schedule = Schedule {
    hour: 8,
    expiring_mandates: true,
    aidants_without_card: false,
    inactivity: None,
};

/// The outcomes of a round, by job.
fn outcomes(runs: &[JobRun]) -> Vec<(Job, Result<i32, String>)> {
    runs.iter().map(|r| (r.job, r.outcome.clone())).collect()
}

/// `at` as a Paris date.
fn day(at: Timestamp) -> String {
    paris::local(at).format("%d/%m/%Y").to_string()
}

/// E-mails of `kind` in the outbox.
fn written(service: &TestService, kind: &str) -> i64 {
    outbox::table
        .filter(outbox::kind.eq(kind))
        .count()
        .get_result(&mut service.conn())
        .unwrap()
}

/// Bernard's one-month mandate (structure A) ends within 30 days two days after the start:
/// Alex and Rita, who work for A, each get one digest that names him in the body only, with
/// the link to the espace aidant's expiring list; B's aidant gets none. The same week gives
/// nothing more; once renewed, his mandate is no longer listed the week after.
async fn the_weekly_digest_lists_the_usagers_whose_mandate_ends_soon(backend: Backend) {
    let sink = SmtpSink::start();
    let service = TestService::start_sending_to(backend, &sink, &|_| {});
    let f = service.fixtures.clone();
    service.clock.advance(Duration::days(2));
    assert_eq!(
        outcomes(&service.run_jobs(&DIGEST)),
        [(Job::ExpiringMandates, Ok(2))]
    );
    service.deliver_emails();
    let ends = day(ac_tests::start_time() + Duration::days(31));
    for address in [&f.email_a, &f.email_referent_a] {
        let received = sink.to(address);
        assert_eq!(received.len(), 1, "{address}: {received:?}");
        let digest = &received[0];
        assert_eq!(digest.subject, "Un mandat arrive à échéance");
        assert!(
            digest.text.contains(&format!(
                "- Bernard MARTIN (CCAS de Test A) : jusqu'au {ends}"
            )),
            "{}",
            digest.text
        );
        assert!(
            !digest.text.contains("Angela"),
            "a one-year mandate is not listed"
        );
        let link = format!("{}/espace-aidant?etat=bientot", service.issuer());
        assert!(digest.text.contains(&link), "{}", digest.text);
        assert!(digest.html.contains(&format!("href=\"{link}\"")));
        assert!(digest.html.contains("<strong>Bernard MARTIN</strong>"));
    }
    assert!(sink.to(&f.email_b).is_empty());

    service.clock.advance(Duration::days(1));
    assert!(service.run_jobs(&DIGEST).is_empty(), "once a week");
    assert_eq!(written(&service, "expiring_mandates"), 2);

    let old = mandate::mandates_of_usager(
        &mut service.conn(),
        &f.org_a,
        &f.usager_argent.id,
        service.clock_now(),
    )
    .unwrap()
    .remove(0)
    .mandate;
    store::write_transaction(&mut service.conn(), |tx| {
        mandate::seed_mandate(
            tx,
            &SystemRandom::new(),
            service.clock_now(),
            mandate::NewMandate {
                organisation_id: &f.org_a,
                usager_id: &f.usager_argent.id,
                created_by: &f.aidant_a,
                duration: mandate::MandateDuration::Long,
                demarches: &[mandate::Demarche::Argent],
                is_remote: false,
                consent_phone: None,
                renews: Some(&old.id),
            },
        )
    })
    .unwrap();
    service.clock.advance(Duration::days(7));
    assert_eq!(
        outcomes(&service.run_jobs(&DIGEST)),
        [(Job::ExpiringMandates, Ok(0))],
        "renewed: nothing ends soon"
    );
}

/// Chloé joins structure A without a card: Rita, its référent, is reminded of her each week;
/// the aidant who is not référent and structure B's référent (whose aidants have cards) hear
/// nothing.
async fn referents_are_reminded_of_aidants_without_a_card(backend: Backend) {
    let sink = SmtpSink::start();
    let service = TestService::start_sending_to(backend, &sink, &|_| {});
    let f = service.fixtures.clone();
    admin::create_aidant(
        &mut service.conn(),
        &SystemRandom::new(),
        service.clock_now(),
        &admin::AidantInput {
            email: "chloe.sanscarte@ccas-test.fr".into(),
            first_name: "Chloé".into(),
            last_name: "Sanscarte".into(),
            profession: String::new(),
            phone: String::new(),
            siret: "11111111100011".into(),
            referent: false,
        },
    )
    .unwrap();
    let reminder = Schedule {
        aidants_without_card: true,
        expiring_mandates: false,
        ..DIGEST
    };
    assert_eq!(
        outcomes(&service.run_jobs(&reminder)),
        [(Job::AidantsWithoutCard, Ok(1))]
    );
    service.deliver_emails();
    let to_rita = sink.to(&f.email_referent_a);
    assert_eq!(to_rita.len(), 1, "{to_rita:?}");
    assert_eq!(
        to_rita[0].subject,
        "Un aidant de votre structure n'a pas de carte"
    );
    assert!(
        to_rita[0].text.contains("- Chloé Sanscarte"),
        "{}",
        to_rita[0].text
    );
    assert!(to_rita[0].text.contains("structure CCAS de Test A"));
    assert!(to_rita[0]
        .text
        .contains(&format!("{}/espace-referent", service.issuer())));
    assert!(sink.to(&f.email_a).is_empty());
    assert!(sink.to(&f.email_b).is_empty());
    assert_eq!(sink.received().len(), 1);
}

/// The inactivity rule, five months then six: those away are warned once, with the day their
/// access ends; one who signs in after the warning keeps it; one who stays away loses their
/// membership (journaled, told to them and to the référent), and a référent who gives it
/// back restarts the count.
async fn inactivity_warns_then_deactivates_those_who_stay_away(backend: Backend) {
    let sink = SmtpSink::start();
    let service = TestService::start_sending_to(backend, &sink, &|_| {});
    let f = service.fixtures.clone();
    let start = ac_tests::start_time();
    let rule = Schedule {
        expiring_mandates: false,
        inactivity: Some(accounts::InactivityRule {
            warn_after: Duration::days(150),
            deactivate_after: Duration::days(180),
        }),
        ..DIGEST
    };
    let at = |days: i64| {
        let now = service.clock_now();
        service.clock.advance(start + Duration::days(days) - now);
    };
    at(10);
    service
        .sign_in(&Browser::new(), &f.email_referent_a, SEED_R)
        .await;

    warnings_go_to_those_away(&service, &sink, &rule, start, &at);

    at(160);
    service.sign_in(&Browser::new(), &f.email_b, SEED_B).await;
    at(165);
    assert_eq!(
        outcomes(&service.run_jobs(&rule)),
        [(Job::Inactivity, Ok(1))],
        "Rita, away since day 10, is warned"
    );
    sink.clear();
    service.deliver_emails();
    let to_rita = sink.to(&f.email_referent_a);
    assert_eq!(to_rita.len(), 1, "{to_rita:?}");
    assert!(
        to_rita[0].text.contains(&format!(
            "depuis le {}. Sans connexion de votre part d'ici le {},",
            day(start + Duration::days(10)),
            day(start + Duration::days(195))
        )),
        "a full notice from her warning: {}",
        to_rita[0].text
    );

    at(181);
    assert_eq!(
        outcomes(&service.run_jobs(&rule)),
        [(Job::Inactivity, Ok(1))],
        "Alex A only: Alex B came back, Rita's notice runs"
    );
    let alex = accounts::member(&mut service.conn(), &f.org_a, &f.aidant_a)
        .unwrap()
        .unwrap();
    assert!(!alex.active);
    for (who, organisation) in [(&f.aidant_b, &f.org_b), (&f.referent_a, &f.org_a)] {
        assert!(accounts::may_work_for(&mut service.conn(), who, organisation).unwrap());
    }
    let entry = journal::chain_entries(&mut service.conn(), f.org_a.as_str())
        .unwrap()
        .into_iter()
        .rfind(|e| e.action == "deactivate_aidant")
        .unwrap();
    assert_eq!(entry.aidant_id, None, "done by the rule, not by a person");
    assert_eq!(entry.subject, f.aidant_a.as_str());
    assert!(
        entry.details.contains("\"reason\":\"inactivity\""),
        "{}",
        entry.details
    );

    sink.clear();
    service.deliver_emails();
    let to_alex = sink.to(&f.email_a);
    assert_eq!(to_alex.len(), 1, "{to_alex:?}");
    assert_eq!(
        to_alex[0].subject,
        "Votre accès à Aidants Connect a été désactivé"
    );
    assert!(to_alex[0]
        .text
        .contains(&format!("depuis le {}", day(start))));
    let to_rita = sink.to(&f.email_referent_a);
    assert_eq!(to_rita.len(), 1, "{to_rita:?}");
    assert_eq!(
        to_rita[0].subject,
        "Alex Test a été désactivé·e faute de connexion"
    );
    assert!(to_rita[0]
        .text
        .contains(&format!("{}/espace-referent", service.issuer())));

    given_back_restarts_the_count(&service, &rule, &at).await;
}

/// Day 151: Alex A and Alex B, away since the start, are warned (the day their access ends is
/// 30 days on); Rita, who signed in on day 10, is not; the same day, nothing more.
fn warnings_go_to_those_away(
    service: &TestService,
    sink: &SmtpSink,
    rule: &Schedule,
    start: Timestamp,
    at: &dyn Fn(i64),
) {
    let f = &service.fixtures;
    at(151);
    assert_eq!(
        outcomes(&service.run_jobs(rule)),
        [(Job::Inactivity, Ok(2))]
    );
    assert!(service.run_jobs(rule).is_empty(), "once a day");
    at(152);
    assert_eq!(
        outcomes(&service.run_jobs(rule)),
        [(Job::Inactivity, Ok(0))],
        "warned once"
    );
    service.deliver_emails();
    for (address, organisation) in [
        (&f.email_a, "CCAS de Test A"),
        (&f.email_b, "Mairie de Test B"),
    ] {
        let received = sink.to(address);
        assert_eq!(received.len(), 1, "{address}: {received:?}");
        let warning = &received[0];
        assert_eq!(
            warning.subject,
            "Votre accès à Aidants Connect sera bientôt désactivé"
        );
        let expected = format!(
            "depuis le {}. Sans connexion de votre part d'ici le {}, votre accès sera désactivé dans {organisation}.",
            day(start),
            day(start + Duration::days(181))
        );
        assert!(warning.text.contains(&expected), "{}", warning.text);
        assert!(warning
            .text
            .contains(&format!("{}/connexion", service.issuer())));
    }
    assert!(sink.to(&f.email_referent_a).is_empty());
}

/// Rita gives Alex his membership back on day 181: the next days, the rule leaves him alone.
async fn given_back_restarts_the_count(service: &TestService, rule: &Schedule, at: &dyn Fn(i64)) {
    let f = &service.fixtures;
    let rita = Browser::new();
    service.sign_in(&rita, &f.email_referent_a, SEED_R).await;
    let page = format!("/espace-referent/aidants/{}", f.aidant_a);
    let done = rita
        .post_from(service.issuer(), &page, &format!("{page}/reactiver"), &[])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    at(182);
    assert_eq!(
        outcomes(&service.run_jobs(rule)),
        [(Job::Inactivity, Ok(0))]
    );
    assert!(accounts::may_work_for(&mut service.conn(), &f.aidant_a, &f.org_a).unwrap());
}

/// `/metrics` of an instance once its upkeep has shown the digest's last run.
async fn metrics_once_the_digest_ran(base: &str) -> String {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("ac_job_last_run_succeeded{job=\"expiring_mandates\"} 1") {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the upkeep of {base} never showed the digest's run");
}

/// Two instances with the jobs on: both upkeeps show the week's run in `/metrics`, done once.
/// The next week, two instances' rounds at the same moment write the digests once.
async fn two_instances_do_each_period_once(backend: Backend) {
    let service = TestService::start_instances_configured(backend, 2, &|c| {
        c.jobs.expiring_mandates = true;
    });
    for instance in &service.instances {
        let text = metrics_once_the_digest_ran(&instance.base).await;
        let ran_at = ac_tests::start_time().timestamp();
        assert!(
            text.contains(&format!(
                "ac_job_last_run_timestamp_seconds{{job=\"expiring_mandates\"}} {ran_at}"
            )),
            "{text}"
        );
        assert!(text.contains("ac_job_last_run_items{job=\"expiring_mandates\"} 0"));
        assert!(!text.contains("job=\"inactivity\""), "off in development");
    }
    let period: Option<String> = scheduled_jobs::table
        .find("expiring_mandates")
        .select(scheduled_jobs::period)
        .first(&mut service.conn())
        .unwrap();
    assert_eq!(period.as_deref(), Some("2026-W11"));

    service.clock.advance(Duration::days(7));
    let barrier = std::sync::Barrier::new(2);
    let runs: Vec<JobRun> = std::thread::scope(|scope| {
        let rounds: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut conn = service.conn();
                    barrier.wait();
                    aidants_connect::jobs::run_due(
                        &mut conn,
                        &SystemRandom::new(),
                        &DIGEST,
                        service.clock_now(),
                    )
                    .unwrap()
                })
            })
            .collect();
        rounds
            .into_iter()
            .flat_map(|round| round.join().unwrap())
            .collect()
    });
    assert_eq!(outcomes(&runs), [(Job::ExpiringMandates, Ok(2))]);
    assert_eq!(runs[0].period, "2026-W12");
    assert_eq!(written(&service, "expiring_mandates"), 2);
}

on_both_backends!(
    the_weekly_digest_lists_the_usagers_whose_mandate_ends_soon,
    referents_are_reminded_of_aidants_without_a_card,
    inactivity_warns_then_deactivates_those_who_stay_away,
    two_instances_do_each_period_once,
);
