//! Logging in and signing: the bodies of `POST /api/login`, and what a signature
//! records. Passwords cross these types only on their way in; `Debug` never shows one.

use serde::{Deserialize, Serialize};

use crate::{FieldError, Role};

/// Body of `POST /api/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl LoginRequest {
    /// Checks the fields, each problem located.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.username.trim().is_empty() {
            errors.push(FieldError::new("username", "must not be empty"));
        }
        if self.password.is_empty() {
            errors.push(FieldError::new("password", "must not be empty"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `POST /api/login`: a bearer token for the API, valid until `expires_at` unless
/// revoked first (`POST /api/logout`, an admin, a password change).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Bearer token (the server keeps only its SHA-256).
    pub token: String,
    /// Who logged in.
    pub user: String,
    /// Their role.
    pub role: Role,
    /// When the token stops working (RFC 3339, UTC).
    pub expires_at: String,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"<hidden>")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `POST /api/logout`: the caller's token is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedOut {
    /// Whose token.
    pub user: String,
}

/// What a signer declares by signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMeaning {
    /// I approve what I signed.
    Approved,
    /// I reject what I signed.
    Rejected,
    /// I reviewed what I signed.
    Reviewed,
    /// I take responsibility for what I signed.
    Responsible,
}

impl SignatureMeaning {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMeaning::Approved => "approved",
            SignatureMeaning::Rejected => "rejected",
            SignatureMeaning::Reviewed => "reviewed",
            SignatureMeaning::Responsible => "responsible",
        }
    }
}

impl std::str::FromStr for SignatureMeaning {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SignatureMeaning::Approved,
            SignatureMeaning::Rejected,
            SignatureMeaning::Reviewed,
            SignatureMeaning::Responsible,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| format!("unknown signature meaning '{s}'"))
    }
}

impl std::fmt::Display for SignatureMeaning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An electronic signature: who signed (user and printed name, in which role), when
/// (UTC), meaning what, and the SHA-256 of what they signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Id, quoted by the decision it signs.
    pub signature_id: String,
    /// User name of the signer.
    pub signer: String,
    /// The signer's name as printed on the record.
    pub printed_name: String,
    /// The signer's role when signing.
    pub signer_role: String,
    /// When (RFC 3339, UTC).
    pub signed_at: String,
    /// What signing means.
    pub meaning: SignatureMeaning,
    /// What was signed (`task/ID`).
    pub subject: String,
    /// SHA-256 of the signed content.
    pub signed_sha256: String,
    /// When the decision it signs was recorded (a signature signs once).
    pub used_at: Option<String>,
}
