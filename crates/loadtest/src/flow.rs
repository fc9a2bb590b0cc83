//! The requests of one flow, as FranceConnect and the aidant's browser send them, and the
//! runners that repeat them from concurrent virtual users until the time or the budget is
//! spent.

use crate::stats::{Errors, Latencies};
use anyhow::{bail, Context, Result};
use reqwest::{cookie::Jar, redirect, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Who the load plays: the relying party registered at the service (FranceConnect in
/// production, the simulator here) and the aidant signed in once for every virtual user.
#[derive(Debug, Clone)]
pub struct Target {
    /// Instances of the service; flows are spread over them in turn.
    pub bases: Vec<Url>,
    /// Registered client.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// How it authenticates at the token endpoint, as registered.
    pub token_auth: TokenAuth,
    /// Its registered redirect URI.
    pub redirect_uri: String,
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenAuth {
    /// The secret in the form (`client_secret_post`), as FranceConnect does.
    Post,
    /// HTTP Basic (`client_secret_basic`).
    Basic,
}

impl Target {
    /// Refuses anything but loopback addresses: the tool is not for loading other machines.
    pub fn check_loopback(&self) -> Result<()> {
        for base in &self.bases {
            let loopback = match base.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if !loopback {
                bail!("{base} n'est pas une adresse de boucle locale (127.0.0.1, ::1, localhost)");
            }
        }
        Ok(())
    }
}

/// Why a step failed, reported by kind.
#[derive(Debug)]
pub struct StepError {
    step: &'static str,
    what: String,
}

impl StepError {
    fn new(step: &'static str, what: impl Into<String>) -> StepError {
        StepError {
            step,
            what: what.into(),
        }
    }

    /// The kind, for counting: what went wrong and at which step.
    pub fn kind(&self) -> String {
        format!("{} at {}", self.what, self.step)
    }
}

fn transport(step: &'static str) -> impl Fn(reqwest::Error) -> StepError {
    move |e| {
        let what = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connection refused"
        } else {
            "transport error"
        };
        StepError::new(step, what)
    }
}

/// One virtual user's HTTP client: shares the aidant's session cookie with all the others.
#[derive(Debug, Clone)]
pub struct Agent {
    http: reqwest::Client,
    target: Arc<Target>,
    random: Arc<SystemRandom>,
    requests: Arc<AtomicU64>,
    latencies: Arc<Mutex<Latencies>>,
}

/// The value of the first `name="{name}" value="…"` input of a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    html[start..].split('"').next().map(str::to_owned)
}

impl Agent {
    /// A client with one cookie jar for every virtual user (the aidant signs in once).
    pub fn new(target: Target) -> Result<Agent> {
        let http = reqwest::Client::builder()
            .cookie_provider(Arc::new(Jar::default()))
            .redirect(redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(Agent {
            http,
            target: Arc::new(target),
            random: Arc::new(SystemRandom::new()),
            requests: Arc::new(AtomicU64::new(0)),
            latencies: Arc::new(Mutex::new(Latencies::default())),
        })
    }

    /// HTTP requests sent so far by every virtual user.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The latency of every request answered as expected since the last call.
    pub fn take_request_latencies(&self) -> Latencies {
        self.latencies
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    fn opaque(&self) -> Result<String, StepError> {
        let mut bytes = [0u8; 16];
        self.random
            .fill(&mut bytes)
            .map_err(|_| StepError::new("authorize", "no randomness"))?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    async fn send(
        &self,
        step: &'static str,
        request: reqwest::RequestBuilder,
        expected: StatusCode,
    ) -> Result<reqwest::Response, StepError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let response = request.send().await.map_err(transport(step))?;
        if response.status() != expected {
            return Err(StepError::new(
                step,
                format!("http {}", response.status().as_u16()),
            ));
        }
        if let Ok(mut latencies) = self.latencies.lock() {
            latencies.record(sent.elapsed());
        }
        Ok(response)
    }

    async fn page(&self, step: &'static str, url: Url) -> Result<String, StepError> {
        let response = self.send(step, self.http.get(url), StatusCode::OK).await?;
        response.text().await.map_err(transport(step))
    }

    fn location(step: &'static str, response: &reqwest::Response) -> Result<String, StepError> {
        response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| StepError::new(step, "no Location"))
    }

    /// Opens an interaction like FranceConnect's redirection does; answers its URL and state.
    async fn authorize(&self, base: &Url) -> Result<(Url, String), StepError> {
        let state = self.opaque()?;
        let nonce = self.opaque()?;
        let mut url = base
            .join("authorize")
            .map_err(|_| StepError::new("authorize", "bad base URL"))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.target.client_id)
            .append_pair("redirect_uri", &self.target.redirect_uri)
            .append_pair("scope", "openid profile birth email")
            .append_pair("acr_values", "eidas1")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce);
        let response = self
            .send("authorize", self.http.get(url), StatusCode::FOUND)
            .await?;
        let location = Self::location("authorize", &response)?;
        let interaction = base
            .join(&location)
            .map_err(|_| StepError::new("authorize", "bad Location"))?;
        Ok((interaction, state))
    }

    async fn post_form(
        &self,
        step: &'static str,
        url: Url,
        form: &[(&str, &str)],
    ) -> Result<String, StepError> {
        let response = self
            .send(step, self.http.post(url).form(form), StatusCode::SEE_OTHER)
            .await?;
        Self::location(step, &response)
    }

    fn action(interaction: &Url, action: &str) -> Url {
        let mut url = interaction.clone();
        url.set_query(None);
        url.path_segments_mut()
            .map(|mut s| {
                s.push(action);
            })
            .ok();
        url
    }

    /// Signs the aidant in on a first interaction with a code of the card; every virtual user
    /// then shares the session.
    pub async fn sign_in(&self, email: &str, otp: &str) -> Result<()> {
        let base = self.target.bases.first().context("aucune instance")?;
        let (interaction, _) = self
            .authorize(base)
            .await
            .map_err(|e| anyhow::anyhow!(e.kind()))?;
        let page = self
            .page("login page", interaction.clone())
            .await
            .map_err(|e| anyhow::anyhow!(e.kind()))?;
        let csrf = input_value(&page, "csrf_token").context("pas de jeton CSRF")?;
        self.post_form(
            "sign-in",
            Self::action(&interaction, "connexion"),
            &[("csrf_token", &csrf), ("email", email), ("otp", otp)],
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "connexion refusée ({}): code déjà utilisé ou périmé ?",
                e.kind()
            )
        })?;
        Ok(())
    }

    /// From FranceConnect's redirection to the code sent back to it: authorize, usager page,
    /// usager chosen, démarche page, démarche chosen (5 requests).
    pub async fn code(&self, base: &Url) -> Result<String, StepError> {
        let (interaction, state) = self.authorize(base).await?;
        let usagers = self.page("usager page", interaction.clone()).await?;
        let (Some(csrf), Some(usager)) = (
            input_value(&usagers, "csrf_token"),
            input_value(&usagers, "usager"),
        ) else {
            return Err(StepError::new(
                "usager page",
                "no usager to choose (signed out?)",
            ));
        };
        self.post_form(
            "usager choice",
            Self::action(&interaction, "usager"),
            &[("csrf_token", &csrf), ("usager", &usager)],
        )
        .await?;
        let demarches = self.page("démarche page", interaction.clone()).await?;
        let (Some(csrf), Some(demarche)) = (
            input_value(&demarches, "csrf_token"),
            input_value(&demarches, "demarche"),
        ) else {
            return Err(StepError::new("démarche page", "no démarche to choose"));
        };
        let back = self
            .post_form(
                "démarche choice",
                Self::action(&interaction, "demarche"),
                &[("csrf_token", &csrf), ("demarche", &demarche)],
            )
            .await?;
        let back =
            Url::parse(&back).map_err(|_| StepError::new("démarche choice", "bad redirect"))?;
        let mut code = None;
        let mut echoed = None;
        for (key, value) in back.query_pairs() {
            match key.as_ref() {
                "code" => code = Some(value.into_owned()),
                "state" => echoed = Some(value.into_owned()),
                _ => {}
            }
        }
        if echoed.as_deref() != Some(state.as_str()) {
            return Err(StepError::new("démarche choice", "state not echoed"));
        }
        code.ok_or_else(|| StepError::new("démarche choice", "no code"))
    }

    /// The token request FranceConnect makes with a code; answers the access token.
    pub async fn token(&self, base: &Url, code: &str) -> Result<String, StepError> {
        let url = base
            .join("token")
            .map_err(|_| StepError::new("token", "bad base URL"))?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.target.redirect_uri),
        ];
        let request = match self.target.token_auth {
            TokenAuth::Post => {
                form.push(("client_id", &self.target.client_id));
                form.push(("client_secret", &self.target.client_secret));
                self.http.post(url)
            }
            TokenAuth::Basic => self
                .http
                .post(url)
                .basic_auth(&self.target.client_id, Some(&self.target.client_secret)),
        };
        let request = request.form(&form);
        let response = self.send("token", request, StatusCode::OK).await?;
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| StepError::new("token", "not JSON"))?;
        if !body["id_token"].is_string() {
            return Err(StepError::new("token", "no id_token"));
        }
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| StepError::new("token", "no access_token"))
    }

    /// The userinfo request FranceConnect makes with the access token.
    pub async fn userinfo(&self, base: &Url, access_token: &str) -> Result<(), StepError> {
        let url = base
            .join("userinfo")
            .map_err(|_| StepError::new("userinfo", "bad base URL"))?;
        let response = self
            .send(
                "userinfo",
                self.http.get(url).bearer_auth(access_token),
                StatusCode::OK,
            )
            .await?;
        response.bytes().await.map_err(transport("userinfo"))?;
        Ok(())
    }

    /// One complete flow (7 requests).
    pub async fn flow(&self, base: &Url) -> Result<(), StepError> {
        let code = self.code(base).await?;
        let access = self.token(base, &code).await?;
        self.userinfo(base, &access).await
    }

    fn base(&self, n: u64) -> &Url {
        let bases = &self.target.bases;
        &bases[usize::try_from(n).unwrap_or(0) % bases.len()]
    }
}

