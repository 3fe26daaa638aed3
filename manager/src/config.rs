//! The manager's command line. Every flag of `serve` is also an environment variable `BOTFLEET_*`.

use std::{net::IpAddr, ops::RangeInclusive, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

/// botfleet manager: one Docker container per messaging bot, behind one API.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "BOTFLEET_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the manager API and its background work.
    Serve(Box<ServeArgs>),
    /// Manage the worker image.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Print the manager's OpenAPI document (or the worker's, with --worker), e.g. to generate a client
    /// without a running manager.
    Openapi {
        /// The worker's document instead of the manager's.
        #[arg(long)]
        worker: bool,
    },
    /// Manage the master key that seals the secrets stored in the database.
    MasterKey {
        #[command(subcommand)]
        command: crate::seal::rotate::MasterKeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build (or rebuild) the worker image from the worker binary.
    Build(ImageArgs),
}

/// Where the worker image comes from.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// Docker endpoint: `unix:///path/docker.sock` or `tcp://host:port`; default: DOCKER_HOST or the local socket.
    #[arg(long, env = "BOTFLEET_DOCKER_HOST")]
    pub docker_host: Option<String>,
    /// Worker image reference; default `botfleet-worker:<manager version>`.
    #[arg(long, env = "BOTFLEET_WORKER_IMAGE")]
    pub worker_image: Option<String>,
    /// Static worker binary packed into the image when it must be built; default: `worker` next to this binary.
    #[arg(long, env = "BOTFLEET_WORKER_BINARY")]
    pub worker_binary: Option<PathBuf>,
}

impl ImageArgs {
    pub fn image(&self) -> String {
        self.worker_image
            .clone()
            .unwrap_or_else(|| format!("botfleet-worker:{}", env!("CARGO_PKG_VERSION")))
    }

    pub fn binary(&self) -> PathBuf {
        self.worker_binary.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join("worker")))
                .unwrap_or_else(|| PathBuf::from("worker"))
        })
    }
}

