CREATE TABLE attestations_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    mandate_id TEXT NOT NULL REFERENCES mandates (id),
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL REFERENCES aidants (id),
    erased_fingerprint TEXT
);
INSERT INTO attestations_rebuilt
    SELECT id, mandate_id, kind, content, fingerprint, created_at, created_by, erased_fingerprint
    FROM attestations WHERE created_by IS NOT NULL;
DROP TABLE attestations;
ALTER TABLE attestations_rebuilt RENAME TO attestations;
CREATE INDEX attestations_mandate ON attestations (mandate_id);
ALTER TABLE usager_sessions DROP COLUMN email;
ALTER TABLE usager_logins DROP COLUMN email;
ALTER TABLE usagers DROP COLUMN notify_email;
ALTER TABLE autorisations DROP COLUMN revoked_by_usager;
ALTER TABLE mandates DROP COLUMN revoked_by_usager;
