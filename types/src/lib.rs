//! careflow-types
