//! What each route asks of its caller: one table, read by the auth middleware. A route missing from it
//! is admin-only (and a unit test fails, so none is forgotten).

use axum::http::Method;

use super::principal::{Principal, Role, Scope};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any caller holding the scope; what the route shows is filtered to what the caller may see.
    Scoped(Scope),
    /// A route about one instance (`{id}`): the caller must see it (else 404, as if it did not exist)
    /// and hold the scope; anything but `read` also needs the right to change it (owner or admin).
    Instance(Scope),
    /// Hosts and resources: operators and admins with the scope.
    Operator(Scope),
    /// Admins with the `admin` scope.
    Admin,
    /// Any valid credential, bound keys included (who am I, my keys, log out).
    Authenticated,
}

/// Whether a caller of this kind may reach a route that needs `need` (instance visibility is checked
/// apart, against the instance's owner). `Err` carries why not, for the 403.
pub fn allows(principal: &Principal, need: Need) -> Result<(), String> {
    let scope_check = |scope: Scope| {
        if principal.has(scope) {
            Ok(())
        } else {
            Err(format!("this key lacks the `{scope}` scope"))
        }
    };
    match need {
        Need::Authenticated => Ok(()),
        Need::Instance(scope) => scope_check(scope),
        _ if principal.instance_id.is_some() => {
            Err("this key is bound to one instance and works only on its routes".into())
        }
        Need::Scoped(scope) => scope_check(scope),
        Need::Operator(scope) => match principal.role {
            Role::Admin | Role::Operator => scope_check(scope),
            Role::User => Err("only operators and admins may do this".into()),
        },
        Need::Admin => match principal.role {
            Role::Admin => scope_check(Scope::Admin),
            _ => Err("only admins may do this".into()),
        },
    }
}

/// The need of `method` on the route pattern `route` (as axum matched it).
pub fn need(method: &Method, route: &str) -> Need {
    use Need::*;
    use Scope::*;
    let get = *method == Method::GET;
    let rest = route.strip_prefix("/api/v1").unwrap_or(route);
    if let Some(tail) = rest.strip_prefix("/instances/{id}") {
        return Instance(match (method.as_str(), tail) {
            ("GET", _) => Read,
            ("POST", "/test" | "/send") => Send,
            ("PATCH", "") | ("PUT" | "DELETE", "/webhook/config") => Settings,
            ("POST", "/api-key/rotate") => Settings,
            ("POST", t) if t.starts_with("/settings/rollback/") => Settings,
            ("POST" | "PUT" | "DELETE", t) if t.starts_with("/schedules") => Settings,
            _ => Control,
        });
    }
    match rest {
        "/"
        | "/instances"
        | "/events"
        | "/events/stream"
        | "/alerts"
        | "/providers"
        | "/metrics"
        | "/templates"
        | "/templates/{id}"
        | "/resources/instances"
            if get =>
        {
            Scoped(Read)
        }
        // Setup from a template is a create.
        "/instances" | "/instances/setup" => Scoped(Control),
        // The handlers let users change their own templates and admins every one (built-ins: none).
        "/templates" | "/templates/{id}" => Scoped(Settings),
        // The MCP endpoint: any valid credential; each tool call is a REST call, checked as one.
        "/mcp" => Authenticated,
        "/auth/logout" | "/users/me" | "/api-keys/me" | "/api-keys" | "/api-keys/{id}" => {
            Authenticated
        }
        "/instances/memory/stats" | "/alerts/thresholds" | "/health/history" if get => {
            Operator(Read)
        }
        "/alerts/{id}/resolve" => Operator(Control),
        r if r.starts_with("/hosts") => {
            if get {
                Operator(Read)
            } else {
                Operator(Control)
            }
        }
        r if r.starts_with("/resources") && get => Operator(Read),
        _ => Need::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_get_the_need_their_verb_says() {
        let m = |s: &str| Method::from_bytes(s.as_bytes()).unwrap();
        assert_eq!(
            need(&m("GET"), "/api/v1/instances/{id}/logs"),
            Need::Instance(Scope::Read)
        );
        assert_eq!(
            need(&m("POST"), "/api/v1/instances/{id}/stop"),
            Need::Instance(Scope::Control)
        );
        assert_eq!(
            need(&m("PATCH"), "/api/v1/instances/{id}"),
            Need::Instance(Scope::Settings)
        );
        assert_eq!(
            need(&m("POST"), "/api/v1/instances/{id}/test"),
            Need::Instance(Scope::Send)
        );
        assert_eq!(
            need(
                &m("POST"),
                "/api/v1/instances/{id}/settings/rollback/{history_id}"
            ),
            Need::Instance(Scope::Settings)
        );
        assert_eq!(
            need(&m("POST"), "/api/v1/instances/{id}/pause"),
            Need::Instance(Scope::Control)
        );
        assert_eq!(
            need(&m("POST"), "/api/v1/instances"),
            Need::Scoped(Scope::Control)
        );
        assert_eq!(
            need(&m("POST"), "/api/v1/instances/setup"),
            Need::Scoped(Scope::Control)
        );
        assert_eq!(
            need(&m("GET"), "/api/v1/templates/{id}"),
            Need::Scoped(Scope::Read)
        );
        for (method, route) in [
            ("POST", "/api/v1/templates"),
            ("PATCH", "/api/v1/templates/{id}"),
            ("DELETE", "/api/v1/templates/{id}"),
        ] {
            assert_eq!(need(&m(method), route), Need::Scoped(Scope::Settings));
        }
        assert_eq!(
            need(&m("POST"), "/api/v1/instances/{id}/schedules"),
            Need::Instance(Scope::Settings)
        );
        assert_eq!(
            need(&m("PUT"), "/api/v1/instances/{id}/schedules/{schedule_id}"),
            Need::Instance(Scope::Settings)
        );
        assert_eq!(
            need(
                &m("DELETE"),
                "/api/v1/instances/{id}/schedules/{schedule_id}"
            ),
            Need::Instance(Scope::Settings)
        );
        assert_eq!(
            need(
                &m("GET"),
                "/api/v1/instances/{id}/schedules/{schedule_id}/runs"
            ),
            Need::Instance(Scope::Read)
        );
        assert_eq!(need(&m("GET"), "/api/v1/users"), Need::Admin);
        assert_eq!(
            need(&m("POST"), "/api/v1/resources/stress-test"),
            Need::Admin
        );
        assert_eq!(
            need(&m("PATCH"), "/api/v1/hosts/{id}"),
            Need::Operator(Scope::Control)
        );
        assert_eq!(need(&m("GET"), "/api/v1/somewhere-new"), Need::Admin);
    }

    #[test]
    fn users_never_reach_hosts_and_bound_keys_stay_on_their_instance() {
        let mut p = Principal::bootstrap();
        p.role = Role::User;
        p.scopes = Principal::role_scopes(Role::User);
        p.user_id = Some("ann".into());
        assert!(allows(&p, Need::Operator(Scope::Read)).is_err());
        assert!(allows(&p, Need::Scoped(Scope::Read)).is_ok());
        assert!(allows(&p, Need::Admin).is_err());
        p.instance_id = Some("i1".into());
        assert!(allows(&p, Need::Scoped(Scope::Read)).is_err());
        assert!(allows(&p, Need::Instance(Scope::Read)).is_ok());
        assert!(allows(&p, Need::Authenticated).is_ok());
        p.scopes = [Scope::Read].into();
        assert!(allows(&p, Need::Instance(Scope::Control)).is_err());
    }
}
