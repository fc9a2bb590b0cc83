//! National-scale volume for measurements (`aidants-connect volume`): fictional structures,
//! aidants, usagers, mandates with their autorisations, and hash-chained journal entries with
//! their monthly aggregates, written in bulk (COPY on PostgreSQL) beside the demo structure.
//!
//! The rows have the shape the service writes: the journal's chains verify, its aggregates
//! equal what one `journal::append` per entry would have counted, mandates expire by their
//! duration, some are revoked. The demo structure gains `demo_usagers` usagers with an active
//! mandate, so the measured aidant works in a large structure. Generation is deterministic
//! for a given `salt` (ids derive from it and a counter, so they never collide).

use anyhow::{bail, Context};
use chrono::Duration;
use diesel::prelude::*;
use journal::{Action, NewEntry};
use mandate::{Demarche, MandateDuration};
use ring::rand::SecureRandom;
use store::schema::{
    aidants, autorisations, journal_heads, mandates, memberships, organisations, usagers,
};
use store::{
    write_transaction, AidantId, MandateId, OrganisationId, PooledDb, Timestamp, UsagerId,
};

/// How much to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumePlan {
    /// Habilitated structures (each with its journal chain).
    pub structures: u64,
    /// Aidants, spread over the structures (one référent each).
    pub aidants: u64,
    /// Usagers, each attached to one structure.
    pub usagers: u64,
    /// Mandates (1 to 3 autorisations each), over `months` months.
    pub mandates: u64,
    /// Journal entries over the structures' chains.
    pub journal: u64,
    /// Months of history.
    pub months: u32,
    /// Usagers with an active mandate added to the demo structure.
    pub demo_usagers: u64,
}

impl VolumePlan {
    /// The figures of a national deployment: 1 million usagers, 3 million mandates, 20 million
    /// journal entries, 2,950 structures and 7,800 aidants (the service's 2024 scale).
    pub const NATIONAL: VolumePlan = VolumePlan {
        structures: 2_950,
        aidants: 7_800,
        usagers: 1_000_000,
        mandates: 3_000_000,
        journal: 20_000_000,
        months: 24,
        demo_usagers: 2_000,
    };

