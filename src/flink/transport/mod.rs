//! How every call reaches a JobManager, under one policy ([`policy`]): plain HTTP framed
//! by hyper over a kept socket ([`origin`], [`exchange`]), TLS and proxies through reqwest
//! ([`remote`]); every answer bounded by one byte budget ([`limit`]).

mod exchange;
mod limit;
mod origin;
pub(super) mod policy;
mod remote;

pub(super) use origin::Origin;
pub(super) use policy::{Answer, TransportError};
pub(super) use remote::{http_client, http_client_builder, send as send_remote};

#[cfg(test)]
mod tests;
