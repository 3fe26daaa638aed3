//! `/api/v1/instances/{id}/chats`, `/groups`, `/contacts`, `/messages`: what the bot said and heard (being typed).
