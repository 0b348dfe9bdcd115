//! `careflow temporal decode`: an authorised operator reads a workflow's history with
//! its payloads opened. Temporal's database and Web UI hold the payloads sealed
//! ([`crate::codec`]); this command fetches the history with the `temporal` CLI (as
//! JSON, against `--temporal` or the embedded server, with the same namespace, TLS
//! and API-key options as `serve` and `worker`) and opens each payload with the site's
//! payload key, which it refuses to run without.

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use clap::Subcommand;
use serde_json::Value;
use temporalio_common::protos::temporal::api::common::v1::Payload;

use crate::cli::{Global, TEMPORAL_API_KEY_ENV};
use crate::codec::PayloadCipher;
use crate::temporal::find_tool;

/// Temporal operations commands.
#[derive(Subcommand, Debug)]
pub enum TemporalCommand {
    /// Print a workflow's history (JSON) with every payload decrypted with the payload
    /// key (CAREFLOW_PAYLOAD_KEY or --payload-key-file, required).
    Decode {
        /// Workflow id (e.g. admission-...).
        workflow_id: String,
        /// Run id (default: the latest run).
        #[arg(long)]
        run_id: Option<String>,
    },
}

/// Runs one `careflow temporal` subcommand.
pub async fn run(g: &Global, cmd: TemporalCommand) -> Result<()> {
    match cmd {
        TemporalCommand::Decode {
            workflow_id,
            run_id,
        } => {
            let Some(cipher) = g.payload_cipher()? else {
                bail!(
                    "decoding needs the site's payload key: set {} or --payload-key-file",
                    crate::codec::KEY_ENV
                );
            };
            let history = fetch_history(g, &workflow_id, run_id.as_deref()).await?;
            let (decoded, opened) = decode_history(&cipher, history)?;
            println!("{}", serde_json::to_string_pretty(&decoded)?);
            eprintln!(
                "careflow: {opened} payloads of workflow {workflow_id} opened with key {}",
                cipher.key_id()
            );
            Ok(())
        }
    }
}

/// The workflow's history as the `temporal` CLI prints it in JSON.
async fn fetch_history(g: &Global, workflow_id: &str, run_id: Option<&str>) -> Result<Value> {
    let cluster = g.cluster_options()?;
    let address = g
        .temporal
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", g.temporal_port));
    let bin = find_tool("temporal", "CAREFLOW_TEMPORAL_BIN")?;
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(["workflow", "show", "--output", "json"])
        .arg("--no-json-shorthand-payloads")
        .args(["--workflow-id", workflow_id])
        .args(["--address", &address, "--namespace", &cluster.namespace])
        .stdin(std::process::Stdio::null());
    if let Some(r) = run_id {
        cmd.args(["--run-id", r]);
    }
    if g.temporal_tls || cluster.uses_tls() {
        cmd.arg("--tls");
    }
    for (flag, path) in [
        ("--tls-ca-path", &g.temporal_tls_ca),
        ("--tls-cert-path", &g.temporal_tls_cert),
        ("--tls-key-path", &g.temporal_tls_key),
    ] {
        if let Some(p) = path {
            cmd.arg(flag).arg(p);
        }
    }
    if let Some(name) = &g.temporal_tls_server_name {
        cmd.args(["--tls-server-name", name]);
    }
    if let Some(key) = &cluster.api_key {
        // Through the environment, not the command line `ps` shows.
        cmd.env("TEMPORAL_API_KEY", key);
    }
    cmd.env_remove(TEMPORAL_API_KEY_ENV);
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "reading the history of workflow {workflow_id} from Temporal at {address} failed: {}",
            err.trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!("the temporal CLI's history of {workflow_id} is not the JSON expected")
    })
}

/// Replaces every payload of `history` (any object with `metadata` and `data`) by
/// what it holds, opened with `cipher`; returns the history and how many payloads were
/// sealed. A payload sealed with another key, or altered, fails the whole decode,
/// naming the event.
pub fn decode_history(cipher: &PayloadCipher, mut history: Value) -> Result<(Value, usize)> {
    let mut opened = 0;
    let events = history
        .get_mut("events")
        .and_then(Value::as_array_mut)
        .context("the history has no events")?;
    for event in events {
        let id = event
            .get("eventId")
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_default();
        walk(cipher, event, &mut opened).with_context(|| format!("history event {id}"))?;
    }
    Ok((history, opened))
}

