//! The subcommands of `permset-bench`, one per file.

pub(crate) mod engines;
