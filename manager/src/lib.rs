//! The botfleet manager: provisions one worker container per bot, watches their health, and serves the
//! fleet API. `main.rs` only parses the command line; everything lives here so tests can build it.

pub mod api;
pub mod app;
pub mod auth;
pub mod cache;
pub mod coherence;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod fleet;
pub mod fleet_mcp;
pub mod hosts;
pub mod keys;
pub mod leadership;
pub mod metrics;
pub mod monitor;
pub mod observed;
pub mod op_locks;
pub mod platform_webhooks;
pub mod ports;
pub mod reconcile;
pub mod retention;
pub mod runtime;
pub mod schedules;
pub mod seal;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod verbs;
pub mod webhook_delivery;
pub mod worker_control;
pub mod writes;
