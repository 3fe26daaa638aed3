#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::config::Config::load()?;
    worker::telemetry::init(config.log_format);
    worker::run(config).await
}
