//! `aidants-connect`: serve the service, migrate the database, seed and use the demo.

use aidants_connect::admin;
use aidants_connect::config::Config;
use clap::{Parser, Subcommand};
#[cfg(feature = "dev-tools")]
use devtools::demo;
#[cfg(feature = "dev-tools")]
use devtools::volume::{self, VolumePlan};
use ring::rand::SystemRandom;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use web::{Clock, SystemClock};

#[derive(Parser)]
#[command(
    name = "aidants-connect",
    version,
    about = "Aidants Connect : fournisseur d'identité FranceConnect pour les aidants professionnels"
)]
struct Cli {
    /// Configuration file (TOML), read over the embedded defaults.
    #[arg(long, global = true, env = "AC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the demo organisation, aidant, card, usagers and mandates (idempotent).
    #[cfg(feature = "dev-tools")]
    Demo,
    /// Print the code a demo card shows now (development only).
    #[cfg(feature = "dev-tools")]
    OtpCode {
        /// The demo card: GADT0000001 (the demo aidant's), GADT0000002 (in stock) or EQDEMO0000001 (the national team's).
        #[arg(default_value = demo::DEMO_CARD_SERIAL)]
        serial: String,
    },
    /// Development: migrate, seed the demo, then serve.
    #[cfg(feature = "dev-tools")]
    Dev,
    /// OTP cards (national team).
    #[command(subcommand)]
    Cards(CardsCommand),
    /// Organisations (national team).
    #[command(subcommand)]
    Organisation(OrganisationCommand),
    /// Aidants and référents (national team).
    #[command(subcommand)]
    Aidant(AidantCommand),
    /// The audit journal.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// E-mails the service sends.
    #[command(subcommand)]
    Email(EmailCommand),
    /// The upkeep's scheduled jobs (expiring mandates, aidants without a card, inactivity).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The national team's members (the back office at /administration).
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Measurements only: fill the database with a national-scale volume of fictional
    /// structures, aidants, usagers, mandates and journal entries beside the demo (refused in
    /// production and on a database that already holds one).
    #[cfg(feature = "dev-tools")]
    Volume(VolumeArgs),
}

