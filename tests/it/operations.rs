//! What operators and the public see: the usager's journal export (right of access), the
//! statistics page against the journal itself, health, readiness, metrics and request ids.

use ac_tests::{on_both_backends, Backend, Browser, TestService, SEED_A, SEED_B};
use diesel::prelude::*;
use mandate::Demarche;
use std::collections::BTreeSet;
use store::schema::journal;
use store::Timestamp;

async fn usager_export_holds_exactly_their_entries(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    // The usager's mandate is used once through FranceConnect.
    service
        .use_mandate(&f.usager_all.id, Demarche::Argent)
        .await;

    let base = service.issuer().to_owned();
    let json_url = format!(
        "{base}/espace-aidant/usagers/{}/journal.json",
        f.usager_all.id
    );
    let page_url = format!("{base}/espace-aidant/usagers/{}/journal", f.usager_all.id);
    let stranger = Browser::new();
    let anonymous = stranger.get(&json_url).await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location.unwrap().starts_with("/connexion"));

    let browser = Browser::new();
    service.sign_in(&browser, &f.email_a, SEED_A).await;
    let export = browser.get(&json_url).await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert!(export.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let export: serde_json::Value = serde_json::from_str(&export.body).unwrap();
    assert_eq!(export["usager"]["id"], f.usager_all.id.as_str());
    assert_eq!(export["usager"]["prenoms"], "Angela");

    let mut conn = service.conn();
    let expected: BTreeSet<String> = journal::table
        .filter(journal::usager_id.eq(&f.usager_all.id))
        .select(journal::hash)
        .load(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    let entries = export["entrees"].as_array().unwrap();
    let exported: BTreeSet<String> = entries
        .iter()
        .map(|e| e["empreinte"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exported, expected, "exactly the usager's entries");
    assert_eq!(entries.len(), expected.len(), "each once");
    let total: i64 = journal::table.count().get_result(&mut conn).unwrap();
    assert!(
        total > expected.len() as i64,
        "other entries exist and are left out"
    );
    let used = entries
        .iter()
        .find(|e| e["action"] == "use_autorisation")
        .expect("the démarche done");
    assert_eq!(
        used["libelle"],
        "Démarche réalisée par un aidant en votre nom"
    );
    assert_eq!(used["structure"]["nom"], "CCAS de Test A");
    assert_eq!(used["objet"], "argent");
    assert_eq!(used["aidant"]["id"], f.aidant_a.as_str());

    let page = browser.get(&page_url).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Ce qu'Aidants Connect a enregistré sur"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(&format!("{} action(s) enregistrée(s)", expected.len())));
    assert!(page
        .body
        .contains("Démarche réalisée par un aidant en votre nom"));
    assert_eq!(
        page.body.matches("<tr><td>").count(),
        expected.len(),
        "one row per entry"
    );

    // Another organisation's usager, and another organisation's aidant: not found.
    let other = browser
        .get(&format!(
            "{base}/espace-aidant/usagers/{}/journal.json",
            f.usager_of_b.id
        ))
        .await;
    assert_eq!(other.status, 404);
    let aidant_b = Browser::new();
    service.sign_in(&aidant_b, &f.email_b, SEED_B).await;
    assert_eq!(aidant_b.get(&json_url).await.status, 404);
    assert_eq!(aidant_b.get(&page_url).await.status, 404);
}

/// The month's figures computed naively from the journal itself.
fn naive_month(conn: &mut store::DbConnection, from: Timestamp) -> (i64, usize, usize) {
    let entries: Vec<(String, Option<String>, String)> = journal::table
        .filter(journal::at.ge(from))
        .select((journal::action, journal::usager_id, journal::details))
        .load(conn)
        .unwrap();
    let demarches = entries.iter().filter(|e| e.0 == "use_autorisation").count() as i64;
    let usagers: BTreeSet<&String> = entries
        .iter()
        .filter(|e| e.0 == "use_autorisation" || e.0 == "create_autorisation")
        .filter_map(|e| e.1.as_ref())
        .collect();
    let mandats: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.0 == "create_autorisation")
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.2).unwrap();
            d["mandat"].as_str().unwrap().to_owned()
        })
        .collect();
    (demarches, usagers.len(), mandats.len())
}

