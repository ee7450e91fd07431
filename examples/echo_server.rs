//! An annotated application: a small line-protocol server on loopback, traced with typed events
//! and messages into a private session, then the log decoded and summarised.
//!
//! ```text
//! cargo run --example echo_server -- --clients 4 --requests 200
//! cargo run -p evtrace-cli -- fmt --summary echo_server.etl
//! ```
//!
//! Clients send `GET <path>` lines; the server answers with the path reversed, or `404` for paths
//! that start with `/missing`. Every connection, request and answer is an event; slow answers
//! (over 50 us) also log a formatted message.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;
use evtrace::consume::{Item, LogReader};
use evtrace::provider::{filter::level, EnableSettings};
use evtrace::session::{LogFileMode, Session, SessionProperties};

/// Events of the echo server.
#[evtrace::provider(name = "Evtrace-Examples-EchoServer")]
pub mod server_events {
    use std::net::SocketAddr;
    use std::time::Duration;

    /// The server is listening.
    #[event(level = info, opcode = start)]
    pub fn listening(addr: SocketAddr, workers: u32);

    /// A client connected.
    #[event(level = verbose, keywords = 0x1)]
    pub fn accepted(peer: SocketAddr);

    /// One request was answered.
    #[event(level = verbose, keywords = 0x2)]
    pub fn served(peer: SocketAddr, path: &str, status: u16, bytes: u64, took: Duration);

    /// A client went away.
    #[event(level = verbose, keywords = 0x1)]
    pub fn closed(peer: SocketAddr, requests: u32);

    /// The server stopped.
    #[event(level = info, opcode = stop)]
    pub fn stopped(connections: u32, requests: u64, #[field(format = pid)] pid: u32);
}

/// Serves requests on loopback while tracing them, then prints the decoded log.
#[derive(Parser, Debug)]
struct Args {
    /// Client connections.
    #[arg(long, default_value_t = 4)]
    clients: u32,
    /// Requests per client.
    #[arg(long, default_value_t = 100)]
    requests: u32,
    /// Log file.
    #[arg(long, default_value = "echo_server.etl")]
    file: String,
    /// Decoded lines to print (the rest is summarised).
    #[arg(long, default_value_t = 12)]
    show: usize,
}

fn answer(line: &str) -> (u16, String) {
    let path = line.trim().strip_prefix("GET ").unwrap_or("");
    if path.starts_with("/missing") {
        (404, "not found".into())
    } else {
        (200, path.chars().rev().collect())
    }
}

fn serve(stream: TcpStream, peer: SocketAddr) -> std::io::Result<u32> {
    evtrace::write!(server_events::accepted(peer));
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut requests = 0;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        let t = Instant::now();
        let (status, body) = answer(&line);
        writeln!(out, "{status} {body}")?;
        let took = t.elapsed();
        requests += 1;
        let path = line.trim_start_matches("GET ");
        evtrace::write!(server_events::served(
            peer,
            path,
            status,
            body.len() as u64,
            took
        ));
        if took > Duration::from_micros(50) {
            evtrace::trace_message!(server_events, level = warning, "slow answer to {} for {}: {} us",
                peer.to_string(): String, path: &str, took.as_micros() as u64: u64);
        }
    }
    evtrace::write!(server_events::closed(peer, requests));
    Ok(requests)
}

fn client(addr: SocketAddr, id: u32, requests: u32) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut answers = BufReader::new(stream).lines();
    for r in 0..requests {
        let path = if r % 10 == 9 {
            format!("/missing/{id}/{r}")
        } else {
            format!("/files/{id}/{r}.txt")
        };
        writeln!(out, "GET {path}")?;
        answers.next().transpose()?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let session = Session::start_private(
        SessionProperties::new("evtrace-echo-server")
            .log_file(&args.file)
            .mode(LogFileMode::LOCAL_SEQUENCE),
    )?;
    session.enable_provider(
        server_events::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )?;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // The server's run is one activity: `listening` starts it, `stopped` ends it.
    let run = evtrace::write!(server_events::listening(addr, args.clients));
    let (connections, requests) = std::thread::scope(|s| -> std::io::Result<(u32, u64)> {
        let server = s.spawn(|| -> std::io::Result<(u32, u64)> {
            let mut workers = Vec::new();
            for _ in 0..args.clients {
                let (stream, peer) = listener.accept()?;
                workers.push(std::thread::spawn(move || serve(stream, peer)));
            }
            let total = workers
                .into_iter()
                .map(|w| w.join().expect("worker").unwrap_or(0) as u64)
                .sum();
            Ok((args.clients, total))
        });
        for id in 0..args.clients {
            s.spawn(move || client(addr, id, args.requests));
        }
        server.join().expect("server thread")
    })?;
    evtrace::write!(server_events::stopped(
        connections,
        requests,
        std::process::id()
    ));
    drop(run);
    let stats = session.stop()?;
    println!(
        "served {requests} requests on {connections} connections at {addr}; log {} ({} events lost)\n",
        stats.log_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        stats.events_lost
    );

    let mut per_event: BTreeMap<String, u64> = BTreeMap::new();
    for (n, item) in LogReader::open(&[&args.file])?.enumerate() {
        let time = item.time_text();
        let line = match &item {
            Item::Event(e) => {
                let name = e.name.clone().unwrap_or_default();
                *per_event.entry(name.clone()).or_default() += 1;
                let fields: Vec<String> = e
                    .fields
                    .iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("{time} {name} {}", fields.join(" "))
            }
            Item::Message(m) => {
                *per_event.entry("(message)".into()).or_default() += 1;
                format!(
                    "{time} #{} {}",
                    m.sequence.unwrap_or(0),
                    m.text.as_deref().unwrap_or("")
                )
            }
            Item::Classic(c) => format!("{time} {} type {}", c.source(), c.event_type),
            Item::Loss(l) => format!("{time} lost {:?} x{:?}", l.kind, l.count),
        };
        if n < args.show {
            println!("{line}");
        }
    }
    println!("...\n");
    for (name, count) in per_event {
        println!("{count:>8}  {name}");
    }
    Ok(())
}
