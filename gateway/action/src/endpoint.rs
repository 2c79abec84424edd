//! [`Endpoint`]: the stable name of one Matrix API endpoint, such as
//! `client.send_message_event` or `federation.send_transaction_message`.
//!
//! The name is ruma's module name for the endpoint; versions of one endpoint
//! (`r0`/`v3`, invite `v1`/`v2`, legacy and authenticated media) share it, so
//! a profile rule about an endpoint covers all of its versions.

use std::fmt;

/// Which Matrix API an endpoint belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// The client-server API (`/_matrix/client`, `/_matrix/media`, `/.well-known/matrix/client`).
    Client,
    /// The server-server API (`/_matrix/federation`, `/_matrix/key`, `/.well-known/matrix/server`).
    Federation,
}

impl Api {
    /// The prefix used in endpoint names: `client` or `federation`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Federation => "federation",
        }
    }
}

/// One Matrix API endpoint, named as `<api>.<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The API the endpoint belongs to.
    pub api: Api,
    /// ruma's name for the endpoint, e.g. `send_message_event`.
    pub name: &'static str,
}

impl Endpoint {
    /// A client-server endpoint.
    pub const fn client(name: &'static str) -> Self {
        Self {
            api: Api::Client,
            name,
        }
    }

    /// A server-server endpoint.
    pub const fn federation(name: &'static str) -> Self {
        Self {
            api: Api::Federation,
            name,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.api.as_str(), self.name)
    }
}
