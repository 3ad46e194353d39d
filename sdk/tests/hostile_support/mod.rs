//! A hostile provider on loopback: a raw TCP server that answers each request as its test
//! scripts it (lying `Content-Length`, endless chunked bodies, a slow drip, a reset mid-body,
//! URLs pointing elsewhere, tokens echoed back), and records what it was sent. A second
//! instance on another port stands for "another host": tests assert it saw no connection.

#![allow(dead_code)] // Each test binary uses a different part.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the hostile server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target exactly as sent (path and query).
    pub target: String,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer one request.
pub enum Answer {
    /// A complete response: status line, headers, body, then the connection is closed.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers announcing `content_length` (or chunked when `None`), then `chunk` written
    /// forever (until the client goes away).
    Endless {
        status: u16,
        content_length: Option<u64>,
        chunk: Vec<u8>,
    },
    /// `200` headers with a `Content-Length` of `announced`, then `sent` bytes, then the
    /// connection is reset.
    Cut { announced: u64, sent: usize },
    /// `200` headers with a `Content-Length` of `total`, then one byte every `every`.
    Drip { total: u64, every: Duration },
    /// Read the request, never answer.
    Hang,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// An audio answer.
    pub fn audio(body: &[u8]) -> Answer {
        Answer::Full {
            status: 200,
            headers: vec![("content-type".into(), "audio/mpeg".into())],
            body: body.to_vec(),
        }
    }

    /// A 429 with these extra headers.
    pub fn rate_limited(headers: &[(&str, &str)]) -> Answer {
        Answer::Full {
            status: 429,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .chain([("content-type".to_owned(), "application/json".to_owned())])
                .collect(),
            body: br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#.to_vec(),
        }
    }
}

type Script = dyn Fn(usize, &Seen) -> Answer + Send + Sync;

/// A running hostile server.
pub struct Hostile {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    /// Starts a server answering the `n`-th request (from 0) with `script(n, &request)`.
    pub async fn start(script: impl Fn(usize, &Seen) -> Answer + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let task = tokio::spawn({
            let seen = seen.clone();
            let connections = connections.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (seen, script) = (seen.clone(), script.clone());
                    tokio::spawn(async move {
                        let _ = serve(stream, &seen, &*script).await;
                    });
                }
            }
        });
        Hostile {
            port,
            seen,
            connections,
            task,
        }
    }

    /// A server that answers every request with a 200 JSON `{}` (used as "another host").
    pub async fn foreign() -> Hostile {
        Hostile::start(|_, _| Answer::json(200, "{}")).await
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests read so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    script: &Script,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.push(request.clone());
        seen.len() - 1
    };
    match script(n, &request) {
        Answer::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("connection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await
        }
        Answer::Endless {
            status,
            content_length,
            chunk,
        } => {
            let framing = match content_length {
                Some(n) => format!("content-length: {n}"),
                None => "transfer-encoding: chunked".to_owned(),
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let frame = match content_length {
                Some(_) => chunk,
                None => {
                    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                    framed.extend_from_slice(&chunk);
                    framed.extend_from_slice(b"\r\n");
                    framed
                }
            };
            loop {
                stream.write_all(&frame).await?;
            }
        }
        Answer::Cut { announced, sent } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: {announced}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&vec![b'a'; sent]).await?;
            stream.flush().await?;
            // A reset, not a clean close. A zero linger does not block on drop: it resets.
            #[allow(deprecated)]
            stream.set_linger(Some(Duration::ZERO))?;
            drop(stream);
            Ok(())
        }
        Answer::Drip { total, every } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: {total}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            for _ in 0..total {
                stream.write_all(b"a").await?;
                stream.flush().await?;
                tokio::time::sleep(every).await;
            }
            Ok(())
        }
        Answer::Hang => {
            // Keep the connection open until the client gives up.
            let mut sink = [0_u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok(())
        }
    }
}

/// Reads one request head and its `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Seen>> {
    let mut buf = Vec::new();
    let mut byte = [0_u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        buf.push(byte[0]);
        if buf.len() > 64 << 10 {
            return Ok(None);
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).await?;
    Ok(Some(Seen {
        method,
        target,
        headers,
    }))
}
