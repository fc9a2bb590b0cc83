DROP INDEX mandate_drafts_expires;
DROP INDEX aidant_sessions_expires;
DROP INDEX oidc_requests_created;
ALTER TABLE otp_cards DROP COLUMN unseen_locks;
ALTER TABLE otp_cards DROP COLUMN unseen_failures;
ALTER TABLE otp_cards DROP COLUMN locks;
DROP TABLE trusted_devices;
DROP TABLE readiness_probe;
