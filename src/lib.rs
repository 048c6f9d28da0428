//! Roster: a multi-tenant organisation and membership admin service.
//!
//! Layers, each only calling the ones below it:
//! `http` → `graphql` → `service` (with `auth`) → `db`, all over the plain
//! types of `domain`. `app` wires them up; `config` holds every setting.

pub mod app;
pub mod auth;
pub mod config;
pub mod console;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod scim;
pub mod service;
pub mod transfer;
