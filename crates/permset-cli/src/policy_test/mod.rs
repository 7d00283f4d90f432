//! Policy tests (`permset test`): suites of expected decisions, field levels
//! and list results read from `*.permset-test.yaml` files ([`suite`], over
//! the line-marked tree of [`yaml`]), run against a compiled workspace
//! ([`run`]), with grant and access-rule coverage taken from the decisions'
//! explanations ([`coverage`]) and reported as text, JSON or JUnit
//! ([`report`]). docs/POLICY_TESTS.md is the user's description.

pub(crate) mod coverage;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod suite;
pub(crate) mod yaml;
