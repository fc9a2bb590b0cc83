DROP TRIGGER journal_no_truncate ON journal;
DROP TRIGGER journal_no_update_or_delete ON journal;
DROP FUNCTION journal_is_append_only();
