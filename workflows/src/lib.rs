//! careflow-workflows
