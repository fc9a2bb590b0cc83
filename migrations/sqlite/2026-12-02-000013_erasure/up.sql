-- RGPD erasure of an usager on request, when no mandate of theirs is in force: their identity
-- is removed from their row (the row id, random, stays as the pseudonym the journal refers to)
-- and from their attestations, whose redacted content gets a new fingerprint, journaled.
ALTER TABLE usagers ADD COLUMN erased_at TIMESTAMP;
ALTER TABLE attestations ADD COLUMN erased_fingerprint TEXT;
