CREATE TABLE stolen (secret VARCHAR);
