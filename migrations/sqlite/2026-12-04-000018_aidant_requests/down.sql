DROP TABLE aidant_requests;
