//! Background observers of the fleet.

pub mod events;
pub mod health;
