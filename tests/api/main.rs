//! Black-box tests: each spawns the real server on port 0 over a fresh
//! database and talks to it over HTTP. Every test in a `both_backends!`
//! list runs on SQLite, and on PostgreSQL too when
//! `ROSTER_TEST_POSTGRES_URL` is set (each test gets its own database).
//! All of them live in this one binary so the stack links once.

mod helpers;

mod access;
mod auth;
mod browser;
mod cli;
mod concurrency;
mod console;
mod core;
mod directory;
mod events;
mod gaps;
mod graphiql;
mod http;
mod invitations;
mod keys;
mod member_rules;
mod members;
mod orgs_groups;
mod scim;
mod scopes;
mod smtp;
mod tenancy;
mod tokens;
mod transfer;
mod versions;
mod webhooks;
