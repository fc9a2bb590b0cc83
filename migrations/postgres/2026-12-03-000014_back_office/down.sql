DROP TABLE card_shipments;
ALTER TABLE organisations DROP COLUMN france_services;
