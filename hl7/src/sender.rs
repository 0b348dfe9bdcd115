//! The sending side of MLLP, as a patient administration system speaks it: one framed
//! message at a time, then wait for its original-mode ACK. careflow's own listener does
//! not need it; the demo's PAS and `bench-hl7` do, and share this one client.

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

/// MLLP start block, end block and carriage return.
const SB: u8 = 0x0b;
const EB: u8 = 0x1c;
const CR: u8 = 0x0d;

/// What the listener answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// MSA-1: `AA`, `AE` or `AR`.
    pub code: String,
    /// The ERR segment, when the ACK has one (the fault's position and reason).
    pub err: Option<String>,
}

/// One MLLP connection to a listener.
pub struct MllpSender {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl MllpSender {
    /// Connects to the listener at `addr`.
    pub async fn connect(addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<Self> {
        let stream = TcpStream::connect(&addr)
            .await
            .with_context(|| format!("connecting to the MLLP listener at {addr:?}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends `message` (segments ended by CR) and waits for its ACK.
    pub async fn send(&mut self, message: &str) -> Result<Acknowledgement> {
        let mut frame = Vec::with_capacity(message.len() + 3);
        frame.push(SB);
        frame.extend_from_slice(message.as_bytes());
        frame.extend_from_slice(&[EB, CR]);
        self.stream.write_all(&frame).await?;
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("the listener closed the connection without an ACK");
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if self.buf.ends_with(&[EB, CR]) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&self.buf);
        let text = text
            .trim_start_matches(SB as char)
            .trim_end_matches(['\x1c', '\r']);
        let segment = |name: &str| {
            text.split('\r')
                .find(|s| s.starts_with(&format!("{name}|")))
                .map(str::to_owned)
        };
        let msa = segment("MSA").context("an ACK without an MSA segment")?;
        Ok(Acknowledgement {
            code: msa.split('|').nth(1).unwrap_or_default().to_owned(),
            err: segment("ERR"),
        })
    }
}