    fn check(&self) -> anyhow::Result<()> {
        if self.structures == 0 || self.aidants < self.structures {
            bail!("il faut au moins une structure, et au moins un aidant par structure");
        }
        if self.mandates > 0 && self.usagers == 0 {
            bail!("des mandats demandent des usagers");
        }
        if self.months == 0 || self.months > 120 {
            bail!("entre 1 et 120 mois d'historique");
        }
        if self.structures > 999_999_999 || self.usagers > u64::from(u32::MAX) {
            bail!("volume hors des limites de l'outil");
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeReport {
    /// Structures.
    pub structures: u64,
    /// Aidants.
    pub aidants: u64,
    /// Usagers (the demo structure's included).
    pub usagers: u64,
    /// Mandates (the demo structure's included).
    pub mandates: u64,
    /// Autorisations.
    pub autorisations: u64,
    /// Journal entries.
    pub journal: u64,
}

/// The SIRET prefix of the structures this tool writes (no real SIRET starts with it).
const SIRET_PREFIX: &str = "98";
/// Rows generated per transaction for the large tables.
const BATCH: u64 = 50_000;

/// SplitMix64: a bijection of 64-bit integers with good mixing, for fictional data.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The deterministic source of a volume: ids and choices derive from the salt and a counter.
struct Source {
    salt: u64,
}

/// What an id or a choice is for: each kind has its own counter space.
#[derive(Clone, Copy)]
enum Kind {
    Structure = 1,
    Aidant,
    Usager,
    UsagerSub,
    UsagerFcSub,
    Mandate,
    Autorisation,
    Choice,
    Token,
}

impl Source {
    /// A 64-bit value, distinct for every distinct (kind, index) while index < 2^40.
    fn value(&self, kind: Kind, index: u64) -> u64 {
        mix(self.salt ^ (((kind as u64) << 40) | (index & 0xff_ffff_ffff)))
    }

    /// A 128-bit hex id like the service's (`store::new_id`), unique per (kind, index).
    fn id(&self, kind: Kind, index: u64) -> String {
        let high = self.value(kind, index);
        format!("{high:016x}{:016x}", mix(high ^ 0x5bd1_e995))
    }

    /// A 256-bit hex identifier (the `sub`s), unique per (kind, index).
    fn long_id(&self, kind: Kind, index: u64) -> String {
        let high = self.value(kind, index);
        let mut out = format!("{high:016x}");
        let mut next = high;
        for round in 1..4u64 {
            next = mix(next ^ round);
            out.push_str(&format!("{next:016x}"));
        }
        out
    }

    /// A number below `n` (n > 0) for choice number `index` of `what`.
    fn below(&self, what: u64, index: u64, n: u64) -> u64 {
        mix(self.value(Kind::Choice, index) ^ what.wrapping_mul(0x2545_f491_4f6c_dd1d)) % n.max(1)
    }
}

const GIVEN: [&str; 16] = [
    "Marie",
    "Jean",
    "Nathalie",
    "Pierre",
    "Isabelle",
    "Michel",
    "Sylvie",
    "Philippe",
    "Fatou",
    "Mohamed",
    "Hélène",
    "François",
    "Chloé",
    "Nicolas",
    "Aïcha",
    "Gérard",
];
const FAMILY: [&str; 16] = [
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
    "LAURENT", "SIMON", "MICHEL", "LEFÈVRE", "LEROY", "DIALLO", "NGUYEN",
];
const CITIES: [(&str, &str); 6] = [
    ("29200", "Brest"),
    ("59000", "Lille"),
    ("13001", "Marseille"),
    ("69003", "Lyon"),
    ("97400", "Saint-Denis"),
    ("23000", "Guéret"),
];

#[derive(Insertable)]
#[diesel(table_name = organisations)]
#[diesel(treat_none_as_default_value = false)]
struct OrganisationRow {
    id: String,
    name: String,
    siret: String,
    address: String,
    zipcode: String,
    city: String,
    kind: String,
    habilitation: String,
    created_at: Timestamp,
}

#[derive(Insertable)]
#[diesel(table_name = journal_heads)]
#[diesel(treat_none_as_default_value = false)]
struct HeadRow {
    chain: String,
    seq: i64,
    head_hash: String,
    checkpointed_seq: i64,
}

#[derive(Insertable)]
#[diesel(table_name = aidants)]
#[diesel(treat_none_as_default_value = false)]
struct AidantRow {
    id: String,
    email: String,
    first_name: String,
    last_name: String,
    profession: String,
    phone: String,
    active: bool,
    created_at: Timestamp,
}

#[derive(Insertable)]
#[diesel(table_name = memberships)]
#[diesel(treat_none_as_default_value = false)]
struct MembershipRow {
    aidant_id: AidantId,
    organisation_id: OrganisationId,
    role: String,
    created_at: Timestamp,
    active: bool,
}

#[derive(Insertable)]
#[diesel(table_name = usagers)]
#[diesel(treat_none_as_default_value = false)]
struct UsagerRow {
    id: String,
    sub: String,
    franceconnect_sub: Option<String>,
    given_name: String,
    family_name: String,
    preferred_username: String,
    birthdate: String,
    gender: String,
    birthplace: String,
    birthcountry: String,
    email: String,
    phone: String,
    search_name: String,
    created_at: Timestamp,
}

#[derive(Insertable)]
#[diesel(table_name = mandates)]
#[diesel(treat_none_as_default_value = false)]
struct MandateRow {
    id: String,
    organisation_id: OrganisationId,
    usager_id: UsagerId,
    created_by: AidantId,
    created_at: Timestamp,
    expires_at: Timestamp,
    duration: String,
    is_remote: bool,
    consent_received_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
    revoked_by: Option<AidantId>,
    renews: Option<String>,
    consent_phone: Option<String>,
    consent_requested_at: Option<Timestamp>,
    consent_denied_at: Option<Timestamp>,
}

#[derive(Insertable)]
#[diesel(table_name = autorisations)]
#[diesel(treat_none_as_default_value = false)]
struct AutorisationRow {
    id: String,
    mandate_id: MandateId,
    demarche: String,
    revoked_at: Option<Timestamp>,
    revoked_by: Option<AidantId>,
}

/// The world being generated: who belongs where, and when things happened.
struct World<'a> {
    plan: VolumePlan,
    source: Source,
    now: Timestamp,
    demo_organisation: &'a OrganisationId,
    demo_aidant: &'a AidantId,
}

/// What a mandate is: mandates numbered from `plan.mandates` on are the demo structure's.
struct MandateFacts {
    /// The seeded structure, or `None` for the demo structure.
    organisation: Option<u64>,
    usager: u64,
    created_at: Timestamp,
    duration: MandateDuration,
    revoked: bool,
}

impl World<'_> {
    fn history_seconds(&self) -> i64 {
        i64::from(self.plan.months) * 30 * 86_400
    }

    fn structure_id(&self, o: u64) -> String {
        self.source.id(Kind::Structure, o)
    }

    /// The structure an usager is attached to (the demo structure's come after the others).
    fn home(&self, u: u64) -> u64 {
        self.source.below(1, u, self.plan.structures)
    }

    /// Aidant `a` works in structure `a mod structures`; the first of each is its référent.
    fn aidant_of(&self, o: u64, k: u64) -> u64 {
        o + k * self.plan.structures
    }

    fn aidants_in(&self, o: u64) -> u64 {
        (self.plan.aidants - o).div_ceil(self.plan.structures)
    }

    fn usager_id(&self, u: u64) -> UsagerId {
        UsagerId::from(self.source.id(Kind::Usager, u))
    }

    fn mandate_facts(&self, m: u64) -> MandateFacts {
        let demo = m >= self.plan.mandates;
        if demo {
            return MandateFacts {
                organisation: None,
                usager: self.plan.usagers + (m - self.plan.mandates),
                created_at: self.now,
                duration: MandateDuration::Long,
                revoked: false,
            };
        }
        let usager = self.source.below(2, m, self.plan.usagers);
        let back = self
            .source
            .below(3, m, self.history_seconds().unsigned_abs());
        let duration = match self.source.below(4, m, 10) {
            0 => MandateDuration::Short,
            1 | 2 => MandateDuration::Month,
            3 | 4 => MandateDuration::Semester,
            _ => MandateDuration::Long,
        };
        MandateFacts {
            organisation: Some(self.home(usager)),
            usager,
            created_at: self.now - Duration::seconds(i64::try_from(back).unwrap_or(0)),
            duration,
            revoked: self.source.below(5, m, 20) == 0,
        }
    }

    /// The démarches of mandate `m` (1 to 3, distinct, in catalogue order).
    fn demarches_of(&self, m: u64) -> Vec<Demarche> {
        let len = Demarche::ALL.len() as u64;
        let count = 1 + self.source.below(6, m, 3);
        let first = self.source.below(7, m, len);
        let mut positions: Vec<u64> = (0..count).map(|k| (first + k * 3) % len).collect();
        positions.sort_unstable();
        positions
            .into_iter()
            .filter_map(|p| Demarche::ALL.get(usize::try_from(p).ok()?).copied())
            .collect()
    }

    fn organisation_id_of(&self, facts: &MandateFacts) -> OrganisationId {
        match facts.organisation {
            Some(o) => self.structure_id(o).into(),
            None => self.demo_organisation.clone(),
        }
    }

    fn creator_of(&self, m: u64, facts: &MandateFacts) -> AidantId {
        match facts.organisation {
            Some(o) => {
                let k = self.source.below(8, m, self.aidants_in(o));
                self.source.id(Kind::Aidant, self.aidant_of(o, k)).into()
            }
            None => self.demo_aidant.clone(),
        }
    }
}

/// Writes the volume of `plan` beside the demo structure (`demo_organisation`, whose aidant
/// `demo_aidant` creates its mandates). Refused when the database already holds one.
/// `progress` is told each step as it ends.
pub fn fill(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    now: Timestamp,
    plan: VolumePlan,
    demo_organisation: &OrganisationId,
    demo_aidant: &AidantId,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<VolumeReport> {
    plan.check()?;
    let existing: i64 = organisations::table
        .filter(organisations::siret.like(format!("{SIRET_PREFIX}%")))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        bail!("cette base contient déjà un volume de mesure ({existing} structures)");
    }
    let mut salt = [0u8; 8];
    rng.fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("générateur aléatoire indisponible"))?;
    let world = World {
        plan,
        source: Source {
            salt: u64::from_le_bytes(salt),
        },
        now,
        demo_organisation,
        demo_aidant,
    };
    let mut report = VolumeReport::default();
    write_structures(conn, &world, &mut report)?;
    progress(&format!(
        "{} structures, {} aidants",
        report.structures, report.aidants
    ));
    write_usagers(conn, &world, &mut report)?;
    progress(&format!("{} usagers", report.usagers));
    write_mandates(conn, &world, &mut report)?;
    progress(&format!(
        "{} mandats, {} autorisations",
        report.mandates, report.autorisations
    ));
    write_journal(conn, rng, &world, &mut report, progress)?;
    progress(&format!("{} entrées de journal", report.journal));
    Ok(report)
}

