//! An instance as the manager holds it: one record joining its three stored parts (the spec in
//! `instances`, the status in `instance_status`, the counters in `instance_counters`), mirrored by the
//! cache. Which field belongs to which part is said once, in `parts!` below.

use shared::{Provider, agent::BotConfig};

pub use shared::api::instances::{AuthStatus, DesiredState, InstanceStatus, Interface};

/// The credentials kept in `token`: the provider-tagged JSON, or a bare Telegram token (what instances
/// created before other providers kept).
pub fn stored_credentials(token: &str) -> shared::api::credentials::Credentials {
    use shared::api::credentials::{Credentials, TelegramCredentials};
    if token.starts_with('{')
        && let Ok(credentials) = serde_json::from_str::<Credentials>(token)
    {
        return credentials;
    }
    Credentials::Telegram(TelegramCredentials {
        token: token.to_string(),
    })
}

/// The credentials kept in `token` as the provider-tagged JSON the worker reads: the stored text itself,
/// or a bare Telegram token wrapped (without parsing what is already JSON).
pub fn credentials_json(token: &str) -> std::borrow::Cow<'_, str> {
    if token.starts_with('{') {
        std::borrow::Cow::Borrowed(token)
    } else {
        std::borrow::Cow::Owned(credentials_to_store(&stored_credentials(token)))
    }
}

/// What `token` keeps for these credentials.
pub fn credentials_to_store(credentials: &shared::api::credentials::Credentials) -> String {
    serde_json::to_string(credentials).expect("credentials serialize")
}

/// One instance, every column of its three tables. Secrets (`token`, `control_key`) stay inside the manager: API views are
/// built field by field and never serialize this struct whole.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub id: String,
    pub user_id: String,
    pub provider: Provider,
    pub type_instance: Vec<Interface>,
    pub display_name: String,
    pub token: String,
    pub token_sha256: String,
    pub api_key_sha256: String,
    /// The first characters of the API key, enough for a user to tell keys apart.
    pub api_key_hint: String,
    pub api_key_created_at: i64,
    pub control_key: String,
    pub port: u16,
    /// The port of the bot's MCP server, while `type_instance` holds `mcp`.
    pub mcp_port: Option<u16>,
    /// The bot configuration (seed 003's fields; the seed's `agno_config`).
    pub agno_config: Option<BotConfig>,
    pub status: InstanceStatus,
    pub status_reason: Option<String>,
    pub auth_status: AuthStatus,
    pub account: Option<String>,
    pub bot_username: Option<String>,
    pub bot_id: Option<String>,
    pub container_id: Option<String>,
    pub health_ok: bool,
    pub last_health_at: Option<i64>,
    pub health_check_count: i64,
    pub consecutive_failures: i64,
    pub sent_count: i64,
    pub received_count: i64,
    pub restart_count: i64,
    pub error_count: i64,
    pub last_error: Option<String>,
    pub desired_state: DesiredState,
    /// Digest of the configuration the current container was created with (`None`: no container yet).
    pub applied_config_sha256: Option<String>,
    /// When the worker last became healthy after a start (unix ms).
    pub running_since: Option<i64>,
    /// When the bot last had a long poll answered by Telegram (unix ms, from the worker's report).
    pub last_poll_at: Option<i64>,
    /// Crashes in a row; reset once the worker has run stably.
    pub crash_count: i64,
    /// When a crashed worker may be started again (unix ms).
    pub next_restart_at: Option<i64>,
    pub health_fail_count: i64,
    pub api_key_usage_count: i64,
    pub api_key_last_used_at: Option<i64>,
    /// Per-instance limits; `None` means the manager's defaults.
    pub memory_limit_mb: Option<i64>,
    pub cpu_millis: Option<i64>,
    /// The worker's own counters at the last poll (they restart at zero with the worker).
    pub seen_sent: i64,
    pub seen_received: i64,
    pub seen_key_uses: i64,
    /// Placement constraints the runtime honours (`node.labels.region==eu`); Swarm only.
    pub placement: Vec<String>,
    /// The owner's labels.
    pub labels: shared::api::instances::Labels,
    /// How the bot receives; `None` is its provider's default.
    pub receive: Option<shared::provider::Receive>,
    /// Bumped by every change a user makes to the spec; the reconciler records the one it acted on.
    pub revision: i64,
    /// The revision of the last verb that asked for a fresh worker (start, restart, process, key
    /// rotation): a converge that has not observed it yet recreates the worker.
    pub restart_revision: i64,
    /// A user asked for deletion; the reconciler removes the worker, then the row.
    pub deleting: bool,
    /// Paused by a user: the worker keeps running but receives and answers nothing.
    pub paused: bool,
    /// Bumped by every change of the bot configuration or of `paused`; the worker reports the one it
    /// runs by.
    pub config_revision: i64,
    /// The `config_revision` the worker last acknowledged (status).
    pub applied_config_revision: Option<i64>,
    /// The spec revision the reconciler last converged (status).
    pub observed_revision: i64,
    /// Where the manager reaches the worker's API (`host:port`), as the runtime reported it (status).
    pub endpoint: Option<String>,
    /// The host (Docker engine or Swarm node) the worker runs on (status).
    pub host_id: Option<String>,
    /// Compare-and-swap counter of the spec (`instances.version`), bumped by each spec write.
    pub spec_version: i64,
    /// Compare-and-swap counter of the status (`instance_status.version`), bumped by each status write;
    /// it also keys `status_history` and `instance_errors`.
    pub status_version: i64,
    /// Bumped in memory by each change of a counter; stored with the counters when they are flushed.
    pub counters_version: i64,
    /// `spec_version + status_version + counters_version`: grows with every change, whatever part it
    /// touched (the API shows it).
    pub version: i64,
    pub created_at: i64,
    /// The last change of any part.
    pub updated_at: i64,
}

