//! Test support for botfleet: a fake Telegram Bot API and helpers that run the real manager binary
//! against the real Docker engine and a real database.

pub mod bench;
pub mod browser;
pub mod cli_run;
pub mod dashboard;
pub mod docker_proxy;
pub mod fake_agent;
pub mod fake_discord;
pub mod fake_slack;
pub mod fake_telegram;
pub mod fake_webhook;
pub mod fake_whatsapp;
pub mod harness;
pub mod mcp_client;
pub mod platform_signing;
pub mod seed;
pub mod wrk;
