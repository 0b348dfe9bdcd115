//! careflow-forecasters (placeholder, being written)
