//! The subcommands of `permset-bench`, one per file.

pub(crate) mod console;
pub(crate) mod engines;
pub(crate) mod fuzz;
pub(crate) mod lists;
pub(crate) mod memory;
pub(crate) mod process;
pub(crate) mod propagation;
pub(crate) mod server;
pub(crate) mod serving;
pub(crate) mod simulate;
pub(crate) mod soak;
pub(crate) mod tenants;