/// Settings of `manager serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address the API listens on (port 0 picks a free one).
    #[arg(long, env = "BOTFLEET_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,
    /// Database URL: `sqlite://path` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "BOTFLEET_DATABASE_URL",
        default_value = "sqlite://./data/botfleet.db"
    )]
    pub database_url: String,
    /// Admin bearer key for `/api/v1/*`; when unset, one is generated on first start and printed once.
    #[arg(long, env = "BOTFLEET_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// First port of the range given to workers.
    #[arg(long, env = "BOTFLEET_PORT_MIN", default_value_t = 3001)]
    pub port_min: u16,
    /// Last port (inclusive) of the range given to workers.
    #[arg(long, env = "BOTFLEET_PORT_MAX", default_value_t = 7999)]
    pub port_max: u16,
    /// Host IP that worker ports are published on.
    #[arg(long, env = "BOTFLEET_HOST_IP", default_value = "127.0.0.1")]
    pub host_ip: IpAddr,
    /// Container runtime: `docker` (one container per bot on this engine) or `swarm` (one service per
    /// bot across the swarm's nodes). Default: `swarm` when the engine is a manager node of an active
    /// swarm, else `docker`.
    #[arg(long, env = "BOTFLEET_RUNTIME", value_enum)]
    pub runtime: Option<crate::runtime::RuntimeKind>,
    /// Docker network of the workers: `auto` (Docker's default bridge while it has room, then bridge
    /// networks the manager makes and removes, `<fleet>-net-N`, each up to `--bots-per-network`),
    /// `bridge`, `host`, or the name of an existing network.
    #[arg(long, env = "BOTFLEET_NETWORK", default_value = "auto")]
    pub network: String,
    /// With `--network auto`: workers per network (a Linux bridge holds at most 1,024 ports).
    #[arg(long, env = "BOTFLEET_BOTS_PER_NETWORK", default_value_t = 1000,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub bots_per_network: u16,
    /// Base URL of this manager as users reach it, used in `status_check_url`; default `http://<listen>`.
    #[arg(long, env = "BOTFLEET_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Host name or IP users reach workers at, used in credentials; default: the host IP (or localhost).
    #[arg(long, env = "BOTFLEET_PUBLIC_HOST")]
    pub public_host: Option<String>,
    /// Telegram Bot API base URL given to workers.
    #[arg(
        long,
        env = "BOTFLEET_TELEGRAM_API_URL",
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_url: String,
    /// Discord REST API base URL given to workers.
    #[arg(
        long,
        env = "BOTFLEET_DISCORD_API_URL",
        default_value = "https://discord.com/api"
    )]
    pub discord_api_url: String,
    /// Discord gateway URL given to workers.
    #[arg(
        long,
        env = "BOTFLEET_DISCORD_GATEWAY_URL",
        default_value = "wss://gateway.discord.gg"
    )]
    pub discord_gateway_url: String,
    /// Slack Web API base URL given to workers.
    #[arg(
        long,
        env = "BOTFLEET_SLACK_API_URL",
        default_value = "https://slack.com/api/"
    )]
    pub slack_api_url: String,
    /// WhatsApp Cloud (Graph) API base URL given to workers.
    #[arg(
        long,
        env = "BOTFLEET_WHATSAPP_API_URL",
        default_value = "https://graph.facebook.com/v21.0"
    )]
    pub whatsapp_api_url: String,
    /// Prefix of container names and value of the `botfleet.fleet` label.
    #[arg(long, env = "BOTFLEET_FLEET", default_value = "botfleet")]
    pub fleet: String,
    /// Memory limit of each worker container, in MiB.
    #[arg(long, env = "BOTFLEET_WORKER_MEMORY_MB", default_value_t = 128)]
    pub worker_memory_mb: u64,
    /// CPU limit of each worker container, in CPUs.
    #[arg(long, env = "BOTFLEET_WORKER_CPUS", default_value_t = 0.5)]
    pub worker_cpus: f64,
    /// Seconds between two health checks of every worker.
    #[arg(long, env = "BOTFLEET_HEALTH_INTERVAL_SECS", default_value_t = 5.0)]
    pub health_interval_secs: f64,
    /// Health checks running at once.
    #[arg(long, env = "BOTFLEET_HEALTH_CONCURRENCY", default_value_t = 32)]
    pub health_concurrency: usize,
    /// Seconds between two writes of the counters every health check moves (checks, last seen, messages,
    /// key uses): they are kept in memory meanwhile and written for the whole fleet in one transaction,
    /// and once more at shutdown. A crash loses at most this much of them.
    #[arg(long, env = "BOTFLEET_COUNTER_FLUSH_SECS", default_value_t = 5.0)]
    pub counter_flush_secs: f64,
    /// Seconds a bot's counters may wait for a write when all that changed is that it was seen alive
    /// again (health check count, last check, last poll): an idle fleet then writes next to nothing. A
    /// crash loses at most this much of them; a stop writes them.
    #[arg(long, env = "BOTFLEET_LIVENESS_FLUSH_SECS", default_value_t = 300.0)]
    pub liveness_flush_secs: f64,
    /// Seconds between two full reconcile passes (the first runs at start).
    #[arg(long, env = "BOTFLEET_RECONCILE_INTERVAL_SECS", default_value_t = 30.0)]
    pub reconcile_interval_secs: f64,
    /// Wait before restarting a crashed worker, in ms; doubled for each further crash in a row.
    #[arg(long, env = "BOTFLEET_RESTART_BACKOFF_MS", default_value_t = 1000)]
    pub restart_backoff_ms: u64,
    /// Crashes in a row after which an instance is left `failed` until a user restarts it.
    #[arg(long, env = "BOTFLEET_MAX_CRASHES", default_value_t = 5)]
    pub max_crashes: u32,
    /// Seconds between two resource samples (host, containers, alerts).
    #[arg(long, env = "BOTFLEET_SAMPLE_INTERVAL_SECS", default_value_t = 5.0)]
    pub sample_interval_secs: f64,
    /// Minutes of resource and health history kept in memory.
    #[arg(long, env = "BOTFLEET_HISTORY_WINDOW_MINS", default_value_t = 60)]
    pub history_window_mins: u64,
    /// Longest `?wait=true` on create, in seconds.
    #[arg(long, env = "BOTFLEET_WAIT_TIMEOUT_SECS", default_value_t = 60)]
    pub wait_timeout_secs: u64,
    /// Webhook delivery attempts in all before an event is dead-lettered.
    #[arg(long, env = "BOTFLEET_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    pub webhook_max_attempts: u32,
    /// Delay after a webhook's first failed attempt, in ms; it doubles (plus jitter) after each failure.
    #[arg(long, env = "BOTFLEET_WEBHOOK_BACKOFF_MS", default_value_t = 2000)]
    pub webhook_backoff_ms: u64,
    /// Longest delay between two webhook attempts, in ms.
    #[arg(
        long,
        env = "BOTFLEET_WEBHOOK_BACKOFF_MAX_MS",
        default_value_t = 600_000
    )]
    pub webhook_backoff_max_ms: u64,
    /// Time a webhook receiver has to answer, in ms.
    #[arg(long, env = "BOTFLEET_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Secret that signs login sessions (HS256), at least 32 bytes; when unset, one is generated on first
    /// start and kept (sealed) in the database.
    #[arg(long, env = "BOTFLEET_SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<String>,
    /// Lifetime of a login session, in seconds.
    #[arg(long, env = "BOTFLEET_SESSION_TTL_SECS", default_value_t = 900)]
    pub session_ttl_secs: u64,
    /// Requests a second each key (or session) may make on average.
    #[arg(long, env = "BOTFLEET_RATE_LIMIT_PER_KEY", default_value_t = 50)]
    pub rate_limit_per_key: u32,
    /// Requests a key may make at once, beyond its rate.
    #[arg(long, env = "BOTFLEET_RATE_LIMIT_KEY_BURST", default_value_t = 500)]
    pub rate_limit_key_burst: u32,
    /// Requests a second each user may make on average, all their keys and sessions together.
    #[arg(long, env = "BOTFLEET_RATE_LIMIT_PER_USER", default_value_t = 100)]
    pub rate_limit_per_user: u32,
    /// Requests a user may make at once, beyond their rate.
    #[arg(long, env = "BOTFLEET_RATE_LIMIT_USER_BURST", default_value_t = 1000)]
    pub rate_limit_user_burst: u32,
    /// Login attempts a minute per username (and four times as many per client address).
    #[arg(long, env = "BOTFLEET_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 5)]
    pub login_attempts_per_minute: u32,
    /// Most bots a user (not an admin) may own, unless their own quota says otherwise.
    #[arg(long, env = "BOTFLEET_USER_MAX_INSTANCES", default_value_t = 20)]
    pub user_max_instances: i64,
    /// Most memory (MiB, the sum of their bots' limits) a user may hold, unless their own quota says
    /// otherwise.
    #[arg(long, env = "BOTFLEET_USER_MAX_MEMORY_MB", default_value_t = 4096)]
    pub user_max_memory_mb: i64,
    /// Days the audit log keeps an entry.
    #[arg(long, env = "BOTFLEET_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u64,
    /// How long events, messages, webhook deliveries and histories are kept.
    #[command(flatten)]
    pub retention: crate::retention::RetentionArgs,
    /// Where the master key sealing the stored secrets comes from.
    #[command(flatten)]
    pub master_key: crate::seal::MasterKeyArgs,
    /// Networks (CIDR, comma-separated: `10.0.0.0/8,fd00::/8`) that outbound requests to user-given
    /// URLs (webhooks, agents, alert hooks) may reach although they are loopback, link-local, private
    /// or otherwise not public. Default: none. Workers get the same list.
    #[arg(long, env = "BOTFLEET_OUTBOUND_ALLOW", default_value = "")]
    pub outbound_allow: netguard::Networks,
    /// Networks those requests never reach, public or allowed (`0.0.0.0/0,::/0`: none at all).
    /// Default: none. Workers get the same list.
    #[arg(long, env = "BOTFLEET_OUTBOUND_DENY", default_value = "")]
    pub outbound_deny: netguard::Networks,
    #[command(flatten)]
    pub image: ImageArgs,
}

