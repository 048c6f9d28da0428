DROP TABLE console_links;
DROP INDEX console_sessions_expiry;
DROP TABLE console_sessions;
