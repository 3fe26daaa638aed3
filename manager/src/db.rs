//! Connecting to the database named by a URL (SQLite or PostgreSQL) and bringing its schema up to date.

use std::{path::Path, str::FromStr};

use sqlx::{AnyPool, any::AnyPoolOptions, sqlite::SqliteConnectOptions};

/// The migrations in `migrations/`, embedded; the same portable SQL runs on both databases.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool on `url`, creating a SQLite file (and its folder) when missing, and runs migrations.
pub async fn connect(url: &str) -> anyhow::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let url = if url.starts_with("sqlite:") {
        prepare_sqlite(url)?
    } else {
        url.to_string()
    };
    let max = if url.starts_with("sqlite:") { 4 } else { 16 };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database: {e}"))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    Ok(pool)
}

/// Makes sure the SQLite file's folder exists and the URL asks for the file to be created.
fn prepare_sqlite(url: &str) -> anyhow::Result<String> {
    let options = SqliteConnectOptions::from_str(url)?;
    if let Some(dir) = Path::new(options.get_filename()).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}
