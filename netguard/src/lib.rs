//! Outbound requests to destinations that users configure (webhook receivers, AI agents, alert hooks)
//! go through [`Outbound`]: it refuses loopback, link-local (cloud metadata), private and the other
//! non-public ranges of [`Range`] unless the operator's [`Policy`] allows them (and any network it
//! denies), checked on the address that is actually connected to; it follows no redirect and uses no
//! proxy.
//!
//! Platform APIs (Telegram, Slack, …) and the manager's calls to its workers are operator configuration,
//! not user input: they do not use it.

mod client;
mod policy;
mod range;

pub use client::{Builder, Error, Outbound, Request};
pub use policy::{InvalidNetworks, Networks, Policy, Reason, Refused};
pub use range::{Range, classify};
