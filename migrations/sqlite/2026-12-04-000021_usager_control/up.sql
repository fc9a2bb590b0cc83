-- The usager controls their mandates from their space. A démarche or a whole mandate the
-- usager revoked is marked `revoked_by_usager` (no aidant in `revoked_by`), and its revocation
-- attestation has no aidant author (`attestations.created_by` NULL: produced at the usager's
-- request). The usager may ask for an e-mail each time a mandate is made or used in their name,
-- at the address FranceConnect gave (`usagers.notify_email`, NULL: no e-mail, the default); a
-- sign-in and a session keep that address until the usager chooses.
ALTER TABLE mandates ADD COLUMN revoked_by_usager BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE autorisations ADD COLUMN revoked_by_usager BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE usagers ADD COLUMN notify_email TEXT;
ALTER TABLE usager_logins ADD COLUMN email TEXT;
ALTER TABLE usager_sessions ADD COLUMN email TEXT;
CREATE TABLE attestations_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    mandate_id TEXT NOT NULL REFERENCES mandates (id),
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT REFERENCES aidants (id),
    erased_fingerprint TEXT
);
INSERT INTO attestations_rebuilt
    SELECT id, mandate_id, kind, content, fingerprint, created_at, created_by, erased_fingerprint
    FROM attestations;
DROP TABLE attestations;
ALTER TABLE attestations_rebuilt RENAME TO attestations;
CREATE INDEX attestations_mandate ON attestations (mandate_id);
