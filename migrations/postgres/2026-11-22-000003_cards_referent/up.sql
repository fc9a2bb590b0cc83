-- Card lifecycle and the espace référent: progressive delay and out-of-service cards,
-- memberships a référent can deactivate, and failed sign-ins counted per source address.
ALTER TABLE otp_cards ADD COLUMN last_failure_at TIMESTAMP;
ALTER TABLE otp_cards ADD COLUMN disabled_reason TEXT;
ALTER TABLE memberships ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE login_throttle (
    source TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
