//! `templates`: users' bot templates (the built-ins are compiled in, `domain::templates`).

use sqlx::{Row, any::AnyRow};

use super::Store;
use crate::domain::templates::Template;

const COLUMNS: &str = "id, user_id, name, description, category, system_prompt, welcome_message, \
     fallback_message, llm_provider, llm_model, llm_config, created_at, updated_at";

fn template(r: &AnyRow) -> Result<Template, sqlx::Error> {
    let decode = |column: &str, e: &dyn std::fmt::Display| {
        sqlx::Error::Decode(format!("templates.{column}: {e}").into())
    };
    let provider: String = r.try_get("llm_provider")?;
    let config: String = r.try_get("llm_config")?;
    Ok(Template {
        id: r.try_get("id")?,
        owner: Some(r.try_get("user_id")?),
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        category: r.try_get("category")?,
        system_prompt: r.try_get("system_prompt")?,
        welcome_message: r.try_get("welcome_message")?,
        fallback_message: r.try_get("fallback_message")?,
        llm_provider: serde_json::from_value(serde_json::Value::String(provider))
            .map_err(|e| decode("llm_provider", &e))?,
        llm_model: r.try_get("llm_model")?,
        llm_config: serde_json::from_str(&config).map_err(|e| decode("llm_config", &e))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn provider(t: &Template) -> String {
    serde_json::to_value(t.llm_provider)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn config(t: &Template) -> String {
    serde_json::to_string(&t.llm_config).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// Stores a user's template (`owner` must be set).
    pub async fn insert_template(&self, t: &Template) -> Result<(), sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO templates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )))
        .bind(t.id.clone())
        .bind(t.owner.clone().unwrap_or_default())
        .bind(t.name.clone())
        .bind(t.description.clone())
        .bind(t.category.clone())
        .bind(t.system_prompt.clone())
        .bind(t.welcome_message.clone())
        .bind(t.fallback_message.clone())
        .bind(provider(t))
        .bind(t.llm_model.clone())
        .bind(config(t))
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn template(&self, id: &str) -> Result<Option<Template>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM templates WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(template).transpose()
    }

    /// Stored templates, oldest first: of `owner` only when given, of `category` only when given.
    pub async fn templates(
        &self,
        owner: Option<&str>,
        category: Option<&str>,
    ) -> Result<Vec<Template>, sqlx::Error> {
        let mut sql = format!("SELECT {COLUMNS} FROM templates WHERE 1 = 1");
        let mut n = 0;
        // Placeholders numbered by the filters present, so no untyped NULL parameter reaches PostgreSQL.
        if owner.is_some() {
            n += 1;
            sql.push_str(&format!(" AND user_id = ${n}"));
        }
        if category.is_some() {
            n += 1;
            sql.push_str(&format!(" AND category = ${n}"));
        }
        sql.push_str(" ORDER BY created_at, id");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(owner) = owner {
            query = query.bind(owner.to_string());
        }
        if let Some(category) = category {
            query = query.bind(category.to_string());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(template).collect()
    }

    /// Writes every field of a stored template but its id, owner and creation time; false when there
    /// is no such template.
    pub async fn update_template(&self, t: &Template) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE templates SET name = $1, description = $2, category = $3, system_prompt = $4, \
             welcome_message = $5, fallback_message = $6, llm_provider = $7, llm_model = $8, \
             llm_config = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(t.name.clone())
        .bind(t.description.clone())
        .bind(t.category.clone())
        .bind(t.system_prompt.clone())
        .bind(t.welcome_message.clone())
        .bind(t.fallback_message.clone())
        .bind(provider(t))
        .bind(t.llm_model.clone())
        .bind(config(t))
        .bind(t.updated_at)
        .bind(t.id.clone())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_template(&self, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM templates WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes every template of `user` (when the user is deleted).
    pub async fn delete_templates_of(&self, user: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM templates WHERE user_id = $1")
            .bind(user)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::{domain::templates::Template, writes::tests::TestDb};
    use shared::agent::AgentKind;

    fn template(id: &str, owner: &str, category: Option<&str>, at: i64) -> Template {
        Template {
            id: id.into(),
            owner: Some(owner.into()),
            name: format!("name of {id}"),
            description: String::new(),
            category: category.map(str::to_string),
            system_prompt: "Be {tone}. 'quotes' and {{braces}}".into(),
            welcome_message: Some("Hi ✓".into()),
            fallback_message: None,
            llm_provider: AgentKind::OpenAi,
            llm_model: None,
            llm_config: shared::agent::LlmConfig {
                temperature: Some(0.2),
                stop: Some(vec!["\n".into()]),
                ..Default::default()
            },
            created_at: at,
            updated_at: at,
        }
    }

    #[tokio::test]
    async fn templates_round_trip_filter_by_owner_and_category_and_go_with_their_user() {
        let db = TestDb::new().await;
        let store = &db.store;
        let a = template("tpl_a", "ann", Some("support"), 1);
        let b = template("tpl_b", "bob", None, 2);
        let c = template("tpl_c", "ann", None, 3);
        for t in [&a, &b, &c] {
            store.insert_template(t).await.unwrap();
        }
        assert_eq!(store.template("tpl_a").await.unwrap().as_ref(), Some(&a));
        assert_eq!(store.template("tpl_none").await.unwrap(), None);
        let ids = |ts: Vec<Template>| ts.into_iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.templates(None, None).await.unwrap()),
            ["tpl_a", "tpl_b", "tpl_c"]
        );
        assert_eq!(
            ids(store.templates(Some("ann"), None).await.unwrap()),
            ["tpl_a", "tpl_c"]
        );
        assert_eq!(
            ids(store.templates(Some("ann"), Some("support")).await.unwrap()),
            ["tpl_a"]
        );

        let mut changed = a.clone();
        changed.name = "renamed".into();
        changed.category = None;
        changed.llm_provider = AgentKind::Anthropic;
        changed.llm_model = Some("m".into());
        changed.updated_at = 9;
        assert!(store.update_template(&changed).await.unwrap());
        assert_eq!(store.template("tpl_a").await.unwrap(), Some(changed));

        assert!(store.delete_template("tpl_b").await.unwrap());
        assert!(!store.delete_template("tpl_b").await.unwrap());
        assert_eq!(store.delete_templates_of("ann").await.unwrap(), 2);
        assert!(store.templates(None, None).await.unwrap().is_empty());
    }
}
