//! `GET /api/v1/alerts`, `POST /api/v1/alerts/{id}/resolve` and `GET/POST /api/v1/alerts/thresholds`:
//! thresholds on host and instance metrics, and the alerts they raise (one per target while the condition
//! holds; resolved by itself when the value recovers, or by hand).

use garde::Validate;
use serde::{Deserialize, Serialize};

/// What a threshold watches: the host, or instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ThresholdScope {
    Host,
    Instance,
}

/// A metric a threshold can watch. The host has `cpu`, `memory` and `disk` (percent); an instance has
/// `cpu` (percent of one CPU), `memory` (percent of its limit), `restarts` (count) and `health` (1 when
/// its last health check answered, else 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    Cpu,
    Memory,
    Disk,
    Restarts,
    Health,
}

/// How the observed value is compared with `threshold_value`; the alert fires while this holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
}

/// Whether an alert still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Active,
    Resolved,
}

impl ThresholdScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Instance => "instance",
        }
    }

    /// The metrics a threshold of this scope can watch.
    pub fn metrics(self) -> &'static [MetricType] {
        use MetricType::*;
        match self {
            Self::Host => &[Cpu, Memory, Disk],
            Self::Instance => &[Cpu, Memory, Restarts, Health],
        }
    }
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Disk => "disk",
            Self::Restarts => "restarts",
            Self::Health => "health",
        }
    }
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
        }
    }
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Resolved => "resolved",
        }
    }
}

/// `?status=&limit=` of `GET /api/v1/alerts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AlertListQuery {
    /// Only alerts in this state.
    #[garde(skip)]
    pub status: Option<AlertStatus>,
    /// At most this many: 1 to 1000, default 100.
    #[garde(inner(range(min = 1, max = 1000)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
}

impl AlertListQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(100)
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertView {
    pub id: String,
    /// The threshold that raised it.
    pub threshold_id: String,
    /// `host`, or the id of the instance.
    pub target: String,
    pub metric_type: MetricType,
    /// The value observed when it fired.
    pub value: f64,
    pub threshold_value: f64,
    pub status: AlertStatus,
    pub message: String,
    /// RFC 3339.
    pub fired_at: String,
    /// RFC 3339; `null` while active.
    pub resolved_at: Option<String>,
}

/// `GET /api/v1/alerts`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertList {
    pub success: bool,
    pub count: u64,
    pub alerts: Vec<AlertView>,
}

/// `POST /api/v1/alerts/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResolvedAlert {
    pub success: bool,
    pub alert: AlertView,
}

/// One threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThresholdView {
    pub id: String,
    pub scope: ThresholdScope,
    /// With scope `instance`: the one instance watched; `null` watches every instance.
    pub instance_id: Option<String>,
    pub metric_type: MetricType,
    pub comparison: Comparison,
    pub threshold_value: f64,
    pub enabled: bool,
    /// Where `alert.fired` and `alert.resolved` are posted.
    pub webhook_url: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// `GET /api/v1/alerts/thresholds`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThresholdList {
    pub success: bool,
    pub count: u64,
    pub thresholds: Vec<ThresholdView>,
}

/// `POST /api/v1/alerts/thresholds` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedThreshold {
    pub success: bool,
    pub threshold: ThresholdView,
}

/// `DELETE /api/v1/alerts/thresholds/{id}` answer: the threshold is gone, and the alerts it had raised
/// that were still active are resolved (nothing would resolve them any more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletedThreshold {
    pub success: bool,
    pub id: String,
    /// Active alerts of the threshold resolved with it.
    pub resolved_alerts: u64,
}

