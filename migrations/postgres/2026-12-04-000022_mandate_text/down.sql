ALTER TABLE mandates DROP COLUMN text_version;
