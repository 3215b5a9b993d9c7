//! An AMI server that behaves like Asterisk.
