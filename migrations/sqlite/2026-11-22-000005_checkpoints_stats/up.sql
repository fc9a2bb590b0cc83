-- Signed daily checkpoints of the chain heads: a truncated chain no longer reaches a head
-- that a checkpoint recorded. Checkpoints are chained to each other and append-only.
ALTER TABLE journal_heads ADD COLUMN checkpointed_seq BIGINT NOT NULL DEFAULT 0;
CREATE TABLE journal_checkpoints (
    day TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    prev_hash TEXT NOT NULL,
    token TEXT NOT NULL
);
CREATE TRIGGER journal_checkpoints_no_update BEFORE UPDATE ON journal_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'journal checkpoints are never updated');
END;
CREATE TRIGGER journal_checkpoints_no_delete BEFORE DELETE ON journal_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'journal checkpoints are never deleted');
END;

-- Monthly aggregates kept with each append (same transaction, per chain: no shared hot row),
-- so the statistics never scan the journal.
CREATE TABLE journal_monthly (
    chain TEXT NOT NULL,
    month TEXT NOT NULL,
    action TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (chain, month, action)
);
CREATE INDEX journal_monthly_action_month ON journal_monthly (action, month);
-- Who or what was counted once in a month (usagers helped, aidants who acted, mandates): only
-- looked up by key; each first occurrence adds 1 to a `distinct_*` counter above.
CREATE TABLE journal_monthly_distinct (
    month TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (month, kind, key)
);
-- The figures of months that are over, summed once: the statistics read 5 rows per month.
CREATE TABLE journal_monthly_closed (
    month TEXT NOT NULL,
    metric TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (month, metric)
);
