DROP TRIGGER journal_no_delete;
DROP TRIGGER journal_no_update;
