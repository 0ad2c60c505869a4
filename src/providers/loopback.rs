//! Test support: a loopback HTTP/1.1 server that answers canned responses in order, one connection each, and
//! hands back every request it received (line, headers, body), for the provider clients' wire tests.
use std::io::{BufRead, BufReader, Read, Write};
use std::thread::JoinHandle;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `METHOD /path?query HTTP/1.1`.
    pub line: String,
    /// Names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Serves `answers` (`(status, body)`) in order on 127.0.0.1; returns the origin (`http://127.0.0.1:port`)
/// and the thread that yields the received requests once every answer was sent.
pub fn canned(answers: Vec<(u16, String)>) -> (String, JoinHandle<Vec<Received>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, body) in answers {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            let mut headers = Vec::new();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).expect("header line");
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).expect("request body");
            seen.push(Received {
                line: line.trim_end().to_owned(),
                headers,
                body: request_body,
            });
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(reply.as_bytes()).expect("reply");
        }
        seen
    });
    (origin, handle)
}
