-- The back office's journal search: by structure, by aidant, or by period alone, newest first.
CREATE INDEX journal_organisation_at ON journal (organisation_id, at);
CREATE INDEX journal_aidant_at ON journal (aidant_id, at);
CREATE INDEX journal_at ON journal (at, id);
