DROP TABLE usager_sessions;
DROP TABLE usager_logins;
