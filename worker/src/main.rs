use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::config::Config::parse();
    worker::telemetry::init(config.log_format);
    worker::run(config).await
}
