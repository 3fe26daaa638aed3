//! Which user verbs make sense in which state. A verb that does not answers 409 naming the state.

use super::InstanceStatus;
use crate::error::ApiError;

/// What a user can ask of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Restart,
    Process,
    Update,
    RotateKey,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Process => "process",
            Self::Update => "update",
            Self::RotateKey => "rotate the API key of",
        }
    }

    /// Whether the verb is allowed in `status`.
    pub fn allowed_in(self, status: InstanceStatus) -> bool {
        use InstanceStatus::*;
        match self {
            Verb::Start => matches!(status, Stopped | Failed),
            Verb::Stop => matches!(status, Starting | Running | Degraded | Restarting | Failed),
            Verb::Restart => matches!(
                status,
                Starting | Running | Degraded | Restarting | Stopped | Failed
            ),
            Verb::Process | Verb::RotateKey => {
                matches!(
                    status,
                    Starting | Running | Degraded | Restarting | Stopped | Failed
                )
            }
            Verb::Update => !matches!(status, Deleting),
        }
    }

    /// `Ok` when allowed, else the 409 to answer.
    pub fn check(self, id: &str, status: InstanceStatus) -> Result<(), ApiError> {
        if self.allowed_in(status) {
            Ok(())
        } else {
            Err(ApiError::Conflict(format!(
                "cannot {} instance {id}: it is {}",
                self.as_str(),
                status.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstanceStatus::*;

    #[test]
    fn verbs_follow_the_lifecycle() {
        assert!(Verb::Start.allowed_in(Stopped));
        assert!(!Verb::Start.allowed_in(Running));
        assert!(Verb::Stop.allowed_in(Running));
        assert!(!Verb::Stop.allowed_in(Stopped));
        assert!(!Verb::Restart.allowed_in(Deleting));
        assert!(!Verb::Restart.allowed_in(Creating));
        assert!(Verb::Restart.allowed_in(Failed));
        assert!(!Verb::Update.allowed_in(Deleting));
    }

    #[test]
    fn a_refusal_names_the_state() {
        let err = Verb::Start.check("i1", Running).unwrap_err().to_string();
        assert!(err.contains("running"), "{err}");
        assert!(err.contains("start"), "{err}");
    }
}