/// How long and how much.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Concurrent virtual users.
    pub concurrency: usize,
    /// Wall-time bound.
    pub duration: Duration,
    /// Bound on the operations started.
    pub max_operations: u64,
}

/// What the virtual users measured.
#[derive(Debug, Default)]
pub struct Measured {
    /// Latency of each successful operation.
    pub operations: Latencies,
    /// Errors by kind.
    pub errors: Errors,
}

/// Runs `operation` from `plan.concurrency` virtual users until the time or the budget is
/// spent; the n-th operation started gets `n`.
async fn run<F, Fut>(plan: Plan, operation: F) -> Measured
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), StepError>> + Send,
{
    let deadline = Instant::now() + plan.duration;
    let started = Arc::new(AtomicU64::new(0));
    let mut users = Vec::new();
    for _ in 0..plan.concurrency {
        let operation = operation.clone();
        let started = started.clone();
        users.push(tokio::spawn(async move {
            let mut measured = Measured::default();
            while Instant::now() < deadline {
                let n = started.fetch_add(1, Ordering::Relaxed);
                if n >= plan.max_operations {
                    break;
                }
                let t = Instant::now();
                match operation(n).await {
                    Ok(()) => measured.operations.record(t.elapsed()),
                    Err(e) => measured.errors.count(e.kind()),
                }
            }
            measured
        }));
    }
    let mut all = Measured::default();
    for user in users {
        match user.await {
            Ok(measured) => {
                all.operations.merge(measured.operations);
                all.errors.merge(measured.errors);
            }
            Err(_) => all.errors.count("virtual user crashed".into()),
        }
    }
    all
}