fn write_structures(
    conn: &mut PooledDb,
    world: &World<'_>,
    report: &mut VolumeReport,
) -> anyhow::Result<()> {
    let plan = world.plan;
    let created = world.now - Duration::seconds(world.history_seconds());
    let structures: Vec<OrganisationRow> = (0..plan.structures)
        .map(|o| {
            let (zipcode, city) = CITIES[usize::try_from(o).unwrap_or(0) % CITIES.len()];
            OrganisationRow {
                id: world.structure_id(o),
                name: format!("Structure de mesure n° {}", o + 1),
                siret: format!("{SIRET_PREFIX}{:012}", o + 1),
                address: format!("{} rue de la Mesure", o % 200 + 1),
                zipcode: zipcode.to_owned(),
                city: city.to_owned(),
                kind: "France Services".to_owned(),
                habilitation: accounts::Habilitation::Validated.as_str().to_owned(),
                created_at: created,
            }
        })
        .collect();
    let aidants: Vec<AidantRow> = (0..plan.aidants)
        .map(|a| AidantRow {
            id: world.source.id(Kind::Aidant, a),
            email: format!("aidant.{}@mesure.aidantsconnect.invalid", a + 1),
            first_name: GIVEN[usize::try_from(a).unwrap_or(0) % GIVEN.len()].to_owned(),
            last_name: FAMILY[usize::try_from(a / 16).unwrap_or(0) % FAMILY.len()].to_owned(),
            profession: "Conseiller numérique".to_owned(),
            phone: String::new(),
            active: true,
            created_at: created,
        })
        .collect();
    let memberships: Vec<MembershipRow> = (0..plan.aidants)
        .map(|a| {
            let role = if a < plan.structures {
                accounts::Role::Referent
            } else {
                accounts::Role::Aidant
            };
            MembershipRow {
                aidant_id: AidantId::from(world.source.id(Kind::Aidant, a)),
                organisation_id: OrganisationId::from(world.structure_id(a % plan.structures)),
                role: role.as_str().to_owned(),
                created_at: created,
                active: true,
            }
        })
        .collect();
    write_transaction(conn, |tx| -> anyhow::Result<()> {
        store::bulk_insert!(tx.conn(), organisations::table, &structures);
        store::bulk_insert!(tx.conn(), aidants::table, &aidants);
        store::bulk_insert!(tx.conn(), memberships::table, &memberships);
        let heads: Vec<HeadRow> = structures
            .iter()
            .map(|o| HeadRow {
                chain: o.id.clone(),
                seq: 0,
                head_hash: journal::GENESIS_HASH.to_owned(),
                checkpointed_seq: 0,
            })
            .collect();
        store::bulk_insert!(tx.conn(), journal_heads::table, &heads);
        Ok(())
    })
    .context("structures et aidants")?;
    report.structures = plan.structures;
    report.aidants = plan.aidants;
    Ok(())
}

