DROP TABLE journal_verifications;
