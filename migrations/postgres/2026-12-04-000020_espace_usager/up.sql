-- The usager's own space. A sign-in through FranceConnect waits in `usager_logins` (state
-- and browser hashed, single use, ten minutes), then, when the identity matched a record on
-- the identité pivot only, for the usager's confirmation. A session's token is stored hashed;
-- FranceConnect's ID token is kept for its logout (`id_token_hint`) and deleted with it.
CREATE TABLE usager_logins (
    state_hash TEXT PRIMARY KEY NOT NULL,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    franceconnect_sub TEXT,
    usager_id TEXT REFERENCES usagers (id),
    id_token TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX usager_logins_browser ON usager_logins (browser_hash);
CREATE TABLE usager_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    usager_id TEXT NOT NULL REFERENCES usagers (id),
    id_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX usager_sessions_usager ON usager_sessions (usager_id);