fn write_usagers(
    conn: &mut PooledDb,
    world: &World<'_>,
    report: &mut VolumeReport,
) -> anyhow::Result<()> {
    let total = world.plan.usagers + world.plan.demo_usagers;
    let mut start = 0;
    while start < total {
        let end = (start + BATCH).min(total);
        let rows: Vec<UsagerRow> = (start..end).map(|u| usager_row(world, u)).collect();
        write_transaction(conn, |tx| -> anyhow::Result<()> {
            store::bulk_insert!(tx.conn(), usagers::table, &rows);
            Ok(())
        })
        .context("usagers")?;
        start = end;
    }
    report.usagers = total;
    Ok(())
}

fn usager_row(world: &World<'_>, u: u64) -> UsagerRow {
    let source = &world.source;
    let pick = |what: u64, n: usize| usize::try_from(source.below(what, u, n as u64)).unwrap_or(0);
    let given = GIVEN[pick(10, GIVEN.len())];
    let family = FAMILY[pick(11, FAMILY.len())];
    let year = 1930 + source.below(12, u, 75);
    let month = 1 + source.below(13, u, 12);
    let day = 1 + source.below(14, u, 28);
    let (birthplace, birthcountry) = if source.below(15, u, 10) == 0 {
        (String::new(), "99341".to_owned())
    } else {
        (
            format!("{:05}", 1001 + source.below(16, u, 95_000)),
            identity::FRANCE_COG.to_owned(),
        )
    };
    UsagerRow {
        id: world.usager_id(u).into(),
        sub: source.long_id(Kind::UsagerSub, u),
        franceconnect_sub: Some(source.long_id(Kind::UsagerFcSub, u)),
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        preferred_username: String::new(),
        birthdate: format!("{year:04}-{month:02}-{day:02}"),
        gender: if pick(17, 2) == 0 { "female" } else { "male" }.to_owned(),
        birthplace,
        birthcountry,
        email: String::new(),
        phone: String::new(),
        search_name: mandate::normalise_search(&format!("{given} {family} ")),
        created_at: world.now - Duration::seconds(world.history_seconds()),
    }
}

