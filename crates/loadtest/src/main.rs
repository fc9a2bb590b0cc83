//! `loadtest`: see the crate's documentation (`lib.rs`) and docs/benchmarks.md.

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use loadtest::flow::{self, Agent, Plan, Target, TokenAuth};
use loadtest::server;
use loadtest::stats::{Report, ServerUsage};
use std::time::{Duration, Instant};
use url::Url;

/// Longest run accepted, seconds.
const MAX_SECONDS: u64 = 600;

#[derive(Parser)]
#[command(about = "Charge une instance locale d'Aidants Connect et mesure ce qu'elle dépense")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Complete flows: authorize → usager → démarche → code → token → userinfo.
    Flows {
        #[command(flatten)]
        common: Common,
        /// Seconds of measurement (at most 600).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Flows at most.
        #[arg(long, default_value_t = 1_000_000)]
        max_flows: u64,
    },
    /// The token endpoint alone, with codes minted beforehand (a code lives one minute).
    Tokens {
        #[command(flatten)]
        common: Common,
        /// Codes to mint, then to exchange.
        #[arg(long, default_value_t = 3000)]
        codes: u64,
    },
}

#[derive(Args)]
struct Common {
    /// Base URL of an instance (repeat for several instances on one database).
    #[arg(long = "url", default_value = "http://127.0.0.1:8000/")]
    urls: Vec<Url>,
    /// Process id of the server (repeat for several instances): its CPU and memory are read
    /// from /proc.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Concurrent virtual users.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The aidant who signs in once for all.
    #[arg(long, default_value = "camille.durand@france-services-demo.fr")]
    email: String,
    /// A fresh code of the aidant's card (`aidants-connect otp-code` for the demo).
    #[arg(long)]
    code: String,
    /// Flows run before measuring (connections opened, caches warm).
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// Registered client.
    #[arg(long, default_value = "fc-sim")]
    client_id: String,
    /// Its secret.
    #[arg(
        long,
        env = "AC_LOAD_CLIENT_SECRET",
        default_value = "secret-de-developpement-du-simulateur-franceconnect"
    )]
    client_secret: String,
    /// How it authenticates at the token endpoint: `post` (the secret in the form, as
    /// FranceConnect does) or `basic`.
    #[arg(long, value_enum, default_value = "post")]
    token_auth: TokenAuth,
    /// Its registered redirect URI.
    #[arg(long, default_value = "http://127.0.0.1:8001/callback")]
    redirect_uri: String,
}

struct Usage {
    pids: Vec<u32>,
    cpu_before: f64,
}

impl Usage {
    fn start(pids: &[u32]) -> Result<Usage> {
        let mut cpu_before = 0.0;
        for pid in pids {
            cpu_before += server::cpu_seconds(*pid)?;
        }
        Ok(Usage {
            pids: pids.to_vec(),
            cpu_before,
        })
    }

    fn stop(self) -> Result<Option<ServerUsage>> {
        if self.pids.is_empty() {
            return Ok(None);
        }
        let mut cpu = 0.0;
        let mut peak: f64 = 0.0;
        for pid in &self.pids {
            cpu += server::cpu_seconds(*pid)?;
            peak = peak.max(server::peak_rss_mib(*pid)?);
        }
        Ok(Some(ServerUsage {
            cpu_seconds: cpu - self.cpu_before,
            peak_rss_mib: peak,
        }))
    }
}

async fn prepare(common: &Common) -> Result<Agent> {
    if common.concurrency == 0 || common.concurrency > 4096 {
        bail!("--concurrency: entre 1 et 4096");
    }
    let target = Target {
        bases: common.urls.clone(),
        client_id: common.client_id.clone(),
        client_secret: common.client_secret.clone(),
        token_auth: common.token_auth,
        redirect_uri: common.redirect_uri.clone(),
    };
    target.check_loopback()?;
    let agent = Agent::new(target)?;
    agent.sign_in(&common.email, &common.code).await?;
    let warmup = flow::flows(
        &agent,
        Plan {
            concurrency: common.concurrency.min(16),
            duration: Duration::from_secs(60),
            max_operations: common.warmup,
        },
    )
    .await;
    if warmup.errors.total() > 0 {
        bail!("échauffement en erreur : {:?}", warmup.errors);
    }
    Ok(agent)
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let report = match cli.mode {
        Mode::Flows {
            common,
            seconds,
            max_flows,
        } => {
            if seconds == 0 || seconds > MAX_SECONDS {
                bail!("--seconds: entre 1 et {MAX_SECONDS}");
            }
            let agent = prepare(&common).await?;
            let requests_before = agent.requests();
            agent.take_request_latencies();
            let usage = Usage::start(&common.server_pids)?;
            let started = Instant::now();
            let measured = flow::flows(
                &agent,
                Plan {
                    concurrency: common.concurrency,
                    duration: Duration::from_secs(seconds),
                    max_operations: max_flows,
                },
            )
            .await;
            let elapsed = started.elapsed();
            Report {
                mode: "flows",
                concurrency: common.concurrency,
                instances: common.urls.len(),
                elapsed,
                operations: measured.operations,
                requests: agent.requests() - requests_before,
                request_latencies: agent.take_request_latencies(),
                errors: measured.errors,
                server: usage.stop()?,
            }
        }
        Mode::Tokens { common, codes } => {
            if codes == 0 || codes > 100_000 {
                bail!("--codes: entre 1 et 100000");
            }
            let agent = prepare(&common).await?;
            let minting = Instant::now();
            let (minted, errors) = flow::mint_codes(
                &agent,
                Plan {
                    concurrency: common.concurrency,
                    duration: Duration::from_secs(40),
                    max_operations: codes,
                },
            )
            .await;
            if errors.total() > 0 {
                bail!("codes non obtenus : {errors:?}");
            }
            eprintln!(
                "{} codes obtenus en {:.1} s",
                minted.len(),
                minting.elapsed().as_secs_f64()
            );
            let requests_before = agent.requests();
            agent.take_request_latencies();
            let usage = Usage::start(&common.server_pids)?;
            let started = Instant::now();
            let measured = flow::tokens(&agent, minted, common.concurrency).await;
            let elapsed = started.elapsed();
            Report {
                mode: "tokens",
                concurrency: common.concurrency,
                instances: common.urls.len(),
                elapsed,
                operations: measured.operations,
                requests: agent.requests() - requests_before,
                request_latencies: agent.take_request_latencies(),
                errors: measured.errors,
                server: usage.stop()?,
            }
        }
    };
    print!("{report}");
    if report.errors.total() > 0 {
        std::process::exit(1);
    }
    Ok(())
}
