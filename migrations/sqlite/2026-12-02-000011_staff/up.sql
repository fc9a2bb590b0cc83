-- The national team's own accounts (the back office at /administration): never aidants of a
-- structure, each with a role. A member signs in with e-mail and the code of an OTP card
-- (otp_cards.staff_id), enrolled once through a single-use link whose token is kept hashed.
CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    role TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    enrolment_hash TEXT UNIQUE,
    enrolment_expires_at TIMESTAMP
);

-- Their sessions, shorter than an aidant's; the browser holds the token, the table its hash.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- A card is held by an aidant or by a member of the national team, never both.
ALTER TABLE otp_cards ADD COLUMN staff_id TEXT REFERENCES staff (id);
CREATE INDEX otp_cards_staff ON otp_cards (staff_id) WHERE staff_id IS NOT NULL;
