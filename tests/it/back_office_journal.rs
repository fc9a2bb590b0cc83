//! The back office's journal, as an auditor reads it: the search (structure by SIRET, usager
//! by name, action, period), its pages, refusals that keep what was typed, the streamed CSV
//! export of what a search keeps, and the verification page that turns red when an entry is
//! altered behind the service's back.

use crate::journal_integrity::disable_triggers;
use crate::staff::auditor_signed_in;
use ac_tests::{on_both_backends, Backend, Browser, TestService};
use chrono::Duration;
use diesel::prelude::*;
use ring::rand::SystemRandom;
use store::schema::journal;

/// Entries written on organisation B's chain for the pages and the export (more than one
/// export batch of 1,000).
const BULK: usize = 1_200;

/// `BULK` sign-ins of aidant B, one second apart, written in bulk on B's chain.
fn bulk_sign_ins(service: &TestService) {
    let f = &service.fixtures;
    let start = service.clock_now() - Duration::days(1);
    let entries: Vec<_> = (0..BULK)
        .map(|i| {
            (
                start + Duration::seconds(i as i64),
                ::journal::NewEntry {
                    chain: f.org_b.as_str(),
                    action: ::journal::Action::ConnectAidant,
                    aidant_id: Some(&f.aidant_b),
                    usager_id: None,
                    organisation_id: Some(&f.org_b),
                    subject: "",
                    details: serde_json::json!({}),
                },
            )
        })
        .collect();
    store::write_transaction(&mut service.conn(), |tx| {
        ::journal::append_many(tx, &SystemRandom::new(), f.org_b.as_str(), &entries)
    })
    .unwrap();
}

/// The rows of a results page.
fn rows(body: &str) -> usize {
    body.matches("<tr><td>").count()
}

fn url(service: &TestService, path_and_query: &str) -> String {
    format!("{}{path_and_query}", service.issuer())
}

/// Without a staff session, every journal page leads to the sign-in.
async fn closed_to_strangers(service: &TestService) {
    let stranger = Browser::new();
    for path in [
        "/administration/journal",
        "/administration/journal/export.csv",
        "/administration/journal/verification",
        "/administration/exports",
        "/administration/exports/aidants.csv",
    ] {
        let page = stranger.get(&url(service, path)).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(
            page.location.as_deref(),
            Some("/administration/connexion"),
            "{path}"
        );
    }
}

