//! The measurement volume (`aidants-connect volume`): what it writes has the service's shape —
//! chains that verify, aggregates equal to a rebuild from the journal, mandates the service
//! uses — and a second fill is refused without writing anything.

use ac_tests::{on_both_backends, Backend, TestService};
use devtools::volume::{self, VolumePlan};
use diesel::prelude::*;
use ring::rand::SystemRandom;
use store::schema::{autorisations, journal, journal_heads, mandates, organisations, usagers};
use store::{OrganisationId, Timestamp, UsagerId};

const PLAN: VolumePlan = VolumePlan {
    structures: 4,
    aidants: 10,
    usagers: 300,
    mandates: 900,
    journal: 3_000,
    months: 6,
    demo_usagers: 30,
};

/// Rows of a table (or a join).
macro_rules! count {
    ($conn:expr, $query:expr) => {
        $query.count().get_result::<i64>($conn).unwrap()
    };
}

/// The usager list against the naive answer: every usager with an active autorisation in the
/// structure (and matching the search), by name, cut at the limit.
fn check_usager_list(
    conn: &mut store::DbConnection,
    organisation: &OrganisationId,
    now: Timestamp,
    limit: usize,
    search: Option<&str>,
) {
    let mut candidates: Vec<mandate::Usager> = usagers::table
        .filter(
            usagers::id.eq_any(
                mandates::table
                    .filter(mandates::organisation_id.eq(organisation))
                    .select(mandates::usager_id),
            ),
        )
        .select(mandate::Usager::as_select())
        .load(conn)
        .unwrap();
    candidates.retain(|u| {
        search.is_none_or(|s| u.search_name.contains(&s.to_lowercase()))
            && !mandate::active_demarches(conn, organisation, &u.id, None, now)
                .unwrap()
                .is_empty()
    });
    candidates.sort_by(|a, b| (&a.search_name, &a.id).cmp(&(&b.search_name, &b.id)));
    candidates.truncate(limit);
    let listed =
        mandate::usagers_with_active_mandates(conn, organisation, None, now, search, limit as i64)
            .unwrap();
    assert!(search.is_some() || !listed.is_empty());
    assert_eq!(
        listed.iter().map(|u| &u.id).collect::<Vec<_>>(),
        candidates.iter().map(|u| &u.id).collect::<Vec<_>>(),
        "{organisation} limit {limit}"
    );
}

/// Each seeded structure's chain and the demo structure's verify, and each head is its
/// chain's last entry; returns how many entries the chains hold.
fn every_chain_verifies(conn: &mut store::PooledDb, chains: &[&OrganisationId]) -> i64 {
    let mut chained = 0;
    for chain in chains {
        assert_eq!(::journal::verify_chain(conn, chain.as_str()).unwrap(), None);
        let (seq, head): (i64, String) = journal_heads::table
            .find(chain)
            .select((journal_heads::seq, journal_heads::head_hash))
            .first(conn)
            .unwrap();
        let last: String = journal::table
            .filter(journal::chain.eq(chain))
            .filter(journal::seq.eq(seq))
            .select(journal::hash)
            .first(conn)
            .unwrap();
        assert_eq!(last, head);
        chained += seq;
    }
    chained
}

/// The aggregates written in bulk are those a rebuild from the journal counts, entry by entry.
fn aggregates_match_a_rebuild(conn: &mut store::PooledDb, now: Timestamp) {
    let bulk = ::journal::stats::monthly(conn, now, 12).unwrap();
    let active_months = bulk.iter().filter(|m| m.demarches > 0).count();
    assert!(active_months >= 6, "{bulk:?}");
    store::write_transaction(conn, ::journal::stats::rebuild).unwrap();
    assert_eq!(::journal::stats::monthly(conn, now, 12).unwrap(), bulk);
}

/// The service uses one of the demo structure's new mandates from end to end.
async fn a_new_mandate_is_usable(service: &TestService) {
    let f = &service.fixtures;
    let mut conn = service.conn();
    let (usager_id, demarche): (UsagerId, String) = autorisations::table
        .inner_join(mandates::table)
        .filter(mandates::organisation_id.eq(&f.org_a))
        .filter(mandates::usager_id.ne_all([
            &f.usager_all.id,
            &f.usager_argent.id,
            &f.usager_expired.id,
            &f.usager_revoked.id,
        ]))
        .select((mandates::usager_id, autorisations::demarche))
        .first(&mut conn)
        .unwrap();
    let family: String = usagers::table
        .find(&usager_id)
        .select(usagers::family_name)
        .first(&mut conn)
        .unwrap();
    drop(conn);
    let received = service
        .use_mandate(&usager_id, mandate::Demarche::parse(&demarche).unwrap())
        .await;
    assert_eq!(received.family_name, family);
}

