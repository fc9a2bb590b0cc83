DELETE FROM attestations WHERE created_by IS NULL;
ALTER TABLE attestations ALTER COLUMN created_by SET NOT NULL;
ALTER TABLE usager_sessions DROP COLUMN email;
ALTER TABLE usager_logins DROP COLUMN email;
ALTER TABLE usagers DROP COLUMN notify_email;
ALTER TABLE autorisations DROP COLUMN revoked_by_usager;
ALTER TABLE mandates DROP COLUMN revoked_by_usager;