/// Which stored parts of an instance a change touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    pub spec: bool,
    pub status: bool,
    pub counters: bool,
}

impl Parts {
    pub fn any(self) -> bool {
        self.spec || self.status || self.counters
    }

    /// Whether the change needs a database write now (counters wait for the flush).
    pub fn stored_now(self) -> bool {
        self.spec || self.status
    }
}

/// Declares which part each field of [`InstanceRecord`] is stored in. A field missing here, or listed
/// twice, does not compile (`every_field_has_one_part`).
macro_rules! parts {
    (
        spec: [$($spec:ident),* $(,)?],
        status: [$($status:ident),* $(,)?],
        counters: [$($counter:ident),* $(,)?],
        versions: [$($meta:ident),* $(,)?] $(,)?
    ) => {
        impl InstanceRecord {
            /// Which parts differ between `self` and `other`, versions and `updated_at` aside.
            pub fn changed_parts(&self, other: &Self) -> Parts {
                Parts {
                    spec: false $(|| self.$spec != other.$spec)*,
                    status: false $(|| self.$status != other.$status)*,
                    counters: false $(|| self.$counter != other.$counter)*,
                }
            }

            fn copy_status(&mut self, from: &Self) {
                $(self.$status = from.$status.clone();)*
                self.status_version = from.status_version;
            }

            fn copy_counters(&mut self, from: &Self) {
                $(self.$counter = from.$counter.clone();)*
                self.counters_version = from.counters_version;
            }
        }

        #[allow(dead_code)]
        fn every_field_has_one_part(r: InstanceRecord) {
            let InstanceRecord { $($spec: _,)* $($status: _,)* $($counter: _,)* $($meta: _,)* } = r;
        }
    };
}

impl InstanceRecord {
    /// Whether `next` differs from this record in its counters only by what a health check that found
    /// the bot alive moves (the check count, the last check, the last poll).
    pub fn only_liveness_differs(&self, next: &Self) -> bool {
        let mut alive = self.clone();
        alive.health_check_count = next.health_check_count;
        alive.last_health_at = next.last_health_at;
        alive.last_poll_at = next.last_poll_at;
        !alive.changed_parts(next).counters
    }

    /// A new revision of the bot configuration (or of `paused`): a spec change the reconciler pushes
    /// to the running worker.
    pub fn bump_config_revision(&mut self) {
        self.config_revision += 1;
        self.revision += 1;
    }
}

parts! {
    spec: [
        id, user_id, provider, type_instance, display_name, token, token_sha256, api_key_sha256,
        api_key_hint, api_key_created_at, control_key, port, agno_config, desired_state,
        memory_limit_mb, cpu_millis, placement, receive, revision, restart_revision, deleting, created_at,
        paused, config_revision, mcp_port, labels,
    ],
    status: [
        status, status_reason, auth_status, account, bot_username, bot_id, container_id, health_ok,
        consecutive_failures, restart_count, error_count, last_error, applied_config_sha256,
        running_since, crash_count, next_restart_at, observed_revision, endpoint, host_id,
        applied_config_revision,
    ],
    counters: [
        health_check_count, last_health_at, health_fail_count, sent_count, received_count,
        api_key_usage_count, api_key_last_used_at, last_poll_at, seen_sent, seen_received,
        seen_key_uses,
    ],
    versions: [spec_version, status_version, counters_version, version, updated_at],
}

impl InstanceRecord {
    /// The version the record shows: the sum of its parts' versions.
    pub fn combined_version(&self) -> i64 {
        self.spec_version + self.status_version + self.counters_version
    }

    /// `self` with whatever `incoming` holds newer, part by part (each part from the side with its
    /// higher version); `None` when `incoming` holds nothing newer. So a spec write and a status write
    /// made side by side both land, and a record reloaded from the database (whose counters may be older
    /// than the unflushed ones in memory) never rolls counters back.
    pub fn merged_with(&self, incoming: &Self) -> Option<Self> {
        let spec = incoming.spec_version > self.spec_version;
        let status = incoming.status_version > self.status_version;
        let counters = incoming.counters_version > self.counters_version;
        if !(spec || status || counters) {
            return None;
        }
        let mut out = if spec { incoming } else { self }.clone();
        out.copy_status(if status { incoming } else { self });
        out.copy_counters(if counters { incoming } else { self });
        out.updated_at = self.updated_at.max(incoming.updated_at);
        out.version = out.combined_version();
        Some(out)
    }

    /// Whether a verb the user made is still waiting for the reconciler.
    pub fn is_converging(&self) -> bool {
        self.observed_revision < self.revision
    }

    pub fn is_ready_for_messages(&self) -> bool {
        self.auth_status == AuthStatus::ClientReady && self.health_ok
    }

    /// `@username` as the replaced system showed it in `phone_number`.
    pub fn handle(&self) -> Option<String> {
        self.bot_username.as_ref().map(|u| format!("@{u}"))
    }
}
