DROP INDEX journal_at;
DROP INDEX journal_aidant_at;
DROP INDEX journal_organisation_at;
