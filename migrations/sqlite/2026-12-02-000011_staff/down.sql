DROP INDEX otp_cards_staff;
ALTER TABLE otp_cards DROP COLUMN staff_id;
DROP INDEX staff_sessions_staff;
DROP TABLE staff_sessions;
DROP TABLE staff;
