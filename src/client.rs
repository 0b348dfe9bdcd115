//! The CLI's side of the HTTP API: finds the running server and the user's token.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Global;

/// Who is calling.
#[derive(Args, Clone, Debug)]
pub struct AuthArgs {
    /// Act as this user, with the token saved in DATA_DIR/tokens/USER.
    #[arg(long = "as")]
    pub as_user: Option<String>,
    /// Bearer token (instead of --as).
    #[arg(long, env = "CAREFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// API base URL (default: the one the running `careflow serve` wrote to DATA_DIR).
    #[arg(long, env = "CAREFLOW_API")]
    pub api: Option<String>,
}

/// Saves a user's token where `--as NAME` finds it, readable by the owner only.
pub fn save_token(data_dir: &Path, name: &str, token: &str) -> Result<PathBuf> {
    let dir = data_dir.join("tokens");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, token)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(path)
}

/// File in which `serve` records where its API listens.
pub fn api_file(data_dir: &Path) -> PathBuf {
    data_dir.join("api-url")
}

/// A small JSON client for the API.
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// Resolves the server and token from the options.
    pub fn new(g: &Global, auth: &AuthArgs) -> Result<Self> {
        let base = match &auth.api {
            Some(a) => a.clone(),
            None => std::fs::read_to_string(api_file(&g.data_dir))
                .with_context(|| {
                    format!(
                        "no running careflow server found for data directory {} (start `careflow serve`, or pass --api URL)",
                        g.data_dir.display()
                    )
                })?
                .trim()
                .to_owned(),
        };
        let token = match (&auth.token, &auth.as_user) {
            (Some(t), _) => t.clone(),
            (None, Some(user)) => {
                let path = g.data_dir.join("tokens").join(user);
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!("no saved token for user '{user}' at {}", path.display())
                    })?
                    .trim()
                    .to_owned()
            }
            (None, None) => {
                bail!("say who you are: --as USER or --token TOKEN (or CAREFLOW_TOKEN)")
            }
        };
        Ok(Self::with(base, token))
    }

    /// A client for `base` with `token`.
    pub fn with(base: String, token: String) -> Self {
        Self {
            base,
            token,
            http: reqwest::Client::new(),
        }
    }

    /// GET a JSON resource.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("calling {}{path}", self.base))?;
        Self::read(resp).await
    }

    /// POST JSON, read JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.post_with_key(path, body, None).await
    }

    /// POST JSON with an `Idempotency-Key`, so a retry after a lost answer acts once.
    pub async fn post_with_key<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("calling {}{path}", self.base))?;
        Self::read(resp).await
    }

    async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.context("reading the API's answer")?;
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("unknown error");
            bail!("{status}: {msg}");
        }
        Ok(serde_json::from_value(body)?)
    }
}
