//! The gateway probed as an attacker would: one test per hole found, each against the
//! simulator behind a [`proxy::RecordingProxy`] where what reached the PBX matters.

pub mod connections;
pub mod denied;
pub mod proxy;
