//! A tiny Kafka-protocol client for the tests: requests encoded and responses decoded with
//! kafka-protocol, over a blocking socket.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses part of it"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

pub mod venv;

/// One connection to the server.
pub struct Client {
    pub stream: TcpStream,
    next_correlation: i32,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        // A safety net against a hung server, not a synchronisation.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Self {
            stream,
            next_correlation: 1,
        }
    }

    /// Sends `request` at `version` and decodes its response.
    pub fn call<Req: Request>(&mut self, request: &Req, version: i16) -> Req::Response
    where
        Req::Response: Decodable + HeaderVersion,
    {
        self.try_call(request, version)
            .expect("the server answers and keeps the connection")
    }

    /// As `call`, `None` when the server closed the connection instead of answering.
    pub fn try_call<Req: Request>(&mut self, request: &Req, version: i16) -> Option<Req::Response>
    where
        Req::Response: Decodable + HeaderVersion,
    {
        let correlation_id = self.next_correlation;
        self.next_correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(Req::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("strom-kafka-tests")));
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, Req::header_version(version))
            .unwrap();
        request.encode(&mut frame, version).unwrap();
        self.send_frame(&frame).ok()?;
        let mut body = bytes::Bytes::from(self.read_frame()?);
        let response_header =
            ResponseHeader::decode(&mut body, Req::Response::header_version(version)).unwrap();
        assert_eq!(response_header.correlation_id, correlation_id);
        let response = Req::Response::decode(&mut body, version).unwrap();
        assert!(!body.has_remaining(), "the whole response was decoded");
        Some(response)
    }

    /// Writes `body` with its size prefix.
    pub fn send_frame(&mut self, body: &[u8]) -> std::io::Result<()> {
        let size = i32::try_from(body.len()).unwrap();
        self.stream.write_all(&size.to_be_bytes())?;
        self.stream.write_all(body)
    }

    /// Writes raw bytes, framing included or not.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next response frame's body, `None` at end of stream.
    pub fn read_frame(&mut self) -> Option<Vec<u8>> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(size)).unwrap()];
        self.stream.read_exact(&mut body).ok()?;
        Some(body)
    }

    /// Whether the server closed the connection: a read returns end of stream (or a reset)
    /// rather than data. Blocks until it does.
    pub fn closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
        }
    }
}

/// A raw request frame body: header v1 for `key`/`version`, then `body`.
pub fn raw_request(key: ApiKey, version: i16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(key as i16).to_be_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&7i32.to_be_bytes());
    out.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    out.extend_from_slice(body);
    out
}