/// The use of usager_all's mandate is found by structure (SIRET), usager (part of the name,
/// without accents or case) and action; a SIRET nobody has and an impossible date are
/// answered in French, keeping what was typed.
async fn searches(service: &TestService, auditor: &Browser, siret_a: &str) {
    let f = &service.fixtures;
    let name = f.usager_all.family_name.to_lowercase();
    let page = auditor
        .get(&url(
            service,
            &format!(
                "/administration/journal?structure={siret_a}&usager={name}&action=use_autorisation"
            ),
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.shows("administration-journal"));
    assert_eq!(rows(&page.body), 1, "{}", page.body);
    assert!(page.body.contains(&f.email_a), "the aidant is named");
    assert!(page.body.contains("utilisation d&#39;une autorisation"));
    assert!(page
        .body
        .contains("/administration/journal/export.csv?structure="));

    let page = auditor
        .get(&url(
            service,
            "/administration/journal?structure=99999999999999",
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Aucune structure n"), "{}", page.body);
    assert_eq!(rows(&page.body), 0);

    let page = auditor
        .get(&url(
            service,
            "/administration/journal?usager=Dupont&du=31%2F02%2F2026",
        ))
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Date invalide"), "{}", page.body);
    assert!(page
        .body
        .contains("aria-invalid=\"true\" aria-describedby=\"du-erreur\""));
    assert!(
        page.body.contains("value=\"31/02/2026\""),
        "the typed date is kept"
    );
    assert!(
        page.body.contains("value=\"Dupont\""),
        "the typed name is kept"
    );
}

/// B's chain in pages of 50: the second page follows the first without overlap.
async fn pages(service: &TestService, auditor: &Browser) {
    let b = service.fixtures.org_b.as_str();
    let first = auditor
        .get(&url(
            service,
            &format!("/administration/journal?structure={b}"),
        ))
        .await;
    assert_eq!(rows(&first.body), 50);
    let next = first
        .body
        .split("href=\"/administration/journal?")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to older entries")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(next.contains("apres="), "{next}");
    let second = auditor
        .get(&url(service, &format!("/administration/journal?{next}")))
        .await;
    assert_eq!(rows(&second.body), 50);
    let dates = |body: &str| -> Vec<String> {
        body.split("<tr><td>")
            .skip(1)
            .map(|r| r.split("</td>").next().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (dates(&first.body), dates(&second.body));
    assert!(a.last().unwrap() > b.first().unwrap(), "{a:?} {b:?}");
}

/// The export of B's chain: a CSV attachment, byte-order mark and header first, then one line
/// per entry of the chain (more than one batch), newest first.
async fn exports(service: &TestService, auditor: &Browser) {
    let f = &service.fixtures;
    let expected = ::journal::search(
        &mut service.conn(),
        &::journal::Filter {
            organisation: Some(f.org_b.clone()),
            ..Default::default()
        },
        None,
        100_000,
    )
    .unwrap();
    assert!(expected.len() > BULK);
    let csv = auditor
        .get(&url(
            service,
            &format!("/administration/journal/export.csv?structure={}", f.org_b),
        ))
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"journal-"));
    assert!(csv
        .body
        .starts_with("\u{feff}date (heure de Paris);chaîne;structure;"));
    let lines: Vec<&str> = csv.body.lines().skip(1).collect();
    assert_eq!(lines.len(), expected.len());
    for (line, entry) in lines.iter().zip(&expected) {
        assert!(line.ends_with(&entry.hash), "{line}");
    }
    assert!(lines[0].contains(&f.email_b));
}

/// The CSV lines of an export (without the header), after checking it is one.
async fn csv_lines(service: &TestService, auditor: &Browser, name: &str) -> Vec<String> {
    let csv = auditor
        .get(&url(service, &format!("/administration/exports/{name}")))
        .await;
    assert_eq!(csv.status, 200, "{name}");
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.body.starts_with('\u{feff}'), "{name}");
    csv.body.lines().skip(1).map(str::to_owned).collect()
}

/// The national exports: one line per structure with its counts, one per aidant with their
/// structure, card and last sign-in, and the counts per département.
async fn national_exports(service: &TestService, auditor: &Browser) {
    let f = &service.fixtures;
    let now = service.clock_now();
    let counts = mandate::mandate_counts(
        &mut service.conn(),
        &[f.org_a.clone(), f.org_b.clone()],
        now,
    )
    .unwrap();
    let (in_force, total, usagers) = counts[&f.org_a];
    let structures = csv_lines(service, auditor, "structures.csv").await;
    assert_eq!(structures.len(), 2);
    let a = structures
        .iter()
        .find(|l| l.starts_with(f.org_a.as_str()))
        .unwrap();
    assert!(
        a.contains(";11111111100011;1 rue de la Paix;75002;Paris;75;CCAS;validated;"),
        "{a}"
    );
    assert!(
        a.ends_with(&format!(";2;{in_force};{total};{usagers}")),
        "two working aidants: {a}"
    );

    let aidants = csv_lines(service, auditor, "aidants.csv").await;
    let b = aidants.iter().find(|l| l.contains(&f.email_b)).unwrap();
    assert!(b.contains("22222222200022 : referent"), "{b}");
    let last_bulk = paris::local(now - Duration::days(1) + Duration::seconds(BULK as i64 - 1))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert!(b.ends_with(&last_bulk), "last sign-in: {b}");
    let a = aidants.iter().find(|l| l.contains(&f.email_a)).unwrap();
    assert!(
        a.contains("11111111100011 : aidant") && a.contains(": physical, validée le"),
        "{a}"
    );

    let departements = csv_lines(service, auditor, "departements.csv").await;
    let (in_force_b, total_b, usagers_b) = counts[&f.org_b];
    assert_eq!(
        departements,
        [format!(
            "75;2;2;{};{};{}",
            in_force + in_force_b,
            total + total_b,
            usagers + usagers_b
        )]
    );
    let missing = auditor
        .get(&url(service, "/administration/exports/secret.csv"))
        .await;
    assert_eq!(missing.status, 404);
}

/// The verification page once no verification is waiting and it shows `verdict`, the upkeep
/// computing what was asked (within 10 s).
async fn verified(service: &TestService, auditor: &Browser, verdict: &str) -> ac_tests::Page {
    let path = "/administration/journal/verification";
    for _ in 0..100 {
        service.verify_journal();
        let page = auditor.get(&url(service, path)).await;
        assert_eq!(page.status, 200);
        if page.body.contains(verdict) && !page.body.contains("id=\"en-attente\"") {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the verification page never said {verdict}");
}

/// The verification page: computed by the upkeep when asked (once however often), intact;
/// then an entry altered with the triggers off, named.
async fn verifies(service: &TestService, auditor: &Browser, backend: Backend) {
    let path = "/administration/journal/verification";
    // The instance's first upkeep round asks for and computes the day's verification.
    let page = verified(service, auditor, "Journal intact").await;
    assert!(page.shows("administration-verification"));
    let ask = || auditor.post_from(service.issuer(), path, path, &[]);
    assert_eq!(ask().await.status, 303);
    let waiting = auditor.get(&url(service, path)).await;
    assert!(waiting.body.contains("en cours"), "{}", waiting.body);
    assert_eq!(
        auditor
            .post_from(service.issuer(), "/administration/", path, &[])
            .await
            .status,
        303
    );
    assert_eq!(service.verify_journal(), Some(true));
    assert_eq!(service.verify_journal(), None, "asked twice, computed once");
    let page = auditor.get(&url(service, path)).await;
    assert!(page.body.contains("Journal intact"), "{}", page.body);
    let mut conn = service.conn();
    disable_triggers(&mut conn, backend);
    diesel::update(
        journal::table
            .filter(journal::chain.eq(service.fixtures.org_b.as_str()))
            .filter(journal::seq.eq(2)),
    )
    .set(journal::subject.eq("falsifie"))
    .execute(&mut conn)
    .unwrap();
    service.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(ask().await.status, 303);
    assert_eq!(service.verify_journal(), Some(false));
    let page = auditor.get(&url(service, path)).await;
    assert!(page.body.contains("Journal altéré"), "{}", page.body);
    assert!(page.body.contains("entrée n° 2 altérée"), "{}", page.body);
}

async fn an_auditor_searches_exports_and_verifies_the_journal(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    service
        .use_mandate(&f.usager_all.id, mandate::Demarche::Argent)
        .await;
    bulk_sign_ins(&service);
    let siret_a = accounts::organisation(&mut service.conn(), &f.org_a)
        .unwrap()
        .unwrap()
        .siret;
    closed_to_strangers(&service).await;
    let auditor = auditor_signed_in(&service).await;
    searches(&service, &auditor, &siret_a).await;
    pages(&service, &auditor).await;
    exports(&service, &auditor).await;
    national_exports(&service, &auditor).await;
    verifies(&service, &auditor, backend).await;
}

on_both_backends!(an_auditor_searches_exports_and_verifies_the_journal);
