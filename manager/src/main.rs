use clap::Parser;
use manager::config::{Cli, Command, ImageCommand};

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[cfg(all(feature = "jemalloc", not(feature = "dhat-heap")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Written when `main` returns (the manager stopped on a signal), while every task still holds what
    // it held.
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::builder()
        .file_name(
            std::env::var_os("BOTFLEET_DHAT_FILE").unwrap_or_else(|| "dhat-heap.json".into()),
        )
        .build();
    let cli = Cli::parse();
    manager::telemetry::init(cli.log_format);
    match cli.command {
        Command::Serve(args) => {
            let app = manager::app::Application::build(*args).await?;
            app.run_until_stopped().await
        }
        Command::Image {
            command: ImageCommand::Build(args),
        } => {
            let tag = manager::runtime::image::build_on_demand(&args).await?;
            println!("{tag}");
            Ok(())
        }
        Command::Openapi { worker } => {
            let doc = if worker {
                shared::worker_api::openapi_document()
            } else {
                serde_json::to_value(manager::api::openapi())?
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::MasterKey {
            command: manager::seal::rotate::MasterKeyCommand::Rotate(args),
        } => {
            let rotation = manager::seal::rotate::run(&args).await?;
            println!("{rotation}");
            Ok(())
        }
    }
}
