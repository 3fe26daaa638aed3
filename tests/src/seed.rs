//! Rows of instances written straight into a stopped manager's database: fleets of thousands for the
//! benches and the list tests, without a container each. They are `stopped` (desired and observed), so
//! the manager starts none of them.

/// One seeded instance: who owns it and what it is called.
pub struct SeedRow {
    pub owner: String,
    pub display_name: String,
    /// `stopped` or `failed`.
    pub status: &'static str,
}

/// Writes `rows` (instance, status and counters rows each, one transaction per instance) with ports
/// from `first_port` and creation times one millisecond apart, in order; returns their ids.
pub async fn instances(
    database_url: &str,
    first_port: u16,
    rows: impl IntoIterator<Item = SeedRow>,
) -> anyhow::Result<Vec<String>> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await?;
    let mut ids = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let id = uuid::Uuid::new_v4().to_string();
        let at = 1_700_000_000_000_i64 + i as i64;
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO instances (id, user_id, provider, type_instance, display_name, token, token_sha256, \
             api_key_sha256, api_key_hint, api_key_created_at, control_key, port, desired_state, created_at, \
             updated_at) VALUES ($1, $2, 'telegram', '[\"api\"]', $3, $4, $5, $6, 'bfk_000000…', 0, \
             'bfc_x', $7, 'stopped', $8, $8)",
        )
        .bind(id.clone())
        .bind(row.owner)
        .bind(row.display_name)
        .bind(format!("{i}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .bind(format!("token-{i}"))
        .bind(format!("key-{i}"))
        .bind(i64::from(first_port) + i as i64)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO instance_status (instance_id, status, auth_status, updated_at) \
             VALUES ($1, $2, 'pending', $3)",
        )
        .bind(id.clone())
        .bind(row.status)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO instance_counters (instance_id, updated_at) VALUES ($1, $2)")
            .bind(id.clone())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        // The port is held as the allocator holds it.
        sqlx::query("INSERT INTO port_leases (port, instance_id, purpose) VALUES ($1, $2, 'api')")
            .bind(i64::from(first_port) + i as i64)
            .bind(id.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        ids.push(id);
    }
    pool.close().await;
    Ok(ids)
}