#[cfg(feature = "dev-tools")]
#[derive(clap::Args)]
struct VolumeArgs {
    /// Structures.
    #[arg(long, default_value_t = VolumePlan::NATIONAL.structures)]
    structures: u64,
    /// Aidants.
    #[arg(long, default_value_t = VolumePlan::NATIONAL.aidants)]
    aidants: u64,
    /// Usagers.
    #[arg(long, default_value_t = VolumePlan::NATIONAL.usagers)]
    usagers: u64,
    /// Mandates.
    #[arg(long, default_value_t = VolumePlan::NATIONAL.mandates)]
    mandates: u64,
    /// Journal entries.
    #[arg(long, default_value_t = VolumePlan::NATIONAL.journal)]
    journal: u64,
    /// Months of history.
    #[arg(long, default_value_t = VolumePlan::NATIONAL.months)]
    months: u32,
    /// Usagers with an active mandate added to the demo structure.
    #[arg(long, default_value_t = VolumePlan::NATIONAL.demo_usagers)]
    demo_usagers: u64,
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Walk every chain and report the first broken link of each, then check every signed
    /// checkpoint against the chains (exit status 1 if anything is wrong).
    Verify,
    /// Write today's signed checkpoint of the chain heads if it is missing (the service does it
    /// every `journal.upkeep_minutes`; for cron when that is 0) and print it.
    Checkpoint,
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a member of the national team; prints their single-use enrolment link.
    Create {
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// First name.
        #[arg(long)]
        first_name: String,
        /// Last name.
        #[arg(long)]
        last_name: String,
        /// `admin`, `support`, `auditeur` or `formateur`.
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Each job's period last done and its last run.
    Status,
    /// Run the jobs whose period is still to do (the service does it every
    /// `journal.upkeep_minutes`; for cron when that is 0).
    Run,
}

#[derive(Subcommand)]
enum EmailCommand {
    /// List the e-mails given up (address refused, or too many attempts), newest first.
    Failed,
    /// Put failed e-mails back in the queue: the one named, or all of them.
    Retry {
        /// The message's id (from `email failed`); none: every failed message.
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum CardsCommand {
    /// Import physical cards from a CSV file: one line "serial,seed" per card (all or nothing).
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// List every card with its state and holder.
    List,
}

#[derive(Subcommand)]
enum OrganisationCommand {
    /// Create a habilitated organisation.
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// SIRET (14 digits).
        #[arg(long)]
        siret: String,
        /// Street address.
        #[arg(long)]
        address: String,
        /// Postcode (5 digits).
        #[arg(long)]
        zipcode: String,
        /// City.
        #[arg(long)]
        city: String,
        /// Type (CCAS, France Services, mairie, association…).
        #[arg(long = "type")]
        kind: String,
    },
    /// Set the démarches an organisation may do (mandates, uses, FranceConnect's rep_scope).
    Demarches {
        /// SIRET of the organisation.
        #[arg(long)]
        siret: String,
        /// Comma-separated démarche ids (papiers, famille, social, travail, logement,
        /// transports, argent, justice, etranger, loisirs).
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        set: Option<String>,
        /// Allow every démarche (the default of a new organisation).
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum AidantCommand {
    /// Create an aidant (or the référent) of an organisation, pending activation.
    Create {
        /// Professional, nominative e-mail address.
        #[arg(long)]
        email: String,
        /// First name.
        #[arg(long)]
        first_name: String,
        /// Last name.
        #[arg(long)]
        last_name: String,
        /// Profession.
        #[arg(long, default_value = "")]
        profession: String,
        /// Professional phone.
        #[arg(long, default_value = "")]
        phone: String,
        /// SIRET of the organisation.
        #[arg(long)]
        siret: String,
        /// Make them référent of the organisation.
        #[arg(long)]
        referent: bool,
    },
    /// Activate an aidant after their training.
    Activate {
        /// Their e-mail address.
        email: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Erreur de configuration : {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = aidants_connect::logging::install(config.json_logs(), std::io::stdout) {
        eprintln!("Journalisation : {e:#}");
    }
    match run(cli.command.unwrap_or(Command::Serve), &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Erreur : {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, config: &Config) -> anyhow::Result<()> {
    let clock = SystemClock;
    match command {
        Command::Serve => serve(config),
        Command::Migrate => {
            aidants_connect::open_database(config)?;
            println!("Base de données à jour.");
            Ok(())
        }
        #[cfg(feature = "dev-tools")]
        Command::Demo => seed(config, &clock),
        #[cfg(feature = "dev-tools")]
        Command::OtpCode { serial } => {
            if config.is_production() {
                anyhow::bail!("otp-code n'existe qu'en développement");
            }
            match demo::demo_code(&serial, clock.now()) {
                Some(code) => println!("{code}"),
                None => anyhow::bail!(
                    "carte de démonstration inconnue : {serial} ({} ou {})",
                    demo::DEMO_CARD_SERIAL,
                    demo::DEMO_STOCK_CARD_SERIAL
                ),
            }
            Ok(())
        }
        #[cfg(feature = "dev-tools")]
        Command::Dev => {
            seed(config, &clock)?;
            serve(config)
        }
        Command::Cards(command) => cards(config, &clock, command),
        #[cfg(feature = "dev-tools")]
        Command::Volume(args) => volume(config, &clock, &args),
        Command::Journal(JournalCommand::Checkpoint) => {
            let pool = aidants_connect::open_database(config)?;
            let keys = provider::KeySet::load_or_generate(&config.keys_dir)?;
            let mut conn = pool.get()?;
            let upkeep = aidants_connect::maintenance::run_once(
                &mut conn,
                &keys,
                &aidants_connect::upkeep_rules(config),
                clock.now(),
            )?;
            match upkeep.checkpoint {
                Some(c) => println!(
                    "Point de contrôle du {} signé : {} tête(s) de chaîne.\n{}",
                    c.day, c.heads, c.token
                ),
                None => println!("Le point de contrôle du jour existe déjà."),
            }
            Ok(())
        }
        Command::Email(EmailCommand::Failed) => {
            let pool = aidants_connect::open_database(config)?;
            let mut conn = pool.get()?;
            let failed = mail::failed(&mut conn, 1000)?;
            if failed.is_empty() {
                println!("Aucun e-mail en échec.");
            }
            for m in failed {
                println!(
                    "{}  {}  {}  {} essai(s)  {}  {}",
                    m.id,
                    m.failed_at
                        .map(|t| paris::local(t).format("%d/%m/%Y %H:%M").to_string())
                        .unwrap_or_default(),
                    m.kind,
                    m.attempts,
                    m.recipient,
                    m.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Email(EmailCommand::Retry { id }) => {
            let pool = aidants_connect::open_database(config)?;
            let mut conn = pool.get()?;
            let count = mail::retry(&mut conn, clock.now(), id.as_deref())?;
            println!("{count} e-mail(s) remis en file d'envoi.");
            Ok(())
        }
        Command::Jobs(command) => jobs(config, &clock, &command),
        Command::Staff(StaffCommand::Create {
            email,
            first_name,
            last_name,
            role,
        }) => {
            let pool = aidants_connect::open_database(config)?;
            let created = admin::create_staff(
                &mut pool.get()?,
                &SystemRandom::new(),
                &aidants_connect::seed_cipher(config)?,
                chrono::Duration::hours(config.staff.enrolment_hours),
                clock.now(),
                &email,
                &first_name,
                &last_name,
                &role,
            )?;
            println!(
                "{} ({}) créé·e. Lien d'enrôlement, à usage unique, valable {} h :\n{}/administration/enrolement/{}",
                created.staff.full_name(),
                created.staff.role.label(),
                config.staff.enrolment_hours,
                config.public_url.trim_end_matches('/'),
                created.token.as_ref().map(|t| t.expose()).unwrap_or_default()
            );
            Ok(())
        }
        Command::Journal(JournalCommand::Verify) => {
            let pool = aidants_connect::open_database(config)?;
            let keys = provider::KeySet::load_or_generate(&config.keys_dir)?;
            let mut conn = pool.get()?;
            let (report, intact) = admin::verify_journal(&mut conn, &keys)?;
            print!("{report}");
            if !intact {
                anyhow::bail!("journal altéré");
            }
            Ok(())
        }
        Command::Organisation(OrganisationCommand::Create {
            name,
            siret,
            address,
            zipcode,
            city,
            kind,
        }) => {
            let pool = aidants_connect::open_database(config)?;
            let input = admin::OrganisationInput {
                name,
                siret,
                address,
                zipcode,
                city,
                kind,
            };
            let mut conn = pool.get()?;
            let o =
                admin::create_organisation(&mut conn, &SystemRandom::new(), clock.now(), &input)?;
            println!(
                "Structure créée et habilitée : {} (SIRET {}).",
                o.name, o.siret
            );
            Ok(())
        }
        Command::Organisation(OrganisationCommand::Demarches { siret, set, all: _ }) => {
            let pool = aidants_connect::open_database(config)?;
            let mut conn = pool.get()?;
            let (name, demarches) = admin::set_allowed_demarches(
                &mut conn,
                &SystemRandom::new(),
                clock.now(),
                &siret,
                set.as_deref(),
            )?;
            println!(
                "Démarches autorisées pour {name} : {}.",
                demarches
                    .iter()
                    .map(|d| d.title())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::Aidant(AidantCommand::Create {
            email,
            first_name,
            last_name,
            profession,
            phone,
            siret,
            referent,
        }) => {
            let pool = aidants_connect::open_database(config)?;
            let input = admin::AidantInput {
                email,
                first_name,
                last_name,
                profession,
                phone,
                siret,
                referent,
            };
            let mut conn = pool.get()?;
            let a = admin::create_aidant(&mut conn, &SystemRandom::new(), clock.now(), &input)?;
            let role = if referent { "Référent" } else { "Aidant" };
            if a.active {
                println!(
                    "{role} ajouté à la structure : {} (compte déjà actif).",
                    a.email
                );
            } else {
                println!(
                    "{role} créé : {} — en attente d'activation (`aidants-connect aidant activate {}` après sa formation).",
                    a.email, a.email
                );
            }
            Ok(())
        }
        Command::Aidant(AidantCommand::Activate { email }) => {
            let pool = aidants_connect::open_database(config)?;
            let mut conn = pool.get()?;
            let a = admin::activate_aidant(&mut conn, &SystemRandom::new(), clock.now(), &email)?;
            println!("Compte activé : {} ({}).", a.full_name(), a.email);
            Ok(())
        }
    }
}

fn cards(config: &Config, clock: &dyn Clock, command: CardsCommand) -> anyhow::Result<()> {
    let pool = aidants_connect::open_database(config)?;
    let mut conn = pool.get()?;
    match command {
        CardsCommand::Import { file } => {
            let content = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("lecture de {} : {e}", file.display()))?;
            let cipher = aidants_connect::seed_cipher(config)?;
            let report = admin::import_cards(
                &mut conn,
                &SystemRandom::new(),
                &cipher,
                clock.now(),
                &content,
            )?;
            print!("{}", admin::import_report_text(&report));
            if !report.applied() {
                anyhow::bail!("import refusé");
            }
            Ok(())
        }
        CardsCommand::List => {
            print!("{}", admin::list_cards(&mut conn, clock.now())?);
            Ok(())
        }
    }
}

#[cfg(feature = "dev-tools")]
fn volume(config: &Config, clock: &dyn Clock, args: &VolumeArgs) -> anyhow::Result<()> {
    if config.is_production() {
        anyhow::bail!("le volume de mesure n'existe qu'en développement");
    }
    let pool = aidants_connect::open_database(config)?;
    let cipher = aidants_connect::seed_cipher(config)?;
    let mut conn = pool.get()?;
    let rng = SystemRandom::new();
    let now = clock.now();
    let demo = demo::seed_demo(&mut conn, &rng, &cipher, now, &config.email.national_team)?;
    let plan = VolumePlan {
        structures: args.structures,
        aidants: args.aidants,
        usagers: args.usagers,
        mandates: args.mandates,
        journal: args.journal,
        months: args.months,
        demo_usagers: args.demo_usagers,
    };
    let started = std::time::Instant::now();
    let report = volume::fill(
        &mut conn,
        &rng,
        now,
        plan,
        &demo.organisation_id,
        &demo.aidant_id,
        &mut |step| println!("[{:>5} s] {step}", started.elapsed().as_secs()),
    )?;
    println!(
        "Volume écrit en {} s : {} structures, {} aidants, {} usagers, {} mandats, {} autorisations, {} entrées de journal.",
        started.elapsed().as_secs(),
        report.structures,
        report.aidants,
        report.usagers,
        report.mandates,
        report.autorisations,
        report.journal
    );
    Ok(())
}

#[cfg(feature = "dev-tools")]
fn seed(config: &Config, clock: &dyn Clock) -> anyhow::Result<()> {
    if config.is_production() {
        anyhow::bail!("les données de démonstration n'existent qu'en développement");
    }
    let pool = aidants_connect::open_database(config)?;
    let cipher = aidants_connect::seed_cipher(config)?;
    let mut conn = pool.get()?;
    let summary = demo::seed_demo(
        &mut conn,
        &SystemRandom::new(),
        &cipher,
        clock.now(),
        &config.email.national_team,
    )?;
    if summary.created {
        println!("Données de démonstration créées.");
    }
    println!(
        "Aidant de démonstration : {}\nCarte : {} — code actuel : `aidants-connect otp-code` (il change toutes les 30 s, chaque code ne sert qu'une fois).\nAidant sans carte : {} — associez-lui la carte {} depuis l'espace référent.\nÉquipe nationale (/administration) : {} — carte {} (`aidants-connect otp-code {}`).\nDemande d'habilitation à instruire (/administration/habilitations), déposée par {} : son lien vers ses demandes s'obtient sur /habilitation (« Retrouver mes demandes ») et arrive dans data/emails.\nDemande d'aidant à instruire (/administration/demandes-aidants) : {}, demandé par le référent de démonstration.\nOrganisme de formation (/administration/formations) : {} — carte {} (`aidants-connect otp-code {}`).\nEspace usager (/mon-espace/) : choisissez Angela au simulateur FranceConnect, confirmez que c'est elle, ses mandats s'affichent.",
        demo::DEMO_EMAIL,
        demo::DEMO_CARD_SERIAL,
        demo::DEMO_CARDLESS_EMAIL,
        demo::DEMO_STOCK_CARD_SERIAL,
        demo::DEMO_STAFF_EMAIL,
        demo::DEMO_STAFF_CARD_SERIAL,
        demo::DEMO_STAFF_CARD_SERIAL,
        demo::DEMO_ISSUER_EMAIL,
        demo::DEMO_REQUESTED_EMAIL,
        demo::DEMO_TRAINER_EMAIL,
        demo::DEMO_TRAINER_CARD_SERIAL,
        demo::DEMO_TRAINER_CARD_SERIAL
    );
    Ok(())
}

fn serve(config: &Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&config.bind)
        .map_err(|e| anyhow::anyhow!("écoute sur {} : {e}", config.bind))?;
    let system = actix_web::rt::System::new();
    system.block_on(async {
        let server = aidants_connect::start(config, listener, Arc::new(SystemClock))?;
        tracing::info!(url = %config.public_url, "Aidants Connect is listening");
        server.await?;
        Ok(())
    })
}

/// `aidants-connect jobs status|run`.
fn jobs(config: &Config, clock: &dyn Clock, command: &JobsCommand) -> anyhow::Result<()> {
    let pool = aidants_connect::open_database(config)?;
    let mut conn = pool.get()?;
    if let JobsCommand::Run = command {
        let schedule = aidants_connect::schedule(config);
        for run in
            aidants_connect::jobs::run_due(&mut conn, &SystemRandom::new(), &schedule, clock.now())?
        {
            match run.outcome {
                Ok(items) => println!(
                    "{} ({}) : fait, {items} élément(s).",
                    run.job.name(),
                    run.period
                ),
                Err(error) => println!("{} ({}) : échec : {error}", run.job.name(), run.period),
            }
        }
    }
    let states = aidants_connect::jobs::states(&mut conn)?;
    if states.is_empty() {
        println!("Aucune tâche planifiée n'a encore tourné.");
    }
    for state in states {
        println!(
            "{}  période {}  dernier passage {}  {}  {} élément(s)  {}",
            state.name,
            state.period.unwrap_or_else(|| "aucune".into()),
            state
                .last_run_at
                .map(|t| paris::local(t).format("%d/%m/%Y %H:%M").to_string())
                .unwrap_or_default(),
            state.last_outcome.unwrap_or_default(),
            state.last_items,
            state.last_error.unwrap_or_default()
        );
    }
    Ok(())
}
