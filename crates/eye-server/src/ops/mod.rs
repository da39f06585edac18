//! Operating The Eye: the Prometheus metrics and the alert rules.

pub mod alerts;
pub mod metrics;
