//! The service's legal and help pages: linked from every page's footer, and saying of who
//! answers for the service and how long data is kept what the deployment's configuration says.

use ac_tests::{Backend, Browser, TestService};

async fn the_legal_pages_follow_the_configuration(backend: Backend) {
    let service = TestService::start_configured(backend, &|c| {
        c.retention.emails_days = 45;
        c.legal.hosting = "Hébergeur Exemple SAS, 1 rue de l'Exemple, 75001 Paris".into();
    });
    let browser = Browser::new();
    let home = browser.get(&format!("{}/", service.issuer())).await;
    for (path, title) in [
        ("/mentions-legales", "Mentions légales"),
        ("/donnees-personnelles", "Données personnelles"),
        ("/aide", "Aide pour les aidants et les référents"),
        ("/ressources", "Ressources"),
        (
            "/conditions-generales",
            "Conditions générales d'utilisation pour les aidants",
        ),
    ] {
        assert!(
            home.body.contains(&format!("href=\"{path}\"")),
            "{path} is not in the footer"
        );
        let page = browser.get(&format!("{}{path}", service.issuer())).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body.contains(&format!("<h1>{title}</h1>")),
            "{}",
            page.body
        );
    }
    let privacy = browser
        .get(&format!("{}/donnees-personnelles", service.issuer()))
        .await;
    assert!(
        privacy.body.contains("45 jours après leur envoi"),
        "{}",
        privacy.body
    );
    assert!(privacy.body.contains("<table>"), "the retention table");
    let legal = browser
        .get(&format!("{}/mentions-legales", service.issuer()))
        .await;
    assert!(
        legal
            .body
            .contains("Hébergeur Exemple SAS, 1 rue de l&#39;Exemple, 75001 Paris"),
        "{}",
        legal.body
    );
}

ac_tests::on_both_backends!(the_legal_pages_follow_the_configuration);
