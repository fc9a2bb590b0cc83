ALTER TABLE attestations DROP COLUMN erased_fingerprint;
ALTER TABLE usagers DROP COLUMN erased_at;
