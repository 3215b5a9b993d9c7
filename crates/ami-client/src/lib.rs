//! Async client for the Asterisk Manager Interface.
