//! careflow-dashboards
