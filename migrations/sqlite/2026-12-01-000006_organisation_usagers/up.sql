-- The usagers each structure has held a mandate for, with their search name: the usager list
-- walks a structure's usagers in name order and stops at the page's limit, whatever the
-- number of its mandates. One row per (structure, usager), written with the first mandate.
CREATE TABLE organisation_usagers (
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    usager_id TEXT NOT NULL REFERENCES usagers (id),
    search_name TEXT NOT NULL,
    PRIMARY KEY (organisation_id, usager_id)
);
CREATE INDEX organisation_usagers_name ON organisation_usagers (organisation_id, search_name, usager_id);
INSERT INTO organisation_usagers (organisation_id, usager_id, search_name)
SELECT DISTINCT m.organisation_id, m.usager_id, u.search_name
FROM mandates m JOIN usagers u ON u.id = m.usager_id;
