INSERT INTO stolen VALUES ('x');
