//! An IMAP connection over plain TCP, implicit TLS or STARTTLS.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;

use super::settings::{MailTls, MailboxSettings};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type ImapSession = Session<ImapStream>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("connection to {0} timed out")]
    Timeout(String),
    #[error("TLS: {0}")]
    Tls(String),
    /// The handshake failed: most often the server's certificate is not
    /// trusted (wrong CA, self-signed, another host's name).
    #[error("TLS handshake refused (is the server's certificate trusted? see ca_file): {0}")]
    Certificate(String),
    #[error("the server closed the connection before its greeting")]
    NoGreeting,
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("login refused: {0}")]
    Login(String),
}

impl ConnectError {
    /// A refused login will not fix itself on the next try; it is still
    /// retried (passwords get fixed), just reported as such.
    pub fn is_auth(&self) -> bool {
        matches!(self, ConnectError::Login(_))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, ConnectError::Tls(_) | ConnectError::Certificate(_))
    }
}

/// The TLS client: the public web roots, or with `ca_file` only the
/// certificates in that PEM file (a company CA, a test's own CA).
pub fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, ConnectError> {
    let roots = match ca_file {
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| {
                ConnectError::Tls(format!("cannot read ca_file {}: {e}", path.display()))
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                let cert = cert.map_err(|e| unreadable(&e))?;
                roots.add(cert).map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in it"));
            }
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn tls_wrap(mailbox: &MailboxSettings, tcp: TcpStream) -> Result<ImapStream, ConnectError> {
    let host = &mailbox.host;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
    let tls = tls_connector(mailbox.ca_file.as_deref())?
        .connect(name, tcp)
        .await
        .map_err(|e| ConnectError::Certificate(e.to_string()))?;
    Ok(ImapStream::Tls(Box::new(tls)))
}

/// Connects, reads the greeting, upgrades if asked and logs in.
pub async fn connect(mailbox: &MailboxSettings) -> Result<ImapSession, ConnectError> {
    let addr = format!("{}:{}", mailbox.host, mailbox.port());
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| ConnectError::Timeout(addr.clone()))?
        .map_err(|e| ConnectError::Connect(addr.clone(), e))?;
    let _ = tcp.set_nodelay(true);
    let stream = match mailbox.tls {
        MailTls::Implicit => tls_wrap(mailbox, tcp).await?,
        MailTls::Plain | MailTls::Starttls => ImapStream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    let greeting = tokio::time::timeout(CONNECT_TIMEOUT, client.read_response())
        .await
        .map_err(|_| ConnectError::Timeout(addr.clone()))?
        .map_err(async_imap::error::Error::from)?;
    if greeting.is_none() {
        return Err(ConnectError::NoGreeting);
    }
    if mailbox.tls == MailTls::Starttls {
        client.run_command_and_check_ok("STARTTLS", None).await?;
        let ImapStream::Plain(tcp) = client.into_inner() else {
            return Err(ConnectError::Tls("STARTTLS on a TLS stream".into()));
        };
        client = Client::new(tls_wrap(mailbox, tcp).await?);
    }
    client
        .login(&mailbox.login, mailbox.password.expose())
        .await
        .map_err(|(e, _)| ConnectError::Login(e.to_string()))
}
