-- Mandate creation: remote consent by SMS, renewals, whole-mandate revocation, the wizard's
-- drafts and the attestations.
ALTER TABLE mandates ADD COLUMN revoked_by TEXT REFERENCES aidants (id);
ALTER TABLE mandates ADD COLUMN renews TEXT REFERENCES mandates (id);
ALTER TABLE mandates ADD COLUMN consent_phone TEXT;
ALTER TABLE mandates ADD COLUMN consent_requested_at TIMESTAMP;
ALTER TABLE mandates ADD COLUMN consent_denied_at TIMESTAMP;
CREATE INDEX mandates_consent_phone ON mandates (consent_phone);

CREATE TABLE mandate_drafts (
    id TEXT PRIMARY KEY NOT NULL,
    aidant_id TEXT NOT NULL REFERENCES aidants (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    demarches TEXT NOT NULL,
    duration TEXT NOT NULL,
    is_remote BOOLEAN NOT NULL,
    phone TEXT NOT NULL,
    renews TEXT REFERENCES mandates (id),
    fc_state_hash TEXT NOT NULL UNIQUE,
    fc_nonce TEXT NOT NULL,
    franceconnect_sub TEXT,
    identite TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    mandate_id TEXT REFERENCES mandates (id)
);
CREATE INDEX mandate_drafts_aidant ON mandate_drafts (aidant_id);

CREATE TABLE attestations (
    id TEXT PRIMARY KEY NOT NULL,
    mandate_id TEXT NOT NULL REFERENCES mandates (id),
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL REFERENCES aidants (id)
);
CREATE INDEX attestations_mandate ON attestations (mandate_id);
CREATE INDEX journal_action_subject ON journal (action, subject);
