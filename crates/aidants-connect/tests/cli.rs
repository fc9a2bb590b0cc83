//! The national team's command line, run as the real binary against a fresh SQLite
//! database: what it prints, its exit status, and that a refused command writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_aidants-connect"))
            .args(args)
            .env(
                "AC_DATABASE_URL",
                format!("sqlite://{}", self.dir.path().join("ac.db").display()),
            )
            .env("AC_KEYS_DIR", self.dir.path().join("keys"))
            .env("RUST_LOG", "error")
            .env_remove("AC_CONFIG")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn database(&self) -> store::DbConnection {
        store::establish(&format!(
            "sqlite://{}",
            self.dir.path().join("ac.db").display()
        ))
        .unwrap()
    }

    fn file(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }
}

const ORG: [&str; 14] = [
    "organisation",
    "create",
    "--name",
    "France Services de Brest",
    "--siret",
    "12345678900011",
    "--address",
    "2 rue de Siam",
    "--zipcode",
    "29200",
    "--city",
    "Brest",
    "--type",
    "France Services",
];

#[test]
fn the_national_team_sets_up_an_organisation_its_referent_and_cards() {
    let cli = Cli::new();
    let mut bad_siret = ORG;
    bad_siret[5] = "1234";
    assert!(cli
        .refused(&bad_siret)
        .contains("SIRET invalide: 14 chiffres attendus"));
    let mut bad_zip = ORG;
    bad_zip[9] = "2920";
    assert!(cli.refused(&bad_zip).contains("code postal invalide"));
    assert!(cli.ok(&ORG).contains(
        "Structure créée et habilitée : France Services de Brest (SIRET 12345678900011)."
    ));
    assert!(cli
        .refused(&ORG)
        .contains("une structure a déjà le SIRET 12345678900011"));

    let referent = [
        "aidant",
        "create",
        "--email",
        "Lea.Martin@fs-brest.fr",
        "--first-name",
        "Léa",
        "--last-name",
        "Martin",
        "--siret",
        "12345678900011",
        "--referent",
    ];
    let mut unknown_org = referent;
    unknown_org[9] = "99999999900099";
    assert!(cli
        .refused(&unknown_org)
        .contains("aucune structure n'a le SIRET 99999999900099"));
    let mut bad_email = referent;
    bad_email[3] = "lea.martin";
    assert!(cli
        .refused(&bad_email)
        .contains("adresse électronique invalide"));
    let out = cli.ok(&referent);
    assert!(
        out.contains("Référent créé : lea.martin@fs-brest.fr — en attente d'activation"),
        "{out}"
    );
    assert!(cli
        .refused(&referent)
        .contains("cet aidant fait déjà partie de la structure"));
    assert!(cli
        .refused(&["aidant", "activate", "personne@fs-brest.fr"])
        .contains("aucun aidant n'a l'adresse personne@fs-brest.fr"));
    assert!(cli
        .ok(&["aidant", "activate", "LEA.MARTIN@fs-brest.fr"])
        .contains("Compte activé : Léa Martin (lea.martin@fs-brest.fr)."));

    let bad = cli.file(
        "bad.csv",
        "serial,seed\nGADT0000001,00112233445566778899aabbccddeeff00112233\nGADT0000002,xyz\n",
    );
    let out = cli.refused(&["cards", "import", &bad]);
    assert!(out.contains("Import refusé : 1 ligne(s) rejetée(s), aucune carte importée"));
    assert!(
        out.contains("ligne 3 (GADT0000002) : graine invalide"),
        "{out}"
    );
    assert!(cli.ok(&["cards", "list"]).contains("0 carte(s)."));
    let good = cli.file(
        "good.csv",
        "GADT0000001,00112233445566778899aabbccddeeff00112233\nGADT0000002,ffeeddccbbaa99887766554433221100ffeeddcc\n",
    );
    assert!(cli
        .ok(&["cards", "import", &good])
        .contains("Import terminé : 2 carte(s) ajoutée(s), 0 mise(s) à jour, 0 rejetée."));
    let list = cli.ok(&["cards", "list"]);
    assert!(list.contains("GADT0000001"), "{list}");
    assert!(list.contains("non associée"));
    assert!(list.contains("2 carte(s)."));
    assert!(!list.contains("00112233"), "seeds are never printed");
    assert!(cli
        .refused(&["cards", "import", "/nonexistent/cards.csv"])
        .contains("lecture de /nonexistent/cards.csv"));
}

#[test]
fn journal_verify_reports_the_first_broken_link_of_each_chain() {
    use diesel::connection::SimpleConnection;
    let cli = Cli::new();
    cli.ok(&ORG);
    let out = cli.ok(&["journal", "verify"]);
    assert!(
        out.contains("intacte   national — équipe nationale : 1 entrée(s)"),
        "{out}"
    );
    assert!(out.contains("France Services de Brest (SIRET 12345678900011) : 0 entrée(s)"));
    assert!(out.contains("2 chaîne(s) vérifiée(s), 0 rompue(s)."));
    let mut db = cli.database();
    let refused = db.batch_execute("UPDATE journal SET subject = 'x'");
    assert!(refused.is_err(), "the trigger refuses changes");
    db.batch_execute(
        "DROP TRIGGER journal_no_update; UPDATE journal SET subject = '00000000000000' WHERE chain = 'national'",
    )
    .unwrap();
    let out = cli.refused(&["journal", "verify"]);
    assert!(
        out.contains("ROMPUE    national — équipe nationale : entrée n° 1 altérée"),
        "{out}"
    );
    assert!(out.contains("2 chaîne(s) vérifiée(s), 1 rompue(s)."));
    assert!(out.contains("journal altéré"));
}

#[test]
fn journal_checkpoint_signs_the_day_once_and_verify_checks_it() {
    let cli = Cli::new();
    cli.ok(&ORG);
    let out = cli.ok(&["journal", "checkpoint"]);
    assert!(out.contains("signé : 1 tête(s) de chaîne."), "{out}");
    let token = out.lines().nth(1).unwrap();
    assert_eq!(token.split('.').count(), 3, "a compact JWS: {token}");
    assert!(cli
        .ok(&["journal", "checkpoint"])
        .contains("Le point de contrôle du jour existe déjà."));
    let out = cli.ok(&["journal", "verify"]);
    assert!(
        out.contains("1 point(s) de contrôle signé(s) vérifié(s), 1 tête(s) de chaîne contrôlée(s), 0 anomalie(s)."),
        "{out}"
    );
}