/// Complete flows, spread over the instances in turn.
pub async fn flows(agent: &Agent, plan: Plan) -> Measured {
    let agent = agent.clone();
    run(plan, move |n| {
        let agent = agent.clone();
        async move { agent.flow(agent.base(n)).await }
    })
    .await
}

/// Mints up to `count` codes (each valid one minute, single use), with their instance.
pub async fn mint_codes(agent: &Agent, plan: Plan) -> (Vec<(u64, String)>, Errors) {
    let codes = Arc::new(Mutex::new(Vec::new()));
    let minted = {
        let agent = agent.clone();
        let codes = codes.clone();
        run(plan, move |n| {
            let agent = agent.clone();
            let codes = codes.clone();
            async move {
                let code = agent.code(agent.base(n)).await?;
                if let Ok(mut codes) = codes.lock() {
                    codes.push((n, code));
                }
                Ok(())
            }
        })
        .await
    };
    let codes = codes.lock().map(|c| c.clone()).unwrap_or_default();
    (codes, minted.errors)
}

/// The token endpoint alone, each code once.
pub async fn tokens(agent: &Agent, codes: Vec<(u64, String)>, concurrency: usize) -> Measured {
    let count = codes.len() as u64;
    let codes = Arc::new(codes);
    let agent = agent.clone();
    let plan = Plan {
        concurrency,
        duration: Duration::from_secs(60),
        max_operations: count,
    };
    run(plan, move |n| {
        let agent = agent.clone();
        let codes = codes.clone();
        async move {
            let Some((instance, code)) = usize::try_from(n).ok().and_then(|i| codes.get(i)) else {
                return Err(StepError::new("token", "no code left"));
            };
            agent.token(agent.base(*instance), code).await.map(|_| ())
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn target(base: &str) -> Target {
        Target {
            bases: vec![Url::parse(base).unwrap()],
            client_id: "fc-sim".into(),
            client_secret: "s".into(),
            token_auth: TokenAuth::Post,
            redirect_uri: "http://127.0.0.1:8001/callback".into(),
        }
    }

    #[test]
    fn only_loopback_is_loaded() {
        for ok in [
            "http://127.0.0.1:8000/",
            "http://localhost:8000/",
            "http://[::1]:8000/",
        ] {
            assert!(target(ok).check_loopback().is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.2:8000/",
            "https://aidantsconnect.beta.gouv.fr/",
        ] {
            assert!(target(refused).check_loopback().is_err(), "{refused}");
        }
    }

    #[test]
    fn reads_inputs_and_builds_actions() {
        let html = r#"<input type="hidden" name="csrf_token" value="abc"><input type="hidden" name="usager" value="u-1">"#;
        assert_eq!(input_value(html, "csrf_token").as_deref(), Some("abc"));
        assert_eq!(input_value(html, "usager").as_deref(), Some("u-1"));
        assert_eq!(input_value(html, "demarche"), None);
        let interaction = Url::parse("http://127.0.0.1:8000/fi/xyz?q=a").unwrap();
        assert_eq!(
            Agent::action(&interaction, "usager").as_str(),
            "http://127.0.0.1:8000/fi/xyz/usager"
        );
    }
}
