//! The gateway probed as an attacker would: one test per hole found, each against the
//! simulator behind a [`proxy::RecordingProxy`] where what reached the PBX matters.

pub mod connections;
pub mod denied;
pub mod limits;
pub mod names;
pub mod proxy;
pub mod wildcard;
