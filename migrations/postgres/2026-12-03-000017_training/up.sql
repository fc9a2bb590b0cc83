-- Training of the aidants to train: sessions published by the national team, each aidant
-- registered by a référent of their structure, attendance recorded by the team, and the Pix
-- results imported from a file.
CREATE TABLE training_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    place TEXT NOT NULL,
    online BOOLEAN NOT NULL,
    organiser TEXT NOT NULL,
    seats INTEGER NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX training_sessions_start ON training_sessions (starts_at);
CREATE TABLE training_registrations (
    session_id TEXT NOT NULL REFERENCES training_sessions (id),
    aidant_id TEXT NOT NULL REFERENCES aidants (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    registered_by TEXT NOT NULL REFERENCES aidants (id),
    registered_at TIMESTAMP NOT NULL,
    attended BOOLEAN,
    PRIMARY KEY (session_id, aidant_id)
);
CREATE INDEX training_registrations_aidant ON training_registrations (aidant_id);
-- Who is to be trained, in which structure (from a validated request): an aidant pending
-- activation, or its référent when they will also be an aidant (whose account is active).
CREATE TABLE trainees (
    aidant_id TEXT NOT NULL REFERENCES aidants (id),
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    created_at TIMESTAMP NOT NULL,
    trained_at TIMESTAMP,
    PRIMARY KEY (aidant_id, organisation_id)
);
CREATE TABLE pix_results (
    aidant_id TEXT PRIMARY KEY NOT NULL REFERENCES aidants (id),
    passed BOOLEAN NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id)
);
