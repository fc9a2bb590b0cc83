DROP TABLE journal_monthly_closed;
DROP TABLE journal_monthly_distinct;
DROP TABLE journal_monthly;
DROP TRIGGER journal_checkpoints_no_delete;
DROP TRIGGER journal_checkpoints_no_update;
DROP TABLE journal_checkpoints;
ALTER TABLE journal_heads DROP COLUMN checkpointed_seq;
