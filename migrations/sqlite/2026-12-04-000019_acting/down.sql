ALTER TABLE aidants DROP COLUMN acts_for_usagers;
