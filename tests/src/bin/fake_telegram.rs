//! The fake Telegram Bot API as a standalone server, for benchmarks and manual runs.

use clap::Parser;

#[derive(Parser)]
#[command(about = "Fake Telegram Bot API for botfleet tests and benchmarks")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: std::net::SocketAddr,
    /// Register bots with ids 1..=N; their tokens are printed one per line.
    #[arg(long, default_value_t = 1)]
    bots: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (fake, addr) = botfleet_tests::fake_telegram::FakeTelegram::start(args.listen).await?;
    println!("listening {addr}");
    for id in 1..=args.bots {
        println!(
            "{}",
            fake.add_bot(1_000_000 + id, &format!("bench{id}_bot"))
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
