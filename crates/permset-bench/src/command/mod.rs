//! The subcommands of `permset-bench`, one per file.

pub(crate) mod engines;
pub(crate) mod lists;
pub(crate) mod memory;
pub(crate) mod server;
pub(crate) mod tenants;
