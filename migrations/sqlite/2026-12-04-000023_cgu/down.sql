ALTER TABLE aidants DROP COLUMN cgu_accepted_at;
ALTER TABLE aidants DROP COLUMN cgu_version;
