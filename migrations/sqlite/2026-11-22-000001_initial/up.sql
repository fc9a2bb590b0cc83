CREATE TABLE organisations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    siret TEXT NOT NULL,
    address TEXT NOT NULL,
    zipcode TEXT NOT NULL,
    city TEXT NOT NULL,
    kind TEXT NOT NULL,
    habilitation TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE aidants (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    profession TEXT NOT NULL,
    phone TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    aidant_id TEXT NOT NULL REFERENCES aidants (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (aidant_id, organisation_id)
);
CREATE INDEX memberships_organisation ON memberships (organisation_id);

CREATE TABLE otp_cards (
    id TEXT PRIMARY KEY NOT NULL,
    serial TEXT NOT NULL UNIQUE,
    seed_encrypted TEXT NOT NULL,
    kind TEXT NOT NULL,
    digits INTEGER NOT NULL,
    period INTEGER NOT NULL,
    aidant_id TEXT REFERENCES aidants (id),
    validated_at TIMESTAMP,
    last_used_step BIGINT,
    failures INTEGER NOT NULL,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX otp_cards_aidant ON otp_cards (aidant_id);

CREATE TABLE aidant_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    aidant_id TEXT NOT NULL REFERENCES aidants (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    last_otp_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX aidant_sessions_aidant ON aidant_sessions (aidant_id);

CREATE TABLE usagers (
    id TEXT PRIMARY KEY NOT NULL,
    sub TEXT NOT NULL UNIQUE,
    franceconnect_sub TEXT UNIQUE,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    preferred_username TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    gender TEXT NOT NULL,
    birthplace TEXT NOT NULL,
    birthcountry TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    search_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE mandates (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    usager_id TEXT NOT NULL REFERENCES usagers (id),
    created_by TEXT NOT NULL REFERENCES aidants (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    duration TEXT NOT NULL,
    is_remote BOOLEAN NOT NULL,
    consent_received_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX mandates_organisation_usager ON mandates (organisation_id, usager_id, expires_at);

CREATE TABLE autorisations (
    id TEXT PRIMARY KEY NOT NULL,
    mandate_id TEXT NOT NULL REFERENCES mandates (id),
    demarche TEXT NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by TEXT REFERENCES aidants (id)
);
CREATE INDEX autorisations_mandate_demarche ON autorisations (mandate_id, demarche);

CREATE TABLE oidc_requests (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    acr TEXT NOT NULL,
    scope TEXT NOT NULL,
    prompt TEXT,
    max_age BIGINT,
    login_hint TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    aidant_id TEXT REFERENCES aidants (id),
    organisation_id TEXT REFERENCES organisations (id),
    usager_id TEXT REFERENCES usagers (id),
    demarche TEXT,
    autorisation_id TEXT REFERENCES autorisations (id),
    auth_time TIMESTAMP,
    code_hash TEXT UNIQUE,
    code_expires_at TIMESTAMP,
    code_consumed_at TIMESTAMP,
    access_token_hash TEXT UNIQUE,
    access_token_expires_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE TABLE journal_heads (
    chain TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);

CREATE TABLE journal (
    id TEXT PRIMARY KEY NOT NULL,
    chain TEXT NOT NULL REFERENCES journal_heads (chain),
    seq BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    action TEXT NOT NULL,
    aidant_id TEXT,
    usager_id TEXT,
    organisation_id TEXT,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX journal_usager ON journal (usager_id);
CREATE INDEX journal_action_at ON journal (action, at);

INSERT INTO journal_heads (chain, seq, head_hash)
VALUES ('national', 0, '0000000000000000000000000000000000000000000000000000000000000000');