/// `POST /api/v1/alerts/thresholds`. `metric_type` must be one its scope has (see `MetricType`); a
/// `host` threshold has no `instance_id`, and an `instance_id` must name an instance (404 otherwise).
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateThresholdRequest {
    /// Default: `instance` when `instance_id` is given, else `host`.
    #[serde(default)]
    #[garde(skip)]
    pub scope: Option<ThresholdScope>,
    /// Watch only this instance (scope `instance`); absent: every instance.
    #[serde(default)]
    #[garde(skip)]
    pub instance_id: Option<String>,
    #[garde(skip)]
    pub metric_type: MetricType,
    /// Default `gt`.
    #[serde(default)]
    #[garde(skip)]
    pub comparison: Option<Comparison>,
    #[garde(skip)]
    pub threshold_value: f64,
    /// An http(s) URL to post `alert.fired` and `alert.resolved` to.
    #[serde(default)]
    #[garde(inner(length(max = 2048), url, custom(http_url)))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2048, pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]*$")
    )]
    pub webhook_url: Option<String>,
    /// Default `true`.
    #[serde(default)]
    #[garde(skip)]
    pub enabled: Option<bool>,
}

impl CreateThresholdRequest {
    pub fn scope(&self) -> ThresholdScope {
        self.scope.unwrap_or(if self.instance_id.is_some() {
            ThresholdScope::Instance
        } else {
            ThresholdScope::Host
        })
    }

    /// The checks that involve two fields: `(field, message)` of the first that fails.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let scope = self.scope();
        if !scope.metrics().contains(&self.metric_type) {
            let names: Vec<&str> = scope.metrics().iter().map(|m| m.as_str()).collect();
            return Err((
                "metric_type",
                format!(
                    "metric_type must be one of {} for scope {}",
                    names.join(", "),
                    scope.as_str()
                ),
            ));
        }
        if scope == ThresholdScope::Host && self.instance_id.is_some() {
            return Err((
                "instance_id",
                "a host threshold has no instance_id".to_string(),
            ));
        }
        Ok(())
    }
}

/// An http(s) URL (the `url` rule checks it parses) with no blanks or control characters, which URL
/// parsers would silently drop.
fn http_url(value: &str, _: &()) -> garde::Result {
    let clean = !value.chars().any(|c| c.is_whitespace() || c.is_control());
    let scheme = value.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if clean && matches!(scheme.as_deref(), Some("http" | "https")) {
        Ok(())
    } else {
        Err(garde::Error::new("must be an http(s) URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> Result<CreateThresholdRequest, String> {
        let r: CreateThresholdRequest = serde_json::from_str(body).map_err(|e| e.to_string())?;
        r.validate().map_err(|e| e.to_string())?;
        r.check().map_err(|(field, _)| field.to_string())?;
        Ok(r)
    }

    #[test]
    fn a_threshold_request_is_checked_field_by_field() {
        let r = request(r#"{"metric_type":"cpu","threshold_value":90}"#).unwrap();
        assert_eq!(r.scope(), ThresholdScope::Host);
        assert_eq!(r.comparison, None);
        let r =
            request(r#"{"instance_id":"x","metric_type":"health","threshold_value":1}"#).unwrap();
        assert_eq!(r.scope(), ThresholdScope::Instance);
        assert!(request(r#"{"metric_type":"latency","threshold_value":1}"#).is_err());
        assert!(request(r#"{"metric_type":"cpu","threshold_value":"high"}"#).is_err());
        assert!(request(r#"{"metric_type":"cpu","threshold_value":1,"comparison":"eq"}"#).is_err());
        assert_eq!(
            request(r#"{"metric_type":"restarts","threshold_value":1}"#).unwrap_err(),
            "metric_type"
        );
        assert_eq!(
            request(
                r#"{"scope":"host","instance_id":"x","metric_type":"cpu","threshold_value":1}"#
            )
            .unwrap_err(),
            "instance_id"
        );
        assert!(request(r#"{"metric_type":"cpu","threshold_value":1,"typo":1}"#).is_err());
    }

    #[test]
    fn webhook_urls_are_http_or_https() {
        let ok = |url: &str| {
            CreateThresholdRequest {
                scope: None,
                instance_id: None,
                metric_type: MetricType::Cpu,
                comparison: None,
                threshold_value: 1.0,
                webhook_url: Some(url.into()),
                enabled: None,
            }
            .validate()
            .is_ok()
        };
        assert!(ok("http://127.0.0.1:9000/hook"));
        assert!(ok("HTTPS://example.com"));
        assert!(!ok("ftp://x"));
        assert!(!ok("http://"));
        assert!(!ok(" http://x"));
        assert!(!ok("ht\ttp://x"));
        assert!(!ok("example.com"));
    }
}
