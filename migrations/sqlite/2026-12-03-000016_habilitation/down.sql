DROP TABLE habilitation_messages;
DROP TABLE habilitation_people;
DROP TABLE habilitation_requests;
DROP TABLE issuer_sessions;
DROP TABLE issuer_links;
DROP TABLE habilitation_issuers;
