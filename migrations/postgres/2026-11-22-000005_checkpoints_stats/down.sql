DROP TABLE journal_monthly_closed;
DROP TABLE journal_monthly_distinct;
DROP TABLE journal_monthly;
DROP TRIGGER journal_checkpoints_no_truncate ON journal_checkpoints;
DROP TRIGGER journal_checkpoints_no_update_or_delete ON journal_checkpoints;
DROP FUNCTION journal_checkpoints_are_append_only();
DROP TABLE journal_checkpoints;
ALTER TABLE journal_heads DROP COLUMN checkpointed_seq;
