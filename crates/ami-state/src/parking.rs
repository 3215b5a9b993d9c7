//! Parked calls, keyed by `lot:space`.
//!
//! - 12+ (res_parking) names the parked channel's fields `Parkee…` and the parker's
//!   `Parker…`, the lot `Parkinglot` and the space `ParkingSpace`; 1.8 and 11 (features.c)
//!   give `Channel`, `Uniqueid`, `From` (the parker), `Exten` (the space), `Timeout` and
//!   `Parkinglot` (absent on some servers: the lot is then `default`).
//! - `ParkedCall` parks (also each item of the `ParkedCalls` list); `ParkedCallSwap` puts
//!   another channel in the same space; `UnParkedCall` (retrieved), `ParkedCallTimeOut` and
//!   `ParkedCallGiveUp` free the space, and so does the parked channel's `Hangup`.
//! - A parked call whose channel has hung up is not parked again by a late or replayed
//!   event.

use ami_proto::Message;

use crate::fields::{first, number, present, text, timestamp};
use crate::model::ParkedCall;
use crate::state::{Change, State};

/// The parking lot and space an event is about, on either era.
fn place(event: &Message) -> Option<(String, String)> {
    let space = first(event, &["ParkingSpace", "Exten"])?;
    let lot = present(event, "Parkinglot").unwrap_or_else(|| "default".to_owned());
    Some((lot, space))
}

fn key(lot: &str, space: &str) -> String {
    format!("{lot}:{space}")
}

impl State {
    pub(crate) fn park(&mut self, event: &Message) {
        let Some((lot, space)) = place(event) else {
            return;
        };
        let modern = event.contains("ParkeeChannel");
        let call = if modern {
            self.upsert_prefixed(event, "Parker");
            self.upsert_prefixed(event, "Parkee");
            let duration: u64 = number(event, "ParkingDuration");
            ParkedCall {
                channel: text(event, "ParkeeChannel"),
                uniqueid: text(event, "ParkeeUniqueid"),
                caller_id_num: text(event, "ParkeeCallerIDNum"),
                caller_id_name: text(event, "ParkeeCallerIDName"),
                parker: present(event, "ParkerChannel")
                    .or_else(|| present(event, "ParkerDialString"))
                    .unwrap_or_default(),
                timeout: number(event, "ParkingTimeout"),
                parked_since: timestamp(event).map(|t| (t as u64).saturating_sub(duration)),
                ..ParkedCall::default()
            }
        } else {
            ParkedCall {
                channel: text(event, "Channel"),
                uniqueid: first(event, &["Uniqueid", "UniqueID"]).unwrap_or_default(),
                caller_id_num: first(event, &["CallerIDNum", "CallerID"]).unwrap_or_default(),
                caller_id_name: text(event, "CallerIDName"),
                parker: present(event, "From").unwrap_or_default(),
                timeout: number(event, "Timeout"),
                parked_since: timestamp(event).map(|t| t as u64),
                ..ParkedCall::default()
            }
        };
        if call.channel.is_empty()
            || (!call.uniqueid.is_empty() && self.gone.contains(&call.uniqueid))
        {
            return;
        }
        let key = key(&lot, &space);
        self.parked
            .insert(key.clone(), ParkedCall { lot, space, ..call });
        self.push_change(Change::Parked(key));
    }

    pub(crate) fn unpark(&mut self, event: &Message) {
        if event.contains("ParkeeChannel") {
            self.upsert_prefixed(event, "Parkee");
            self.upsert_prefixed(event, "Retriever");
        }
        let by_place = place(event)
            .map(|(lot, space)| key(&lot, &space))
            .filter(|key| self.parked.contains_key(key));
        let channel = first(event, &["ParkeeChannel", "Channel"]).unwrap_or_default();
        let key = by_place.or_else(|| {
            self.parked
                .iter()
                .find(|(_, call)| !channel.is_empty() && call.channel == channel)
                .map(|(key, _)| key.clone())
        });
        if let Some(key) = key {
            self.parked.remove(&key);
            self.push_change(Change::Unparked(key));
        }
    }

    /// The parked channel hung up: its space is free.
    pub(crate) fn unpark_channel(&mut self, uniqueid: &str) {
        let keys: Vec<String> = self
            .parked
            .iter()
            .filter(|(_, call)| call.uniqueid == uniqueid)
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            self.parked.remove(&key);
            self.push_change(Change::Unparked(key));
        }
    }

    /// Replaces the parked calls by a `ParkedCalls` result.
    pub(crate) fn replace_parked(&mut self, items: &[Message]) {
        self.parked.clear();
        for item in items {
            self.park(item);
        }
        self.push_change(Change::Resynced);
    }
}