fn write_mandates(
    conn: &mut PooledDb,
    world: &World<'_>,
    report: &mut VolumeReport,
) -> anyhow::Result<()> {
    let total = world.plan.mandates + world.plan.demo_usagers;
    let mut start = 0;
    while start < total {
        let end = (start + BATCH).min(total);
        let mut mandate_rows = Vec::new();
        let mut autorisation_rows = Vec::new();
        for m in start..end {
            let facts = world.mandate_facts(m);
            let id = world.source.id(Kind::Mandate, m);
            let creator = world.creator_of(m, &facts);
            let revoked_at = facts.revoked.then(|| facts.created_at + Duration::days(3));
            for (k, demarche) in world.demarches_of(m).into_iter().enumerate() {
                autorisation_rows.push(AutorisationRow {
                    id: world.source.id(Kind::Autorisation, m * 3 + k as u64),
                    mandate_id: MandateId::from(id.clone()),
                    demarche: demarche.id().to_owned(),
                    revoked_at,
                    revoked_by: revoked_at.map(|_| creator.clone()),
                });
            }
            mandate_rows.push(MandateRow {
                organisation_id: world.organisation_id_of(&facts),
                usager_id: world.usager_id(facts.usager),
                created_at: facts.created_at,
                expires_at: facts.duration.expires_at(facts.created_at),
                duration: facts.duration.as_str().to_owned(),
                is_remote: false,
                consent_received_at: None,
                revoked_by: revoked_at.map(|_| creator.clone()),
                revoked_at,
                renews: None,
                consent_phone: None,
                consent_requested_at: None,
                consent_denied_at: None,
                created_by: creator,
                id,
            });
        }
        write_transaction(conn, |tx| -> anyhow::Result<()> {
            store::bulk_insert!(tx.conn(), mandates::table, &mandate_rows);
            store::bulk_insert!(tx.conn(), autorisations::table, &autorisation_rows);
            Ok(())
        })
        .context("mandats")?;
        report.mandates += mandate_rows.len() as u64;
        report.autorisations += autorisation_rows.len() as u64;
        start = end;
    }
    // Each structure's list of usagers, as the first mandate of each writes it.
    write_transaction(conn, |tx| {
        diesel::sql_query(
            "INSERT INTO organisation_usagers (organisation_id, usager_id, search_name) \
             SELECT DISTINCT m.organisation_id, m.usager_id, u.search_name \
             FROM mandates m JOIN usagers u ON u.id = m.usager_id WHERE true \
             ON CONFLICT DO NOTHING",
        )
        .execute(tx.conn())
    })
    .context("usagers des structures")?;
    Ok(())
}

