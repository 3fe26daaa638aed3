//! Domain types: what an instance is, its states, and the validated form of user input.

pub mod instance;
pub mod lifecycle;
pub mod new_instance;

pub use instance::{AuthStatus, DesiredState, InstanceRecord, InstanceStatus, Interface};
pub use new_instance::NewInstance;
