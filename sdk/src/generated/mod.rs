//! Generated clients (in progress)
