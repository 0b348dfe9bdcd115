//! careflow-activities
