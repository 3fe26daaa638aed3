//! `/api/v1/instances/{id}/webhook/*`: the webhook configuration and its deliveries (being typed).
