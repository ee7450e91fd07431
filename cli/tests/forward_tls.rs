//! `evtrace forward` over TLS (rustls): a receiver with a self-signed certificate for
//! 127.0.0.1, trusted with `--ca-file`, over HTTP and gRPC; refused without it.

mod common;
mod otlp;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{dies_with_test, temp_dir};
use otlp::*;

#[test]
fn tls_with_a_private_certificate_over_http_and_grpc() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-tls");
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&key_file, key.signing_key.serialize_pem()).unwrap();
    let rx = Receiver::start_with(
        &py,
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    let file = dir.join("tls.etl");
    write_requests(&file, 20, |p| p);
    let want = fmt_json(&[&file]);
    let mut protocols = vec![("http-protobuf", rx.http, "http")];
    if cfg!(feature = "grpc") {
        protocols.push(("grpc", rx.grpc, "grpc"));
    }
    for (protocol, port, transport) in protocols {
        let url = format!("https://127.0.0.1:{port}");
        let (code, err) = forward(&[
            "--follow",
            file.to_str().unwrap(),
            "--once",
            "--protocol",
            protocol,
            "--endpoint",
            &url,
            "--ca-file",
            cert.to_str().unwrap(),
            "--cursor",
            dir.join(format!("{protocol}.cursor")).to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{protocol}: {err}");
        let got = rx.received();
        let logs: Vec<_> = event_logs(&got)
            .into_iter()
            .filter(|r| r["transport"] == transport)
            .collect();
        let (a, b) = compare(&want, &logs);
        assert_same(&a, &b, protocol);
    }

    // Without --ca-file the web's roots do not know this certificate: a clear error, retried.
    let mut c = Command::new(env!("CARGO_BIN_EXE_evtrace"));
    dies_with_test(&mut c);
    let mut child = c
        .args(["forward", "--once", "--follow"])
        .arg(&file)
        .args(["--endpoint", &format!("https://127.0.0.1:{}", rx.http)])
        .args(["--max-backoff-ms", "200", "--cursor"])
        .arg(dir.join("untrusted.cursor"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("retrying in"))
        .expect("an error line");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        line.to_lowercase().contains("certificate"),
        "names the certificate: {line}"
    );
}
