//! The webhook configuration this worker knows. The manager keeps the real one (and the secret) and
//! delivers the events; a change made here travels to it in the event outbox, and the manager sends its
//! configuration back whenever the worker's differs (after a restart the worker knows none).

use std::sync::RwLock;

use shared::{
    events::EventType,
    webhook::{WebhookConfigRequest, WebhookConfigView, WebhookSetting},
};

use crate::state::now_ms;

#[derive(Default)]
pub struct WebhookState {
    current: RwLock<Option<WebhookConfigView>>,
}

impl WebhookState {
    pub fn view(&self) -> WebhookConfigView {
        self.read().clone().unwrap_or_else(WebhookConfigView::none)
    }

    /// When the configuration this worker shows was set; `None` when it shows none (also after the
    /// manager removed it), which is what the manager compares with its own.
    pub fn updated_at(&self) -> Option<i64> {
        self.read()
            .as_ref()
            .filter(|v| v.configured)
            .and_then(|v| v.updated_at)
    }

    /// A user's change, already validated: returns what to show (with a generated secret, once) and the
    /// setting to send to the manager.
    pub fn set_by_user(
        &self,
        request: &WebhookConfigRequest,
        events: Vec<EventType>,
    ) -> (WebhookConfigView, WebhookSetting) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let had_secret = current.as_ref().is_some_and(|v| v.has_secret);
        let generated =
            (request.secret.is_none() && !had_secret).then(shared::secret::webhook_secret);
        // Strictly newer than what we hold, so the manager's last-writer-wins never drops this change.
        let updated_at = now_ms().max(current.as_ref().and_then(|v| v.updated_at).unwrap_or(0) + 1);
        let view = WebhookConfigView {
            configured: true,
            url: Some(shared::secret::redact_url(request.url.trim())),
            events: events.clone(),
            enabled: request.enabled,
            has_secret: true,
            updated_at: Some(updated_at),
            secret: None,
        };
        *current = Some(view.clone());
        let setting = WebhookSetting {
            url: request.url.trim().to_string(),
            events,
            secret: request.secret.clone().or_else(|| generated.clone()),
            enabled: request.enabled,
            updated_at,
        };
        (
            WebhookConfigView {
                secret: generated,
                ..view
            },
            setting,
        )
    }

    /// The manager's configuration; an older one than ours is ignored (ours is on its way to it).
    pub fn set_by_manager(&self, view: WebhookConfigView) -> bool {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let ours = current.as_ref().and_then(|v| v.updated_at);
        if ours.is_some() && view.updated_at < ours {
            return false;
        }
        *current = Some(WebhookConfigView {
            secret: None,
            ..view
        });
        true
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<WebhookConfigView>> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// `whsec_` and 244 random bits (two v4 UUIDs, from the OS generator).
pub fn generate_secret() -> String {
    format!(
        "whsec_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(secret: Option<&str>) -> WebhookConfigRequest {
        WebhookConfigRequest {
            url: "http://example.com/hook".into(),
            events: vec![],
            secret: secret.map(str::to_string),
            enabled: true,
        }
    }

    #[test]
    fn a_secret_is_generated_once_and_then_kept() {
        let state = WebhookState::default();
        let (view, setting) = state.set_by_user(&request(None), vec![]);
        let secret = view.secret.expect("generated secret shown once");
        assert_eq!(setting.secret.as_deref(), Some(secret.as_str()));
        let (view, setting) = state.set_by_user(&request(None), vec![]);
        assert!(view.secret.is_none());
        assert!(setting.secret.is_none(), "kept, not regenerated");
        assert!(state.view().secret.is_none());
    }

    #[test]
    fn a_removed_configuration_reports_no_time() {
        let state = WebhookState::default();
        let (view, _) = state.set_by_user(&request(Some("0123456789abcdef")), vec![]);
        assert_eq!(state.updated_at(), view.updated_at);
        let mut removed = WebhookConfigView::none();
        removed.updated_at = view.updated_at.map(|t| t + 1);
        assert!(state.set_by_manager(removed));
        assert_eq!(
            state.updated_at(),
            None,
            "the manager, which has none, must not push again"
        );
        assert!(!state.view().configured);
    }

    #[test]
    fn an_older_configuration_from_the_manager_is_ignored() {
        let state = WebhookState::default();
        let (view, _) = state.set_by_user(&request(Some("0123456789abcdef")), vec![]);
        let mut older = view.clone();
        older.updated_at = view.updated_at.map(|t| t - 10);
        older.url = Some("http://old.example.com".into());
        assert!(!state.set_by_manager(older));
        assert_eq!(state.view().url, view.url);
        let mut newer = view.clone();
        newer.updated_at = view.updated_at.map(|t| t + 10);
        assert!(state.set_by_manager(newer));
    }
}
