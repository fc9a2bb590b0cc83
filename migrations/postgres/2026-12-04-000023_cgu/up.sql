-- The aidants' CGU: the last version an aidant accepted, and when (journaled `accept_cgu`).
-- NULL: none yet; an aidant acts for usagers only once they accepted the version in force.
ALTER TABLE aidants ADD COLUMN cgu_version INTEGER;
ALTER TABLE aidants ADD COLUMN cgu_accepted_at TIMESTAMP;