/// The first 20 usagers by name lose their mandates: a page of 5 needs a second, larger
/// batch past them, and still lists the next active ones in order.
fn the_list_walks_past_a_revoked_batch(service: &TestService, now: Timestamp) {
    let f = &service.fixtures;
    let mut conn = service.conn();
    let first: Vec<UsagerId> = store::schema::organisation_usagers::table
        .filter(store::schema::organisation_usagers::organisation_id.eq(&f.org_a))
        .order((
            store::schema::organisation_usagers::search_name,
            store::schema::organisation_usagers::usager_id,
        ))
        .select(store::schema::organisation_usagers::usager_id)
        .limit(20)
        .load(&mut conn)
        .unwrap();
    diesel::update(
        mandates::table
            .filter(mandates::organisation_id.eq(&f.org_a))
            .filter(mandates::usager_id.eq_any(&first)),
    )
    .set(mandates::revoked_at.eq(Some(now)))
    .execute(&mut conn)
    .unwrap();
    let listed =
        mandate::usagers_with_active_mandates(&mut conn, &f.org_a, None, now, None, 5).unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|u| !first.contains(&u.id)));
    check_usager_list(&mut conn, &f.org_a, now, 5, None);
}

async fn volume_has_the_service_shape(backend: Backend) {
    let service = TestService::start(backend);
    let f = service.fixtures.clone();
    let now = service.clock_now();
    let mut conn = service.conn();
    let usagers_before = count!(&mut conn, usagers::table);
    let mandates_before = count!(&mut conn, mandates::table);
    let journal_before = count!(&mut conn, journal::table);

    let fill = |conn: &mut store::PooledDb, progress: &mut dyn FnMut(&str)| {
        volume::fill(
            conn,
            &SystemRandom::new(),
            now,
            PLAN,
            &f.org_a,
            &f.aidant_a,
            progress,
        )
    };
    let mut steps = Vec::new();
    let report = fill(&mut conn, &mut |s| steps.push(s.to_owned())).unwrap();
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!(
        (
            report.structures,
            report.aidants,
            report.usagers,
            report.mandates
        ),
        (4, 10, 330, 930)
    );
    let written_autorisations = count!(&mut conn, autorisations::table.inner_join(mandates::table));
    assert!(report.autorisations >= 930 && report.autorisations <= 3 * 930);
    assert_eq!(count!(&mut conn, usagers::table), usagers_before + 330);
    assert_eq!(count!(&mut conn, mandates::table), mandates_before + 930);
    assert!(written_autorisations >= report.autorisations as i64);
    // Every seeded entry is in the journal: 3,000 over the structures' chains, plus one
    // create_autorisation per autorisation of the demo structure's new mandates.
    let journal_after = count!(&mut conn, journal::table);
    assert_eq!(journal_after - journal_before, report.journal as i64);
    assert!(report.journal > 3_000 + 30);

    let structures: Vec<OrganisationId> = organisations::table
        .filter(organisations::siret.like("98%"))
        .select(organisations::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(structures.len(), 4);
    let chains: Vec<&OrganisationId> = structures.iter().chain([&f.org_a]).collect();
    assert!(every_chain_verifies(&mut conn, &chains) >= 3_000);
    aggregates_match_a_rebuild(&mut conn, now);

    // A second fill is refused and writes nothing.
    let refused = fill(&mut conn, &mut |_| {});
    assert!(refused.unwrap_err().to_string().contains("déjà un volume"));
    assert_eq!(count!(&mut conn, usagers::table), usagers_before + 330);
    assert_eq!(count!(&mut conn, journal::table), journal_after);

    // The usager list, walked in name order a batch at a time, is the naive answer: every
    // usager with an active autorisation in the structure, by name, cut at the limit — in the
    // demo structure (fixtures and 30 new usagers) and in seeded ones (expired and revoked
    // mandates among the active).
    for (organisation, limit, search) in [
        (&f.org_a, 10, None),
        (&f.org_a, 1000, None),
        (&structures[0], 5, None),
        (&structures[1], 1000, None),
        (&structures[1], 1000, Some("Martin")),
    ] {
        check_usager_list(&mut conn, organisation, now, limit, search);
    }
    drop(conn);
    a_new_mandate_is_usable(&service).await;
    the_list_walks_past_a_revoked_batch(&service, now);
}

on_both_backends!(volume_has_the_service_shape);
