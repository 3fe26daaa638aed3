//! `scripts/bench-api`: latency (p50/p99) and requests per second of the main read endpoints, and of the
//! dashboard's bots table (its first page, a far page sorted, a search), with 0, 100 and 1,000 instances
//! in the database (and 2,000), measured with `wrk` against a release manager.

use botfleet_tests::{
    harness::{self, Manager, ManagerOptions},
    seed::{self, SeedRow},
    wrk::{wrk, wrk_with},
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "API benchmark for botfleet")]
struct Args {
    /// Instance counts to measure at (at most 2,000: the port range given to the manager).
    #[arg(long, value_delimiter = ',', default_value = "0,100,1000,2000")]
    sizes: Vec<usize>,
    /// Seconds of load per endpoint.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// Open connections.
    #[arg(long, default_value_t = 16)]
    connections: u32,
}

const FIRST_PORT: u16 = 40_000;

/// `n` stopped instances of 50 owners, written straight into the database the manager uses; the
/// first one's id.
async fn seed(database_url: &str, n: usize) -> anyhow::Result<Option<String>> {
    let rows = (0..n).map(|i| SeedRow {
        owner: format!("bench-{}", i % 50),
        display_name: "telegram_api".into(),
        status: "stopped",
    });
    let ids = seed::instances(database_url, FIRST_PORT, rows).await?;
    Ok(ids.into_iter().next())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    println!(
        "botfleet bench-api: wrk, {} connections, {} s per endpoint",
        args.connections, args.seconds
    );
    println!(
        "{:>9}  {:<50} {:>9} {:>9} {:>10}",
        "instances", "endpoint", "p50 ms", "p99 ms", "req/s"
    );
    for &n in &args.sizes {
        // One key's load: the rate limits (since the tenancy issue) would answer most of it with 429.
        let mut options = ManagerOptions::new(&tg_url).await.without_rate_limits();
        options.env.push(("RUST_LOG".into(), "warn".into()));
        options.ports = (FIRST_PORT, FIRST_PORT + 1999);
        options.health_interval_secs = 5.0;
        // First start creates the schema; then the rows go in while it is stopped.
        let mut m = Manager::spawn(options.clone());
        m.stop();
        let some_id = seed(&options.database_url, n).await?;
        let m = Manager::spawn(options);
        // Let the first resource sample land.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let mut endpoints = vec![
            "/api/v1/instances".to_string(),
            "/api/v1/instances?limit=100".to_string(),
            "/api/v1/instances?limit=100&label=team=x&sort=name".to_string(),
            "/api/v1/resources".to_string(),
            "/api/v1/resources/instances".to_string(),
        ];
        if let Some(id) = &some_id {
            endpoints.insert(1, format!("/api/v1/instances/{id}"));
        }
        for path in &endpoints {
            let (p50, p99, rps) = wrk(
                &m.url(path),
                &m.options.admin_key,
                args.connections,
                args.seconds,
            )?;
            let shown = path.replace(some_id.as_deref().unwrap_or("-"), "{id}");
            println!("{n:>9}  {shown:<50} {p50:>9.2} {p99:>9.2} {rps:>10.0}");
        }
        // The dashboard's table, signed in as the admin (its session cookie holds the credential).
        let cookie = format!("Cookie: botfleet_session={}", m.options.admin_key);
        let far = (n / 50).saturating_sub(1);
        for path in [
            "/ui/bots".to_string(),
            format!("/ui/bots?sort=status&dir=desc&page={far}"),
            "/ui/bots?q=bench-7".to_string(),
        ] {
            let (p50, p99, rps) = wrk_with(&m.url(&path), &cookie, args.connections, args.seconds)?;
            let shown = path.replace(&format!("page={far}"), "page=last");
            println!("{n:>9}  {shown:<50} {p50:>9.2} {p99:>9.2} {rps:>10.0}");
        }
        drop(m);
    }
    Ok(())
}
