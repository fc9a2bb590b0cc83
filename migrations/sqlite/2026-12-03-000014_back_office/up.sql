-- The national team's back office: the France Services label of a structure and the shipments
-- of physical cards to structures. (A card's history reads the journal through the index on
-- (action, at) of the first migration.)
ALTER TABLE organisations ADD COLUMN france_services BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE card_shipments (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    sent_on DATE NOT NULL,
    quantity INTEGER NOT NULL,
    tracking TEXT NOT NULL,
    serials TEXT NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX card_shipments_organisation ON card_shipments (organisation_id, sent_on);
