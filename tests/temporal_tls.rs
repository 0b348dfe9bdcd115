//! careflow's TLS and mTLS options towards a Temporal cluster, against a real Temporal
//! server. `temporal server start-dev` speaks plain gRPC only, so the cluster's TLS
//! front is a terminator in this test (rustls, as a load balancer or a sidecar would
//! be): it demands a client certificate signed by the site's CA, offers HTTP/2 and
//! passes the bytes on to the dev server. The certificates are made for the test by
//! `openssl`.
//!
//! careflow connects with `--temporal-tls-ca`, `--temporal-tls-cert/--temporal-tls-key`
//! and `--temporal-tls-server-name` (as `ClusterOptions`) and describes its namespace
//! through the terminator; without its client certificate, with a CA that did not sign
//! the server's certificate, with the wrong server name, or in plain gRPC, it is
//! refused with the options to check.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use careflow::temporal::{connect, ClusterOptions, TlsSettings};
use careflow_testkit::temporal::start_dev_server;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `ca`, and a certificate `name` it signs with the extensions `ext`.
fn ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
}

fn signed(dir: &Path, ca: &str, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The cluster's TLS front: mTLS against the CA in `ca`, HTTP/2, bytes passed on to
/// `backend`. Returns its port.
async fn terminator(dir: &Path, backend: String) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&dir.join("site-ca.pem")) {
        roots.add(c).unwrap();
    }
    let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(clients)
        .with_single_cert(
            certs(&dir.join("temporal.pem")),
            PrivateKeyDer::from_pem_file(dir.join("temporal.key")).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                // A handshake the front refuses ends here, as at a real cluster.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    port
}

fn pem(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

fn tls(dir: &Path, ca: &str, client: bool, server_name: Option<&str>) -> ClusterOptions {
    ClusterOptions {
        namespace: "default".into(),
        tls: Some(TlsSettings {
            server_ca: Some(pem(dir, ca)),
            client_cert: client.then(|| (pem(dir, "worker.pem"), pem(dir, "worker.key"))),
            server_name: server_name.map(str::to_owned),
        }),
        api_key: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn careflow_reaches_a_temporal_cluster_over_mtls_and_is_refused_without_its_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_owned();
    ca(&dir, "site-ca");
    ca(&dir, "other-ca");
    signed(
        &dir,
        "site-ca",
        "temporal",
        "subjectAltName=DNS:temporal.hospital.internal,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    signed(&dir, "site-ca", "worker", "extendedKeyUsage=clientAuth\n");
    let (server, _) = start_dev_server().await;
    let port = terminator(&dir, server.address()).await;
    let addr = format!("127.0.0.1:{port}");
    let patience = Duration::from_secs(5);

    // The site's CA, careflow's client certificate: connected, and the namespace
    // described through the front (a round trip to the server behind it).
    connect(&addr, &tls(&dir, "site-ca.pem", true, None), patience, None)
        .await
        .unwrap_or_else(|e| panic!("mTLS with the site's CA: {e:#}"));
    // The name the certificate carries, verified instead of the address.
    connect(
        &addr,
        &tls(
            &dir,
            "site-ca.pem",
            true,
            Some("temporal.hospital.internal"),
        ),
        patience,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("mTLS with --temporal-tls-server-name: {e:#}"));

    // Refusals, each naming the cause and what to check.
    let refusals = [
        (
            "without a client certificate",
            tls(&dir, "site-ca.pem", false, None),
            // The front hangs up the handshake; the error says TLS without mTLS was tried.
            "(namespace default, TLS (own CA))",
        ),
        (
            "trusting another CA",
            tls(&dir, "other-ca.pem", true, None),
            "UnknownIssuer",
        ),
        (
            "expecting another server name",
            tls(
                &dir,
                "site-ca.pem",
                true,
                Some("scheduler.hospital.internal"),
            ),
            "not valid for name",
        ),
        (
            "in plain gRPC",
            ClusterOptions::plain("default"),
            "(namespace default, plain gRPC)",
        ),
    ];
    for (what, cluster, cause) in refusals {
        let e = match connect(&addr, &cluster, patience, None).await {
            Ok(_) => panic!("connected {what}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            e.contains(&addr) && e.contains("check --temporal-tls-ca") && e.contains(cause),
            "{what}: the error names the address, the cause ({cause}) and what to check: {e}"
        );
    }
}
