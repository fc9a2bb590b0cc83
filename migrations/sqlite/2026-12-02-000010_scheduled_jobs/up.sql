-- Scheduled jobs (the upkeep's weekly and daily e-mails, the inactivity rule): one row per
-- job, the period it last did and how that went. The row is the job's lease: an instance
-- claims the period with a conditional UPDATE inside the transaction that does the work, so
-- that whichever instances run, each period is done once, and a failed run leaves it to do.
CREATE TABLE scheduled_jobs (
    name TEXT PRIMARY KEY,
    period TEXT,
    last_run_at TIMESTAMP,
    last_outcome TEXT,
    last_items INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

-- When the aidant's inactivity began, if later than their account's creation: their last
-- sign-in, their activation, a membership given or given back.
ALTER TABLE aidants ADD COLUMN idle_since TIMESTAMP;
-- When they were last warned that inactivity would end their memberships.
ALTER TABLE aidants ADD COLUMN idle_warned_at TIMESTAMP;
UPDATE aidants SET idle_since = (
    SELECT MAX(s.created_at) FROM aidant_sessions s WHERE s.aidant_id = aidants.id
);

-- A message whose recipient's server refused the address for good, and when that was told
-- (journal) by the upkeep.
ALTER TABLE outbox ADD COLUMN undeliverable BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN reported_at TIMESTAMP;
CREATE INDEX outbox_unreported ON outbox (failed_at) WHERE undeliverable AND reported_at IS NULL;
CREATE INDEX outbox_recipient ON outbox (recipient);