async fn statistics_match_the_journal(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    for (usager, demarche) in [
        (&f.usager_all.id, Demarche::Argent),
        (&f.usager_all.id, Demarche::Famille),
        (&f.usager_argent.id, Demarche::Argent),
    ] {
        service.use_mandate(usager, demarche).await;
    }
    let mut conn = service.conn();
    let march = chrono::NaiveDate::from_ymd_opt(2026, 2, 28)
        .unwrap()
        .and_hms_opt(23, 0, 0)
        .unwrap()
        .and_utc()
        .into();
    let (demarches, usagers, mandats) = naive_month(&mut conn, march);
    assert_eq!(demarches, 3);
    let months = ::journal::stats::monthly(&mut conn, service.clock_now(), 12).unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(months[0].month, "2025-04");
    let m = months.last().unwrap();
    assert_eq!(m.month, "2026-03");
    assert_eq!(
        (
            m.demarches,
            m.usagers as usize,
            m.mandats as usize,
            m.aidants
        ),
        (demarches, usagers, mandats, 1)
    );
    assert!(months[..11].iter().all(|m| m.demarches == 0));

    let page = Browser::new()
        .get(&format!("{}/statistiques", service.issuer()))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"fr\""));
    let row = page
        .body
        .split("<th scope=\"row\">mars 2026</th>")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap()
        .to_owned();
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap())
        .collect();
    assert_eq!(
        cells,
        [
            "1".to_owned(),
            "0".to_owned(),
            "0".to_owned(),
            usagers.to_string(),
            mandats.to_string(),
            "3".to_owned()
        ]
    );
    assert!(
        page.body.contains("mars 2026 : 3 démarche(s)"),
        "the chart's bar"
    );
    assert!(page.body.contains("<strong>3</strong> démarches réalisées"));

    // The aggregates rebuilt from the journal alone are the same.
    store::write_transaction(&mut conn, ::journal::stats::rebuild).unwrap();
    assert_eq!(
        ::journal::stats::monthly(&mut conn, service.clock_now(), 12).unwrap(),
        months
    );

    // In April the upkeep sums March once; the page then reads those sums.
    service.clock.advance(chrono::Duration::days(25));
    let upkeep = service.upkeep();
    assert!(
        upkeep.closed_months >= 1,
        "March (and the fixtures' earlier months)"
    );
    let april = ::journal::stats::monthly(&mut conn, service.clock_now(), 12).unwrap();
    assert_eq!(april[10], months[11], "March, from its sums");
    assert_eq!(april[11].month, "2026-04");
    assert_eq!(april[11].demarches, 0);
    let closed: i64 = store::schema::journal_monthly_closed::table
        .filter(store::schema::journal_monthly_closed::month.eq("2026-03"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(closed, 6, "six figures for March");
    assert_eq!(::journal::stats::demarches_total(&mut conn).unwrap(), 3);
    assert_eq!(service.upkeep().closed_months, 0);
}

async fn health_readiness_and_metrics(backend: Backend) {
    let token = "jeton-de-test-prometheus-0123456789abcdef";
    let service =
        TestService::start_configured(backend, &|c| c.observability.metrics_token = token.into());
    let base = service.issuer().to_owned();
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let id = health.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_ne!(ready.headers()["x-request-id"].to_str().unwrap(), id);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["statut"], "ok");
    assert_eq!(body["base_de_donnees"], "ok");
    assert_eq!(body["cles_de_signature"], "ok");
    // A proxy's request id is kept; a strange one is replaced.
    let echoed = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "lb-4f2a-77")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "lb-4f2a-77");
    let replaced = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "<script>")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "<script>");

    // Activity: a wrong code, a refused usager, then a whole flow.
    let f = service.fixtures.clone();
    let wrong = service
        .try_sign_in(&Browser::new(), &f.email_a, "000000")
        .await;
    assert_eq!(wrong.status, 422);
    service
        .use_mandate(&f.usager_all.id, Demarche::Argent)
        .await;
    let unknown_client = http
        .get(format!(
            "{base}/authorize?client_id=inconnu&response_type=code"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_client.status(), 400);

    let refused = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let refused = http
        .get(format!("{base}/metrics"))
        .bearer_auth("jeton-de-test-prometheus-0123456789abcdeX")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for line in [
        "ac_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3",
        "ac_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1",
        "ac_http_requests_total{method=\"POST\",route=\"/token\",status=\"200\"} 1",
        "ac_http_requests_total{method=\"POST\",route=\"/fi/{id}/demarche\",status=\"303\"} 1",
        "ac_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"} 2",
        "ac_flows_completed_total{flow=\"autorisation\"} 1",
        "ac_flows_completed_total{flow=\"jeton\"} 1",
        "ac_otp_failures_total{reason=\"identifiants_incorrects\"} 1",
        "ac_refusals_total{reason=\"authorize_client_ou_redirection_invalide\"} 1",
        "ac_http_request_duration_seconds_count{method=\"POST\",route=\"/token\"} 1",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    assert!(
        !text.contains(f.usager_all.id.as_str()),
        "no identifier in labels"
    );
    drop(service);
}

async fn readiness_fails_without_the_database(backend: Backend) {
    let service = TestService::start(backend);
    let url = format!("{}/readyz", service.issuer());
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    service.break_database();
    let ready = reqwest::get(&url).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["statut"], "indisponible");
    assert_eq!(body["base_de_donnees"], "indisponible");
    assert_eq!(body["cles_de_signature"], "ok");
    // The process itself is still up.
    let health = reqwest::get(format!("{}/healthz", service.issuer()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

async fn upkeep_forgets_expired_failed_sign_ins(backend: Backend) {
    let service = TestService::start_configured(backend, &|c| c.journal.upkeep_minutes = 0);
    let refused = service
        .try_sign_in(&Browser::new(), "inconnu@exemple.fr", "123456")
        .await;
    assert_eq!(refused.status, 422);
    let mut conn = service.conn();
    let rows = |conn: &mut store::DbConnection| -> i64 {
        store::schema::login_throttle::table
            .count()
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(rows(&mut conn), 1);
    service.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(
        service.upkeep().purged.throttle,
        0,
        "still counted within the lock length"
    );
    assert_eq!(rows(&mut conn), 1);
    service.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(service.upkeep().purged.throttle, 1);
    assert_eq!(rows(&mut conn), 0);
}

on_both_backends!(
    upkeep_forgets_expired_failed_sign_ins,
    usager_export_holds_exactly_their_entries,
    statistics_match_the_journal,
    health_readiness_and_metrics,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_without_the_database_postgres() {
    readiness_fails_without_the_database(Backend::Postgres).await
}
