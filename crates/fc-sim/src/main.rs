//! `fc-sim`: the FranceConnect simulator, for development and demos.

use clap::Parser;
use std::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "fc-sim",
    about = "Simulateur FranceConnect pour Aidants Connect"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "FC_SIM_BIND", default_value = "127.0.0.1:8001")]
    bind: String,
    /// Our public URL (redirect URI = {public_url}/callback).
    #[arg(
        long,
        env = "FC_SIM_PUBLIC_URL",
        default_value = "http://127.0.0.1:8001"
    )]
    public_url: String,
    /// Aidants Connect's issuer URL.
    #[arg(long, env = "FC_SIM_ISSUER", default_value = "http://127.0.0.1:8000")]
    issuer: String,
    /// client_id registered at Aidants Connect.
    #[arg(long, env = "FC_SIM_CLIENT_ID", default_value = "fc-sim")]
    client_id: String,
    /// client_secret registered at Aidants Connect.
    #[arg(
        long,
        env = "FC_SIM_CLIENT_SECRET",
        default_value = "secret-de-developpement-du-simulateur-franceconnect"
    )]
    client_secret: String,
    /// client_id of Aidants Connect as a service provider of the simulated FranceConnect.
    #[arg(long, env = "FC_SIM_SP_CLIENT_ID", default_value = "aidants-connect")]
    sp_client_id: String,
    /// Its client_secret.
    #[arg(
        long,
        env = "FC_SIM_SP_CLIENT_SECRET",
        default_value = "secret-de-developpement-d-aidants-connect-chez-franceconnect"
    )]
    sp_client_secret: String,
    /// Its callback.
    #[arg(
        long,
        env = "FC_SIM_SP_REDIRECT_URI",
        default_value = "http://127.0.0.1:8000/fc/callback"
    )]
    sp_redirect_uri: String,
    /// Its post-logout URI.
    #[arg(
        long,
        env = "FC_SIM_SP_POST_LOGOUT_URI",
        default_value = "http://127.0.0.1:8000/fc/deconnexion"
    )]
    sp_post_logout_uri: String,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,actix_server=warn"))
        .init();
    let cli = Cli::parse();
    let listener = TcpListener::bind(&cli.bind)
        .map_err(|e| anyhow::anyhow!("écoute sur {} : {e}", cli.bind))?;
    println!("Simulateur FranceConnect : {}", cli.public_url);
    let config = fc_sim::SimConfig {
        issuer: cli.issuer,
        client_id: cli.client_id,
        client_secret: cli.client_secret,
        public_url: cli.public_url,
        sp_clients: vec![fc_sim::idp::SpClient {
            client_id: cli.sp_client_id,
            client_secret: cli.sp_client_secret,
            redirect_uris: vec![cli.sp_redirect_uri],
            post_logout_redirect_uris: vec![cli.sp_post_logout_uri],
            scopes: fc_sim::idp::HABILITATED_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }],
    };
    #[allow(clippy::disallowed_methods)]
    let now: fc_sim::idp::TimeSource = std::sync::Arc::new(chrono::Utc::now);
    actix_web::rt::System::new().block_on(async move {
        let (server, _control) = fc_sim::serve(config, listener, now)?;
        server.await
    })?;
    Ok(())
}
