-- A référent's requests to the national team for an aidant: new to the service (to train), or
-- who already works in another structure (joining, and maybe leaving it). `aidant_id` is the
-- account asked for when it exists, or the one created when the request is validated.
CREATE TABLE aidant_requests (
    id TEXT PRIMARY KEY NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    referent_id TEXT NOT NULL REFERENCES aidants (id),
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    phone TEXT NOT NULL,
    profession TEXT NOT NULL,
    arriving BOOLEAN NOT NULL,
    leaves BOOLEAN NOT NULL,
    aidant_id TEXT REFERENCES aidants (id),
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    staff_id TEXT REFERENCES staff (id),
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP
);
CREATE UNIQUE INDEX aidant_requests_open ON aidant_requests (organisation_id, email)
    WHERE status = 'awaiting';
CREATE INDEX aidant_requests_queue ON aidant_requests (status, created_at);
CREATE INDEX aidant_requests_organisation ON aidant_requests (organisation_id, created_at);
