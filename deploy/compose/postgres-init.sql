-- One database per service: each owns its data.
CREATE DATABASE catalog;
CREATE DATABASE inventory;
CREATE DATABASE payments;
CREATE DATABASE orders;
CREATE DATABASE saga;
CREATE DATABASE projections;
