-- The version of the mandate's text each mandate was made under (`mandate::MandateTexts`);
-- NULL for the mandates made before the text was versioned (their attestations carry the
-- consent statement they always did).
ALTER TABLE mandates ADD COLUMN text_version INTEGER;
