-- PKCE (RFC 7636): the S256 challenge an authorization request carried, checked at /token.
ALTER TABLE oidc_requests ADD COLUMN code_challenge TEXT;
-- The démarches FranceConnect asked for through `claims.id_token.rep_scope.values` (a JSON
-- array of catalogue ids, possibly empty); NULL when the request asked none.
ALTER TABLE oidc_requests ADD COLUMN rep_scope TEXT;
-- The démarches a structure may do (a JSON array of catalogue ids); NULL: all of them.
ALTER TABLE organisations ADD COLUMN allowed_demarches TEXT;
