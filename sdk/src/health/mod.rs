//! Health store (in progress)
