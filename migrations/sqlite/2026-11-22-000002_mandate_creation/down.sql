DROP INDEX journal_action_subject;
DROP TABLE attestations;
DROP TABLE mandate_drafts;
DROP INDEX mandates_consent_phone;
ALTER TABLE mandates DROP COLUMN consent_denied_at;
ALTER TABLE mandates DROP COLUMN consent_requested_at;
ALTER TABLE mandates DROP COLUMN consent_phone;
ALTER TABLE mandates DROP COLUMN renews;
ALTER TABLE mandates DROP COLUMN revoked_by;
