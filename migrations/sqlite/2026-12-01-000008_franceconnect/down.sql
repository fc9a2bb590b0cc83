ALTER TABLE organisations DROP COLUMN allowed_demarches;
ALTER TABLE oidc_requests DROP COLUMN rep_scope;
ALTER TABLE oidc_requests DROP COLUMN code_challenge;