fn walk(cipher: &PayloadCipher, v: &mut Value, opened: &mut usize) -> Result<()> {
    if let Some(p) = as_payload(v)? {
        let sealed = p.metadata.get("encoding").map(Vec::as_slice) == Some(crate::codec::ENCODING);
        let clear = cipher.open(p).map_err(anyhow::Error::msg)?;
        if sealed {
            *opened += 1;
        }
        *v = readable(&clear);
        return Ok(());
    }
    match v {
        Value::Object(map) => map
            .values_mut()
            .try_for_each(|child| walk(cipher, child, opened)),
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|child| walk(cipher, child, opened)),
        _ => Ok(()),
    }
}

/// A payload as the CLI prints it: `{"metadata": {"encoding": base64, ...}, "data":
/// base64}`.
fn as_payload(v: &Value) -> Result<Option<Payload>> {
    let Some(obj) = v.as_object() else {
        return Ok(None);
    };
    let (Some(Value::Object(meta)), Some(data)) = (obj.get("metadata"), obj.get("data")) else {
        return Ok(None);
    };
    if !meta.contains_key("encoding") {
        return Ok(None);
    }
    let b64 = |x: &Value| -> Result<Vec<u8>> {
        let s = x.as_str().context("a payload field that is not a string")?;
        B64.decode(s).context("a payload field that is not base64")
    };
    let mut metadata = std::collections::HashMap::new();
    for (k, val) in meta {
        metadata.insert(k.clone(), b64(val)?);
    }
    Ok(Some(Payload {
        metadata,
        data: b64(data)?,
        ..Default::default()
    }))
}

/// An opened payload for a person: JSON payloads as JSON, others named by encoding.
fn readable(p: &Payload) -> Value {
    let encoding = p
        .metadata
        .get("encoding")
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .unwrap_or_default();
    let value = match encoding.as_str() {
        "json/plain" => serde_json::from_slice(&p.data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&p.data).into_owned())),
        "binary/null" => Value::Null,
        _ => Value::String(B64.encode(&p.data)),
    };
    serde_json::json!({ "encoding": encoding, "value": value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli_form(p: &Payload) -> Value {
        let meta: serde_json::Map<String, Value> = p
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(B64.encode(v))))
            .collect();
        serde_json::json!({ "metadata": meta, "data": B64.encode(&p.data) })
    }

    #[test]
    fn sealed_payloads_of_a_history_open_only_with_their_key() {
        let cipher = PayloadCipher::from_hex(&"ab".repeat(32), "test").unwrap();
        let clear = Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())]
                .into_iter()
                .collect(),
            data: br#"{"specialty":"cardiology"}"#.to_vec(),
            ..Default::default()
        };
        let sealed = cipher.seal(clear.clone()).unwrap();
        let history = serde_json::json!({"events": [
            {"eventId": "1", "workflowExecutionStartedEventAttributes": {"input": {"payloads": [cli_form(&sealed)]}}},
            {"eventId": "2", "markerRecordedEventAttributes": {"details": {"x": {"payloads": [cli_form(&clear)]}}}}
        ]});
        assert!(!history.to_string().contains("cardiology"));
        let (decoded, opened) = decode_history(&cipher, history.clone()).unwrap();
        assert_eq!(opened, 1);
        let text = decoded.to_string();
        assert_eq!(
            decoded["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
                ["value"]["specialty"],
            "cardiology",
            "{text}"
        );
        // The clear payload (written before encryption) reads as it was.
        assert_eq!(
            decoded["events"][1]["markerRecordedEventAttributes"]["details"]["x"]["payloads"][0]
                ["value"]["specialty"],
            "cardiology"
        );

        let other = PayloadCipher::from_hex(&"cd".repeat(32), "test").unwrap();
        let err = format!("{:#}", decode_history(&other, history).unwrap_err());
        assert!(
            err.contains("history event 1") && err.contains(cipher.key_id()),
            "{err}"
        );
    }
}
