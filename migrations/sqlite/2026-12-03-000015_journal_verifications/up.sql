-- The journal's verification reports, computed by the upkeep (daily, and when a member of the
-- national team asks) rather than during a request: at national size a walk of every chain
-- takes minutes. A row is a request until its report is stored.
CREATE TABLE journal_verifications (
    id TEXT PRIMARY KEY NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    requested_by TEXT,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    intact BOOLEAN,
    report TEXT
);
CREATE INDEX journal_verifications_requested ON journal_verifications (requested_at);
