-- Readiness: /readyz commits a write to this one row, so that a database that answers but
-- cannot write (disk full, read-only) is reported unready.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY NOT NULL,
    checked_at TIMESTAMP NOT NULL
);
INSERT INTO readiness_probe (id, checked_at) VALUES (1, CURRENT_TIMESTAMP);

-- Browsers an aidant signed in from ("appareils reconnus"): a random token in a cookie, kept
-- hashed. Codes typed from such a browser are counted against it alone, so that a stranger's
-- wrong codes, counted against the card for unrecognised browsers, never lock its holder out.
CREATE TABLE trusted_devices (
    token_hash TEXT PRIMARY KEY NOT NULL,
    aidant_id TEXT NOT NULL REFERENCES aidants (id),
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    last_failure_at TIMESTAMP
);
CREATE INDEX trusted_devices_aidant ON trusted_devices (aidant_id);
CREATE INDEX trusted_devices_last_used ON trusted_devices (last_used_at);

-- A card's counters now count wrong codes from unrecognised browsers only: `locks` is how many
-- times they locked it since they were last forgotten (each lock lasts twice the one before);
-- `unseen_failures` and `unseen_locks` what its holder has not been told about yet.
ALTER TABLE otp_cards ADD COLUMN locks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE otp_cards ADD COLUMN unseen_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE otp_cards ADD COLUMN unseen_locks INTEGER NOT NULL DEFAULT 0;

-- The upkeep deletes what is past its retention.
CREATE INDEX oidc_requests_created ON oidc_requests (created_at);
CREATE INDEX aidant_sessions_expires ON aidant_sessions (expires_at);
CREATE INDEX mandate_drafts_expires ON mandate_drafts (expires_at);
