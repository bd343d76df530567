//! The graph executor: the tape (forward records, reverse walk) and the parameter store.

pub mod params;
pub mod tape;

pub use params::{Param, ParamStore};
pub use tape::{Grads, Tape, Var};
