//! The load tool against a served instance: every flow it counts went through, every code it
//! minted was exchanged once, and what it refuses to do.

use ac_tests::{on_both_backends, Backend, TestService, RP_REDIRECT, SECRET, SEED_A};
use loadtest::flow::{self, Agent, Plan, Target, TokenAuth};
use std::time::Duration;
use url::Url;

/// The load tool as FranceConnect's core: its record of Aidants Connect (the secret in the
/// form, HS256).
fn agent(service: &TestService) -> Agent {
    agent_as(service, "fc-franceconnect", TokenAuth::Post)
}

fn agent_as(service: &TestService, client_id: &str, token_auth: TokenAuth) -> Agent {
    Agent::new(Target {
        bases: vec![Url::parse(&format!("{}/", service.issuer())).unwrap()],
        client_id: client_id.into(),
        client_secret: SECRET.into(),
        token_auth,
        redirect_uri: RP_REDIRECT.into(),
    })
    .unwrap()
}

fn plan(concurrency: usize, max_operations: u64) -> Plan {
    Plan {
        concurrency,
        duration: Duration::from_secs(60),
        max_operations,
    }
}

async fn flows_and_tokens_go_through(backend: Backend) {
    let service = TestService::start(backend);
    let agent = agent(&service);
    agent
        .sign_in(&service.fixtures.email_a, &service.next_code(SEED_A))
        .await
        .unwrap();

    let measured = flow::flows(&agent, plan(4, 24)).await;
    assert_eq!(measured.errors.total(), 0, "{:?}", measured.errors);
    assert_eq!(measured.operations.count(), 24);
    assert_eq!(
        agent.requests(),
        3 + 24 * 7,
        "sign-in in 3 requests, then 7 a flow"
    );
    assert_eq!(agent.take_request_latencies().count(), 3 + 24 * 7);
    assert_eq!(agent.take_request_latencies().count(), 0);

    let (codes, errors) = flow::mint_codes(&agent, plan(4, 10)).await;
    assert_eq!(errors.total(), 0);
    assert_eq!(codes.len(), 10);
    let exchanged = flow::tokens(&agent, codes.clone(), 3).await;
    assert_eq!(exchanged.errors.total(), 0, "{:?}", exchanged.errors);
    assert_eq!(exchanged.operations.count(), 10);

    // The same codes again: single use, each refused and counted by kind.
    let replayed = flow::tokens(&agent, codes, 3).await;
    assert_eq!(replayed.operations.count(), 0);
    assert_eq!(replayed.errors.total(), 10);
    assert!(format!("{:?}", replayed.errors).contains("http 400 at token"));

    // A client registered for HTTP Basic is loaded that way.
    let basic = agent_as(&service, "fc-es256", TokenAuth::Basic);
    basic
        .sign_in(&service.fixtures.email_a, &service.next_code(SEED_A))
        .await
        .unwrap();
    let (codes, _) = flow::mint_codes(&basic, plan(2, 2)).await;
    assert_eq!(flow::tokens(&basic, codes, 2).await.operations.count(), 2);
}

async fn a_used_code_does_not_sign_in(backend: Backend) {
    let service = TestService::start(backend);
    let code = service.next_code(SEED_A);
    agent(&service)
        .sign_in(&service.fixtures.email_a, &code)
        .await
        .unwrap();
    let again = agent(&service)
        .sign_in(&service.fixtures.email_a, &code)
        .await;
    assert!(again.is_err());
    let signed_out = flow::flows(&agent(&service), plan(1, 1)).await;
    assert_eq!(signed_out.operations.count(), 0);
    assert_eq!(signed_out.errors.total(), 1);
}

on_both_backends!(flows_and_tokens_go_through, a_used_code_does_not_sign_in);
