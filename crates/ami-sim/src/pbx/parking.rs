//! Parking: the default lot, `Park()` and the Park action, retrieval with `ParkedCall()`,
//! timeouts and callers who give up, with each era's events.

use super::Pbx;

impl Pbx {
    /// Parks `id` (the dialplan's `Park()` or the Park action).
    pub(super) fn park(&mut self, id: u64, parker: Option<u64>, timeout_ms: Option<u64>) {
        let _ = (id, parker, timeout_ms);
    }

    /// `ParkedCall(default,space)` on `id`: false when nothing is parked there.
    pub(super) fn unpark(&mut self, id: u64, space: u32) -> bool {
        let _ = (id, space);
        false
    }

    /// A parked call hangs up: ParkedCallGiveUp.
    pub(super) fn release_parked(&mut self, id: u64) {
        let _ = id;
    }
}
