//! Platform callbacks in: each platform's verification (the routes are the lead's).

pub mod verify;
