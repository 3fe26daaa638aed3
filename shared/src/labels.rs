//! Docker labels the manager puts on worker containers, so it finds its own by label, never by name.

/// Present (value `true`) on every container a botfleet manager created.
pub const MANAGED: &str = "botfleet.managed";
/// The fleet (manager name prefix) that owns the container; tests use a random one per run.
pub const FLEET: &str = "botfleet.fleet";
/// The instance id the container runs.
pub const INSTANCE_ID: &str = "botfleet.instance_id";
/// The provider of the bot inside.
pub const PROVIDER: &str = "botfleet.provider";
/// The API port the worker listens on.
pub const PORT: &str = "botfleet.port";
/// On the worker image: SHA-256 of the worker binary it was built from.
pub const BINARY_SHA256: &str = "botfleet.binary_sha256";
