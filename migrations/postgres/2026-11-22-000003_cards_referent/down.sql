DROP TABLE login_throttle;
ALTER TABLE memberships DROP COLUMN active;
ALTER TABLE otp_cards DROP COLUMN disabled_reason;
ALTER TABLE otp_cards DROP COLUMN last_failure_at;
