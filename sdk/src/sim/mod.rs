//! Simulator (in progress)
