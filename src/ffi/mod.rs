//! The C boundary. Every exported symbol and every Valkey symbol we call is here.
pub mod dict;
pub mod expire;
pub mod host;
pub mod lazyfree;
