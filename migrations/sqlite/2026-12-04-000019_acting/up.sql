-- Whether an account may act for usagers (make mandates, use them through the identity
-- provider): false for a structure's référent created by its habilitation, until trained when
-- they will also be an aidant, for good otherwise (they manage the aidants and cards).
ALTER TABLE aidants ADD COLUMN acts_for_usagers BOOLEAN NOT NULL DEFAULT TRUE;