/// One journal entry's facts before it is chained.
struct EntryFacts {
    at: Timestamp,
    action: Action,
    aidant: AidantId,
    usager: Option<UsagerId>,
    subject: &'static str,
    details: serde_json::Value,
}

fn write_journal(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    world: &World<'_>,
    report: &mut VolumeReport,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let plan = world.plan;
    // The mandates of each structure, to pick what its entries are about.
    let mut by_structure: Vec<Vec<u64>> = (0..plan.structures).map(|_| Vec::new()).collect();
    for m in 0..plan.mandates {
        let facts = world.mandate_facts(m);
        if let Some(list) = facts
            .organisation
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| by_structure.get_mut(o))
        {
            list.push(m);
        }
    }
    let mut written = 0u64;
    let mut next_report = plan.journal / 10;
    for o in 0..plan.structures {
        // Entries in proportion to the structure's mandates, the remainder to the first ones.
        let own = by_structure
            .get(usize::try_from(o).unwrap_or(usize::MAX))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let share = (plan.journal * own.len() as u64)
            .checked_div(plan.mandates)
            .unwrap_or(plan.journal / plan.structures);
        let count = if o + 1 == plan.structures {
            plan.journal - written
        } else {
            share.min(plan.journal - written)
        };
        let chain = OrganisationId::from(world.structure_id(o));
        let mut facts: Vec<EntryFacts> = (0..count)
            .map(|k| entry_facts(world, o, written + k, own))
            .collect();
        facts.sort_by_key(|f| f.at);
        append_chain(conn, rng, &chain, &facts)?;
        written += count;
        if written >= next_report && plan.journal >= 1_000_000 {
            progress(&format!("journal : {written} / {}", plan.journal));
            next_report += plan.journal / 10;
        }
    }
    // The demo structure's new mandates, journaled as created now.
    let demo: Vec<EntryFacts> = (plan.mandates..plan.mandates + plan.demo_usagers)
        .flat_map(|m| {
            let mandate_id = world.source.id(Kind::Mandate, m);
            let facts = world.mandate_facts(m);
            let usager = world.usager_id(facts.usager);
            world
                .demarches_of(m)
                .into_iter()
                .enumerate()
                .map(move |(k, demarche)| EntryFacts {
                    at: facts.created_at,
                    action: Action::CreateAutorisation,
                    aidant: world.demo_aidant.to_owned(),
                    usager: Some(usager.clone()),
                    subject: demarche.id(),
                    details: serde_json::json!({
                        "mandat": mandate_id,
                        "autorisation": world.source.id(Kind::Autorisation, m * 3 + k as u64),
                        "duree": facts.duration.as_str(),
                        "expire": facts.duration.expires_at(facts.created_at).to_rfc3339(),
                        "remplace": serde_json::Value::Null,
                    }),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    written += demo.len() as u64;
    for part in demo.chunks(usize::try_from(BATCH).unwrap_or(50_000)) {
        append_chain(conn, rng, world.demo_organisation, part)?;
    }
    // Entries went into past months: their sums, if an upkeep already made them, are redone.
    write_transaction(conn, journal::stats::reopen_months).context("statistiques")?;
    report.journal = written;
    Ok(())
}

fn append_chain(
    conn: &mut PooledDb,
    rng: &dyn SecureRandom,
    chain: &OrganisationId,
    facts: &[EntryFacts],
) -> anyhow::Result<()> {
    let entries: Vec<(Timestamp, NewEntry<'_>)> = facts
        .iter()
        .map(|f| {
            (
                f.at,
                NewEntry {
                    chain: chain.as_str(),
                    action: f.action,
                    aidant_id: Some(&f.aidant),
                    usager_id: f.usager.as_ref(),
                    organisation_id: Some(chain),
                    subject: f.subject,
                    details: f.details.clone(),
                },
            )
        })
        .collect();
    write_transaction(conn, |tx| {
        journal::append_many(tx, rng, chain.as_str(), &entries)
    })
    .context("journal")?;
    Ok(())
}

/// Entry number `n` of structure `o`: a démarche done (60 %), a sign-in (25 %) or an
/// autorisation created (15 %), about the structure's own aidants, usagers and mandates.
fn entry_facts(world: &World<'_>, o: u64, n: u64, own: &[u64]) -> EntryFacts {
    let source = &world.source;
    let back = source.below(20, n, world.history_seconds().unsigned_abs());
    let at = world.now - Duration::seconds(i64::try_from(back).unwrap_or(0));
    let aidant_k = source.below(21, n, world.aidants_in(o));
    let aidant = source.id(Kind::Aidant, world.aidant_of(o, aidant_k));
    let roll = source.below(22, n, 100);
    let mandate = (!own.is_empty())
        .then(|| {
            own.get(usize::try_from(source.below(23, n, own.len() as u64)).ok()?)
                .copied()
        })
        .flatten();
    let Some(m) = mandate.filter(|_| roll < 75) else {
        return EntryFacts {
            at,
            action: Action::ConnectAidant,
            aidant: AidantId::from(aidant),
            usager: None,
            subject: "",
            details: serde_json::Value::Null,
        };
    };
    let facts = world.mandate_facts(m);
    let demarches = world.demarches_of(m);
    let k = usize::try_from(source.below(24, n, demarches.len() as u64)).unwrap_or(0);
    let demarche = demarches.get(k).copied().unwrap_or(Demarche::Papiers);
    let mandate_id = source.id(Kind::Mandate, m);
    let autorisation_id = source.id(Kind::Autorisation, m * 3 + k as u64);
    let (action, details) = if roll < 60 {
        (
            Action::UseAutorisation,
            serde_json::json!({
                "autorisation": autorisation_id,
                "mandat": mandate_id,
                "client_id": "franceconnect",
                "access_token_sha256": source.long_id(Kind::Token, n),
            }),
        )
    } else {
        (
            Action::CreateAutorisation,
            serde_json::json!({
                "mandat": mandate_id,
                "autorisation": autorisation_id,
                "duree": facts.duration.as_str(),
                "expire": facts.duration.expires_at(facts.created_at).to_rfc3339(),
                "remplace": serde_json::Value::Null,
            }),
        )
    };
    EntryFacts {
        at,
        action,
        aidant: AidantId::from(aidant),
        usager: Some(world.usager_id(facts.usager)),
        subject: demarche.id(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_across_kinds_and_indices() {
        let source = Source { salt: 42 };
        let mut seen = std::collections::HashSet::new();
        for kind in [Kind::Structure, Kind::Aidant, Kind::Usager, Kind::Mandate] {
            for i in 0..10_000 {
                assert!(seen.insert(source.id(kind, i)));
            }
        }
        assert_eq!(source.id(Kind::Usager, 7).len(), 32);
        assert_eq!(source.long_id(Kind::UsagerSub, 7).len(), 64);
    }
}
