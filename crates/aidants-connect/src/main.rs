//! `aidants-connect`: serve the service, migrate the database, seed and use the demo.

use aidants_connect::config::Config;
use aidants_connect::demo;
use clap::{Parser, Subcommand};
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
    Demo,
    /// Print the code the demo card shows now (development only).
    OtpCode,
    /// Development: migrate, seed the demo, then serve.
    Dev,
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
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
    init_tracing(config.is_production());
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
        Command::Demo => seed(config, &clock),
        Command::OtpCode => {
            if config.is_production() {
                anyhow::bail!("otp-code n'existe qu'en développement");
            }
            println!("{}", demo::demo_code(clock.now()));
            Ok(())
        }
        Command::Dev => {
            seed(config, &clock)?;
            serve(config)
        }
    }
}

fn seed(config: &Config, clock: &dyn Clock) -> anyhow::Result<()> {
    if config.is_production() {
        anyhow::bail!("les données de démonstration n'existent qu'en développement");
    }
    let pool = aidants_connect::open_database(config)?;
    let cipher = aidants_connect::seed_cipher(config)?;
    let mut conn = pool.get()?;
    let summary = demo::seed_demo(&mut conn, &SystemRandom::new(), &cipher, clock.now())?;
    if summary.created {
        println!("Données de démonstration créées.");
    }
    println!(
        "Aidant de démonstration : {}\nCarte : {} — code actuel : `aidants-connect otp-code` (il change toutes les 30 s, chaque code ne sert qu'une fois).",
        demo::DEMO_EMAIL,
        demo::DEMO_CARD_SERIAL
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
