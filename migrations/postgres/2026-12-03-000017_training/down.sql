DROP TABLE pix_results;
DROP TABLE trainees;
DROP TABLE training_registrations;
DROP TABLE training_sessions;
