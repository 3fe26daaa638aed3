//! Background observers of the fleet.

pub mod health;
