DROP TABLE organisation_usagers;
