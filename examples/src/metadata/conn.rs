//! A small keep-alive HTTP/1.1 client connection (hyper's low-level client, no pool, no TLS):
//! what [`super::MetadataClient`] and the `rig-load` generator speak.

use std::io;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

impl HttpConn {
    /// Splits `http://host:port/path` (the scheme is optional) into `host:port` and `/path`.
    ///
    /// ```
    /// use rig_examples::metadata::HttpConn;
    /// let (addr, path) = HttpConn::split_url("http://127.0.0.1:8080/do").unwrap();
    /// assert_eq!((addr.as_str(), path.as_str()), ("127.0.0.1:8080", "/do"));
    /// assert_eq!(HttpConn::split_url("localhost:1").unwrap().1, "/");
    /// assert!(HttpConn::split_url("https://example.com").is_err());
    /// ```
    pub fn split_url(url: &str) -> io::Result<(String, String)> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unsupported scheme {scheme:?} in {url:?}: only http"),
                ))
            }
            None => url,
        };
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if addr.is_empty() || !addr.contains(':') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("url {url:?} must name host:port"),
            ));
        }
        Ok((addr.to_owned(), path.to_owned()))
    }
}

/// One HTTP/1.1 connection; requests on it run one after another (keep-alive).
#[derive(Debug)]
pub struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl HttpConn {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> io::Result<Self> {
        // An HTTP client is a production edge of the example, not library code: it talks TCP
        // directly rather than through rig's Transport seam.
        #[allow(clippy::disallowed_methods)]
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("http connection closed: {e}");
            }
        });
        Ok(Self {
            sender,
            host: addr.to_owned(),
        })
    }

    /// Sends one request and reads the whole response: its status and body.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> io::Result<(StatusCode, Bytes)> {
        self.sender.ready().await.map_err(io::Error::other)?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(io::Error::other)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(io::Error::other)?
            .to_bytes();
        Ok((status, body))
    }
}
