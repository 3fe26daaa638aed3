//! Background observers of the fleet.

pub mod alerts;
pub mod events;
pub mod health;
pub mod performance;
pub mod resources;
