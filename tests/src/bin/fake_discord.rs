//! The fake Discord (REST v10 and the gateway) as a standalone server, for benchmarks and manual runs.

use clap::Parser;

#[derive(Parser)]
#[command(about = "Fake Discord (REST API v10 and gateway) for botfleet tests and benchmarks")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: std::net::SocketAddr,
    /// Register N bots, each in a guild of its own; prints `<token> <general channel id>` per bot.
    #[arg(long, default_value_t = 1)]
    bots: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (fake, addr) = botfleet_tests::fake_discord::FakeDiscord::start(args.listen).await?;
    println!(
        "listening {addr}: BOTFLEET_DISCORD_API_URL=http://{addr}/api BOTFLEET_DISCORD_GATEWAY_URL=ws://{addr}"
    );
    for n in 1..=args.bots {
        let token = fake.add_bot(&format!("bench{n}"));
        let guild = fake.add_guild(&token, &format!("Bench {n}"));
        println!("{token} {}", guild.general);
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
