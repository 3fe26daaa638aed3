//! `messages` and `chats`: what the bots said and heard, collected from the workers. Storing is
//! idempotent by event id, and a chat's count moves only when a message was really new.

use serde::Serialize;
use shared::worker_api::{WorkerEvent, WorkerEventKind};
use sqlx::Row;

use super::Store;

/// `direction` of a reply the bot could not send (kept in its conversation; not a message of the chat).
pub const UNSENT: &str = "unsent";

#[derive(Debug, Clone, Serialize)]
pub struct ChatRow {
    pub chat_id: String,
    pub name: Option<String>,
    pub chat_type: Option<String>,
    pub message_count: i64,
    pub last_message: Option<String>,
    pub last_message_at: i64,
}

/// Someone who wrote to the bot.
#[derive(Debug, Clone, Serialize)]
pub struct ContactRow {
    pub user_id: String,
    pub name: Option<String>,
    pub message_count: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: String,
    pub chat_id: String,
    pub direction: String,
    pub message_id: Option<String>,
    pub from_id: Option<String>,
    pub from_name: Option<String>,
    pub text: Option<String>,
    pub at: i64,
}

impl Store {
    /// Stores a worker's events: messages (each in its conversation, a new one starting after
    /// `conversation_ttl_ms` of silence in its chat), bot status and errors (into the event log; a reply
    /// that could not be sent also into its conversation), webhook settings. Returns how many messages
    /// were new, and the bot events that were new (for live subscribers).
    pub async fn store_events(
        &self,
        instance_id: &str,
        events: &[WorkerEvent],
        conversation_ttl_ms: i64,
    ) -> Result<(usize, Vec<super::events::Event>), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let mut new = 0;
        let mut logged = Vec::new();
        let mut tally = super::analytics::Tally::default();
        for e in events {
            let direction = match e.kind {
                WorkerEventKind::MessageIn => "in",
                WorkerEventKind::MessageOut => "out",
                WorkerEventKind::BotStatus | WorkerEventKind::BotError => {
                    let event = super::events::Event {
                        id: e.id.clone(),
                        at: e.at,
                        event_type: e.kind.to_string(),
                        instance_id: Some(instance_id.to_string()),
                        message: e.text.clone().unwrap_or_default(),
                    };
                    if super::events::insert_once(&mut tx, &event).await? {
                        logged.push(event);
                    }
                    // A reply the bot could not send belongs to its conversation.
                    if e.exchange.is_none() || e.chat_id.is_none() {
                        continue;
                    }
                    UNSENT
                }
                WorkerEventKind::WebhookConfig => {
                    if let Some(setting) = &e.webhook {
                        super::webhooks::put(&mut tx, self.sealer(), instance_id, setting, || {
                            shared::secret::webhook_secret()
                        })
                        .await?;
                    }
                    continue;
                }
            };
            let unsent = direction == UNSENT;
            let exchange = e.exchange.as_ref();
            let text = if unsent {
                exchange.and_then(|x| x.unsent_reply.clone())
            } else {
                e.text.clone()
            };
            let tokens = |t: Option<u64>| t.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
            let inserted = sqlx::query(
                "INSERT INTO messages (id, instance_id, chat_id, direction, message_id, from_id, from_name, text, at, \
                 role, tokens_in, tokens_out, latency_ms, outcome, error, reply_to) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CAST($13 AS DOUBLE PRECISION), $14, $15, $16) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(e.id.clone())
            .bind(instance_id.to_string())
            .bind(e.chat_id.clone().unwrap_or_default())
            .bind(direction)
            .bind(e.message_id.clone())
            .bind(e.from_id.clone())
            .bind(e.from_name.clone())
            .bind(text.clone())
            .bind(e.at)
            .bind(if direction == "in" { "user" } else { "assistant" })
            .bind(tokens(exchange.and_then(|x| x.tokens_in)))
            .bind(tokens(exchange.and_then(|x| x.tokens_out)))
            // As text, cast in SQL: sqlx's `Any` driver sends a NULL `f64` to PostgreSQL in a binary form
            // it refuses ("incorrect binary data format").
            .bind(exchange.and_then(|x| x.latency_ms).map(|ms| ms.to_string()))
            .bind(exchange.map(|x| x.outcome.as_str()))
            .bind(exchange.and_then(|x| x.error.clone()))
            .bind(exchange.and_then(|x| x.question_id.clone()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                continue;
            }
            tally.add(&super::analytics::Counted {
                direction,
                at: e.at,
                from_id: e.from_id.as_deref(),
                latency_ms: exchange.and_then(|x| x.latency_ms),
                tokens_in: tokens(exchange.and_then(|x| x.tokens_in)),
                tokens_out: tokens(exchange.and_then(|x| x.tokens_out)),
                outcome: exchange.map(|x| x.outcome),
            });
            let chat_id = e.chat_id.clone().unwrap_or_default();
            if !unsent {
                new += 1;
                let data = serde_json::json!({
                    "chat_id": e.chat_id,
                    "chat_name": e.chat_name,
                    "chat_type": e.chat_type,
                    "from_id": e.from_id,
                    "from_name": e.from_name,
                    "message_id": e.message_id,
                    "text": e.text,
                });
                super::webhooks::enqueue(&mut tx, instance_id, &e.id, e.kind.as_str(), e.at, data)
                    .await?;
                // Also what makes concurrent writers of one chat wait for each other (PostgreSQL locks
                // the row) before they pick its conversation.
                sqlx::query(
                    "INSERT INTO chats (instance_id, chat_id, name, chat_type, message_count, last_message, last_message_at) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6) ON CONFLICT (instance_id, chat_id) DO UPDATE SET \
                     message_count = chats.message_count + 1, last_message = excluded.last_message, \
                     last_message_at = excluded.last_message_at, name = COALESCE(excluded.name, chats.name)",
                )
                .bind(instance_id.to_string())
                .bind(chat_id.clone())
                .bind(e.chat_name.clone())
                .bind(e.chat_type.map(|k| k.as_str().to_string()))
                .bind(e.text.clone())
                .bind(e.at)
                .execute(&mut *tx)
                .await?;
            }
            let conversation = super::conversations::join(
                &mut tx,
                &super::conversations::Said {
                    instance_id,
                    chat_id: &chat_id,
                    user_id: (direction == "in")
                        .then_some(e.from_id.as_deref())
                        .flatten(),
                    at: e.at,
                    tokens_in: tokens(exchange.and_then(|x| x.tokens_in)).unwrap_or(0),
                    tokens_out: tokens(exchange.and_then(|x| x.tokens_out)).unwrap_or(0),
                },
                conversation_ttl_ms,
            )
            .await?;
            sqlx::query("UPDATE messages SET conversation_id = $1 WHERE id = $2")
                .bind(conversation)
                .bind(e.id.clone())
                .execute(&mut *tx)
                .await?;
        }
        tally.write(&mut tx, instance_id).await?;
        tx.commit().await?;
        Ok((new, logged))
    }

    /// Chats, most recent first.
    pub async fn chats(
        &self,
        instance_id: &str,
        groups_only: bool,
    ) -> Result<Vec<ChatRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT chat_id, name, chat_type, message_count, last_message, last_message_at FROM chats \
             WHERE instance_id = $1 AND ($2 = 0 OR chat_type IN ('group', 'supergroup')) \
             ORDER BY last_message_at DESC, chat_id",
        )
        .bind(instance_id)
        .bind(i64::from(groups_only))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChatRow {
                    chat_id: r.try_get("chat_id")?,
                    name: r.try_get("name")?,
                    chat_type: r.try_get("chat_type")?,
                    message_count: r.try_get("message_count")?,
                    last_message: r.try_get("last_message")?,
                    last_message_at: r.try_get("last_message_at")?,
                })
            })
            .collect()
    }

    /// The people who wrote to the bot, most recently heard first.
    pub async fn contacts(&self, instance_id: &str) -> Result<Vec<ContactRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT from_id, MAX(from_name) AS name, COUNT(*) AS message_count, MAX(at) AS last_seen_at \
             FROM messages WHERE instance_id = $1 AND direction = 'in' AND from_id IS NOT NULL \
             GROUP BY from_id ORDER BY last_seen_at DESC, from_id",
        )
        .bind(instance_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ContactRow {
                    user_id: r.try_get("from_id")?,
                    name: r.try_get("name")?,
                    message_count: r.try_get("message_count")?,
                    last_seen_at: r.try_get("last_seen_at")?,
                })
            })
            .collect()
    }

    /// A chat's messages, newest first.
    pub async fn messages(
        &self,
        instance_id: &str,
        chat_id: &str,
        limit: i64,
    ) -> Result<Vec<MessageRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, chat_id, direction, message_id, from_id, from_name, text, at FROM messages \
             WHERE instance_id = $1 AND chat_id = $2 AND direction IN ('in', 'out') \
             ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(instance_id)
        .bind(chat_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MessageRow {
                    id: r.try_get("id")?,
                    chat_id: r.try_get("chat_id")?,
                    direction: r.try_get("direction")?,
                    message_id: r.try_get("message_id")?,
                    from_id: r.try_get("from_id")?,
                    from_name: r.try_get("from_name")?,
                    text: r.try_get("text")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn event(id: &str, seq: u64) -> WorkerEvent {
        WorkerEvent {
            id: id.into(),
            seq,
            kind: WorkerEventKind::MessageIn,
            chat_id: Some("7".into()),
            chat_name: Some("Ann".into()),
            chat_type: Some(shared::worker_api::ChatKind::Private),
            from_id: Some("7".into()),
            from_name: Some("Ann".into()),
            message_id: Some(seq.to_string()),
            text: Some(format!("m{seq}")),
            at: seq as i64,
            webhook: None,
            exchange: None,
        }
    }

    #[tokio::test]
    async fn an_event_stored_twice_counts_once() {
        let dir = std::env::temp_dir().join(format!("botfleet-store-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/t.db", dir.display());
        let store = Store::new(
            crate::db::connect(&url).await.unwrap(),
            std::sync::Arc::new(crate::seal::Sealer::ephemeral()),
        );
        let batch = [event("a", 1), event("b", 2)];
        assert_eq!(store.store_events("i", &batch, DAY).await.unwrap().0, 2);
        // The manager crashed before acknowledging: the same events come again, with one more.
        let again = [event("a", 1), event("b", 2), event("c", 3)];
        assert_eq!(store.store_events("i", &again, DAY).await.unwrap().0, 1);
        let chats = store.chats("i", false).await.unwrap();
        assert_eq!(chats.len(), 1);
        assert_eq!(chats[0].message_count, 3);
        assert_eq!(chats[0].last_message.as_deref(), Some("m3"));
        let newest: Vec<String> = store
            .messages("i", "7", 2)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(newest, ["c", "b"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
