//! Domain types: what an instance is, its states, and the validated form of user input.

pub mod instance;
pub mod lifecycle;
pub mod new_instance;
pub mod templates;

pub use instance::{AuthStatus, DesiredState, InstanceRecord, InstanceStatus, Interface, Parts};
pub use new_instance::NewInstance;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
