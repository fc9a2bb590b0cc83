DROP INDEX outbox_recipient;
DROP INDEX outbox_unreported;
ALTER TABLE outbox DROP COLUMN reported_at;
ALTER TABLE outbox DROP COLUMN undeliverable;
ALTER TABLE aidants DROP COLUMN idle_warned_at;
ALTER TABLE aidants DROP COLUMN idle_since;
DROP TABLE scheduled_jobs;