impl ServeArgs {
    pub fn rate_settings(&self) -> crate::auth::limits::RateSettings {
        use crate::auth::limits::Rate;
        crate::auth::limits::RateSettings {
            per_key: Rate {
                per_second: self.rate_limit_per_key.max(1),
                burst: self.rate_limit_key_burst.max(1),
            },
            per_user: Rate {
                per_second: self.rate_limit_per_user.max(1),
                burst: self.rate_limit_user_burst.max(1),
            },
            logins_per_minute: self.login_attempts_per_minute.max(1),
        }
    }

    pub fn port_range(&self) -> RangeInclusive<u16> {
        self.port_min..=self.port_max
    }

    pub fn health_interval(&self) -> Duration {
        Duration::from_secs_f64(self.health_interval_secs.max(0.05))
    }

    pub fn counter_flush_interval(&self) -> Duration {
        Duration::from_secs_f64(self.counter_flush_secs.max(0.05))
    }

    pub fn sample_interval(&self) -> Duration {
        Duration::from_secs_f64(self.sample_interval_secs.max(0.2))
    }

    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_secs_f64(self.reconcile_interval_secs.max(0.1))
    }

    pub fn webhook_retry(&self) -> crate::webhook_delivery::RetryPolicy {
        crate::webhook_delivery::RetryPolicy {
            max_attempts: self.webhook_max_attempts.max(1),
            base: Duration::from_millis(self.webhook_backoff_ms.max(1)),
            max: Duration::from_millis(
                self.webhook_backoff_max_ms
                    .max(self.webhook_backoff_ms.max(1)),
            ),
        }
    }

    /// Where requests to user-given URLs may go.
    pub fn outbound_policy(&self) -> netguard::Policy {
        netguard::Policy::new(self.outbound_allow.clone(), self.outbound_deny.clone())
    }

    pub fn crash_policy(&self) -> crate::reconcile::CrashPolicy {
        crate::reconcile::CrashPolicy {
            base_backoff_ms: self.restart_backoff_ms.max(1) as i64,
            max_crashes: i64::from(self.max_crashes.max(1)),
            ..Default::default()
        }
    }
}
