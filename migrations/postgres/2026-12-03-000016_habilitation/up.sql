-- The habilitation journey: a structure's online request, filed by an issuer (demandeur) who
-- has no account, reviewed by the national team. An issuer comes back through a link sent by
-- e-mail: the link's id is stored, its signature (an HMAC under a server key) is only in the
-- e-mail, so the database alone opens nothing; the session's token is stored hashed.
CREATE TABLE habilitation_issuers (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    phone TEXT NOT NULL,
    profession TEXT NOT NULL,
    email_confirmed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE issuer_links (
    id TEXT PRIMARY KEY NOT NULL,
    issuer_id TEXT NOT NULL REFERENCES habilitation_issuers (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX issuer_links_issuer ON issuer_links (issuer_id, created_at);
CREATE TABLE issuer_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    issuer_id TEXT NOT NULL REFERENCES habilitation_issuers (id),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE TABLE habilitation_requests (
    id TEXT PRIMARY KEY NOT NULL,
    issuer_id TEXT NOT NULL REFERENCES habilitation_issuers (id),
    reference TEXT UNIQUE,
    status TEXT NOT NULL,
    siret TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    kind_other TEXT NOT NULL,
    private BOOLEAN NOT NULL,
    partner_administration TEXT NOT NULL,
    france_services BOOLEAN NOT NULL,
    france_services_number TEXT NOT NULL,
    address TEXT NOT NULL,
    zipcode TEXT NOT NULL,
    city TEXT NOT NULL,
    mission TEXT NOT NULL,
    demarches TEXT NOT NULL,
    weekly_volume INTEGER,
    commitments_at TIMESTAMP,
    organisation_id TEXT REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    submitted_at TIMESTAMP,
    decided_at TIMESTAMP
);
CREATE INDEX habilitation_requests_issuer ON habilitation_requests (issuer_id, created_at);
CREATE INDEX habilitation_requests_queue ON habilitation_requests (status, submitted_at);
CREATE INDEX habilitation_requests_siret ON habilitation_requests (siret, status);
-- The référent (role 'referent', one per request) and the aidants to train ('aidant').
CREATE TABLE habilitation_people (
    id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL REFERENCES habilitation_requests (id),
    role TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    profession TEXT NOT NULL,
    also_aidant BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX habilitation_people_email ON habilitation_people (request_id, role, email);
CREATE TABLE habilitation_messages (
    id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL REFERENCES habilitation_requests (id),
    staff_id TEXT REFERENCES staff (id),
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX habilitation_messages_request ON habilitation_messages (request_id, created_at);
-- The public statistics gain the aidants habilitated per month (activate_aidant): the sums of
-- finished months are made again from the monthly counters by the next upkeep.
DELETE FROM journal_monthly_closed;
