//! `manager master-key rotate`: a new master key replaces the old ones, every stored secret sealed
//! again with it. Run it while the manager is stopped (a running manager keeps sealing with the key it
//! started with, which the rotation drops).
//!
//! Each step leaves a state the manager starts from:
//! 1. the key file gets the new key in front of the old ones (a temporary file renamed over it);
//! 2. every secret is opened and sealed with the new key, in one transaction;
//! 3. once no secret is sealed with an old key, the key file keeps the new key alone.
//!
//! Stopped after 1 or 2, the key file holds every key needed, and the manager re-seals what is left at
//! its next start; running the command again finishes the job.

use std::{path::PathBuf, sync::Arc, time::Instant};

use clap::{Args, Subcommand};

use super::{
    Keyring, MasterKey, MasterKeyArgs, Sealer,
    keyring::{read_file, write_atomic},
};
use crate::store::{Store, sealing};

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Replace the master key: generate a new one, seal every stored secret with it, drop the old one
    /// from the key file. Stop the manager first.
    Rotate(RotateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// Database URL, as given to `manager serve`.
    #[arg(
        long,
        env = "BOTFLEET_DATABASE_URL",
        default_value = "sqlite://./data/botfleet.db"
    )]
    pub database_url: String,
    #[command(flatten)]
    pub keys: MasterKeyArgs,
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub file: PathBuf,
    pub old_ids: Vec<String>,
    pub new_id: String,
    pub report: sealing::SealReport,
    /// Time to open and seal every secret again, commit included.
    pub reseal_ms: u128,
}

impl std::fmt::Display for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "master key rotated: {} replaces {} in {}; {} secrets sealed again in {} ms",
            self.new_id,
            self.old_ids.join(", "),
            self.file.display(),
            self.report.values,
            self.reseal_ms
        )
    }
}

/// Runs the rotation (see the module's documentation).
pub async fn run(args: &RotateArgs) -> anyhow::Result<Rotation> {
    if args.keys.master_key.is_some() {
        anyhow::bail!(
            "the master key comes from BOTFLEET_MASTER_KEY, which this command cannot rewrite: rotate \
             by hand (set BOTFLEET_MASTER_KEY to `<new key>,<old key>`, start the manager once, which \
             seals every secret with the first key, then drop the old key), or keep the keys in a \
             file (--master-key-file)"
        );
    }
    let file = args
        .keys
        .file(&args.database_url)
        .expect("no --master-key: a file");
    let old = read_file(&file)?.ok_or_else(|| {
        anyhow::anyhow!(
            "there is no master key file at {}: give the one the manager uses (--master-key-file, \
             BOTFLEET_MASTER_KEY_FILE)",
            file.display()
        )
    })?;
    let pool = crate::db::connect(&args.database_url).await?;
    let sealed = sealing::sealed_key_ids(&pool).await?;
    let old_ids: Vec<String> = old.ids().into_iter().map(String::from).collect();
    if let Some(missing) = sealed.iter().find(|id| !old_ids.contains(id)) {
        anyhow::bail!(
            "this database holds secrets sealed with master key {missing}, which {} does not hold: \
             nothing was changed",
            file.display()
        );
    }
    // The current keys must open everything (what is left in plaintext gets sealed) before the file
    // changes.
    let check = Store::new(pool.clone(), Arc::new(Sealer::new(&old)));
    check.seal_at_rest().await.map_err(|e| {
        anyhow::anyhow!(
            "the stored secrets do not open with {}: {e}",
            file.display()
        )
    })?;

    let new = MasterKey::generate();
    let new_id = new.id().to_string();
    let both = old.with_primary(new.clone());
    write_atomic(&file, &both)?;
    let store = Store::new(pool.clone(), Arc::new(Sealer::new(&both)));
    let started = Instant::now();
    let report = store.seal_at_rest().await.map_err(|e| {
        anyhow::anyhow!(
            "sealing the secrets with the new key failed, nothing was changed in the database: {e}. \
             {} now holds the new key and the old ones; the manager starts with it, or run this \
             command again",
            file.display()
        )
    })?;
    let reseal_ms = started.elapsed().as_millis();
    let left = sealing::keys_other_than(&pool, &new_id).await?;
    if !left.is_empty() {
        anyhow::bail!(
            "secrets sealed with {} were written during the rotation: is a manager running on this \
             database? Stop it and run this command again ({} keeps every key meanwhile)",
            left.into_iter().collect::<Vec<_>>().join(", "),
            file.display()
        );
    }
    write_atomic(&file, &Keyring::new(vec![new]))?;
    pool.close().await;
    Ok(Rotation {
        file,
        old_ids,
        new_id,
        report,
        reseal_ms,
    })
}
