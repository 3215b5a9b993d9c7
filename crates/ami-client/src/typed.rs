//! Typed helpers for the common actions, and typed views of the common events.
//!
//! Views borrow the [`Message`] they were made from, so no header is ever lost: unknown and
//! version-specific ones stay reachable through [`EventView::message`].
//!
//! ```
//! use ami_client::Message;
//! use ami_client::typed::{EventView, Hangup};
//!
//! let message = Message::builder()
//!     .header("Event", "Hangup")
//!     .header("Channel", "Local/100@demo-00000001;1")
//!     .header("Cause", "16")
//!     .header("X-Custom", "kept")
//!     .build()?;
//! let hangup = Hangup::from_message(&message).expect("a Hangup");
//! assert_eq!(hangup.cause_code(), Some(16));
//! assert_eq!(hangup.message().get("X-Custom").as_deref(), Some("kept"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use ami_proto::session::{List, Reply};
use ami_proto::{Action, Message};

use crate::error::{Error, Kind, Result};
use crate::{Client, Subscriber};

/// A typed view of one event kind over a [`Message`].
pub trait EventView<'a>: Sized {
    /// The `Event:` name(s) this view accepts (case-insensitive).
    const NAMES: &'static [&'static str];

    /// Wraps the message.
    fn wrap(message: &'a Message) -> Self;

    /// The underlying message, all headers included.
    fn message(&self) -> &'a Message;

    /// The view, when the message is an event of this kind. A 1.x event listed in `NAMES`
    /// matches only in the variants the catalog maps to the view's own (first) name: `Dial`
    /// is a `DialBegin` only with `SubEvent: Begin`, `Bridge` a `BridgeEnter` only with
    /// `Bridgestate: Link`.
    fn from_message(message: &'a Message) -> Option<Self> {
        let name = message.event_name()?;
        if !Self::NAMES
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(&name))
        {
            return None;
        }
        let modern = Self::NAMES.first().copied().unwrap_or_default();
        if name.eq_ignore_ascii_case(modern) {
            return Some(Self::wrap(message));
        }
        match ami_catalog::event(&name).and_then(|event| event.legacy.as_ref()) {
            Some(legacy) => legacy
                .modern(|header| {
                    message
                        .get_bytes(header)
                        .and_then(|value| std::str::from_utf8(value).ok())
                })
                .is_some_and(|mapped| mapped.eq_ignore_ascii_case(modern))
                .then(|| Self::wrap(message)),
            None => Some(Self::wrap(message)),
        }
    }
}

macro_rules! event_view {
    ($(#[$doc:meta])* $view:ident [$($name:literal),+] { $($(#[$fdoc:meta])* $field:ident => [$($header:literal),+]),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $view<'a>(&'a Message);

        impl<'a> EventView<'a> for $view<'a> {
            const NAMES: &'static [&'static str] = &[$($name),+];
            fn wrap(message: &'a Message) -> Self {
                Self(message)
            }
            fn message(&self) -> &'a Message {
                self.0
            }
        }

        impl<'a> $view<'a> {
            $(
                $(#[$fdoc])*
                pub fn $field(&self) -> Option<Cow<'a, str>> {
                    // Field names moved between versions; the first one present wins.
                    [$($header),+].iter().find_map(|header| self.0.get(header))
                }
            )*
        }
    };
}

event_view!(
    /// `Newchannel`: a channel was created.
    Newchannel ["Newchannel"] {
        /// Channel name.
        channel => ["Channel"],
        /// Unique id (`UniqueID` on 11 and older).
        uniqueid => ["Uniqueid", "UniqueID"],
        /// Linked id (13+).
        linkedid => ["Linkedid"],
        /// Caller number.
        caller_id_num => ["CallerIDNum"],
        /// Dialplan context.
        context => ["Context"],
        /// Extension (`Exten` or `Extension`).
        exten => ["Exten", "Extension"],
    }
);

event_view!(
    /// `Hangup`: a channel hung up.
    Hangup ["Hangup"] {
        /// Channel name.
        channel => ["Channel"],
        /// Unique id.
        uniqueid => ["Uniqueid", "UniqueID"],
        /// Q.850 cause, as text.
        cause => ["Cause"],
        /// Cause description.
        cause_txt => ["Cause-txt"],
    }
);

impl Hangup<'_> {
    /// The Q.850 cause as a number.
    pub fn cause_code(&self) -> Option<u32> {
        self.cause()?.trim().parse().ok()
    }
}

event_view!(
    /// `OriginateResponse`: the outcome of an async Originate (carries its ActionID).
    OriginateResponse ["OriginateResponse"] {
        /// `Success` or `Failure`.
        response => ["Response"],
        /// Channel.
        channel => ["Channel"],
        /// Reason code (4 = answered, 0 = failed, 1/5/8 ...).
        reason => ["Reason"],
        /// Unique id (`<null>` on failure).
        uniqueid => ["Uniqueid"],
        /// The originating action's ActionID.
        action_id => ["ActionID"],
    }
);

impl OriginateResponse<'_> {
    /// True for `Response: Success`.
    pub fn is_success(&self) -> bool {
        self.0.value_is("Response", "Success")
    }
}

event_view!(
    /// `Newstate`: channel state changed.
    Newstate ["Newstate"] {
        /// Channel name.
        channel => ["Channel"],
        /// State number.
        channel_state => ["ChannelState", "State"],
        /// State text (`Up`, `Ringing` ...).
        channel_state_desc => ["ChannelStateDesc", "State"],
        /// Unique id.
        uniqueid => ["Uniqueid", "UniqueID"],
    }
);

event_view!(
    /// Dial start: `DialBegin` (12+) or `Dial` with `SubEvent: Begin` (11 and older); never
    /// `Dial` with `SubEvent: End`.
    DialBegin ["DialBegin", "Dial"] {
        /// Calling channel.
        channel => ["Channel"],
        /// Called channel.
        dest_channel => ["DestChannel", "Destination"],
        /// Dial string.
        dial_string => ["DialString"],
        /// `Begin` on the legacy form.
        sub_event => ["SubEvent"],
    }
);

event_view!(
    /// Bridge entered: `BridgeEnter` (12+), `Bridge` with `Bridgestate: Link` (11/1.8), or
    /// `Link` (1.4/1.6). Never `Unlink`, nor `Bridge` with `Bridgestate: Unlink`.
    BridgeEnter ["BridgeEnter", "Bridge", "Link"] {
        /// Channel (`Channel1` on the legacy form).
        channel => ["Channel", "Channel1"],
        /// Bridge id (12+).
        bridge_uniqueid => ["BridgeUniqueid"],
        /// `Link` on the legacy form.
        bridge_state => ["Bridgestate"],
    }
);

event_view!(
    /// `UserEvent`: raised by the dialplan or the UserEvent action.
    UserEvent ["UserEvent"] {
        /// The user's event name.
        user_event => ["UserEvent"],
        /// ActionID when raised by an action.
        action_id => ["ActionID"],
    }
);

event_view!(
    /// `VarSet`: a channel variable changed.
    VarSet ["VarSet"] {
        /// Channel.
        channel => ["Channel"],
        /// Variable name.
        variable => ["Variable"],
        /// New value.
        value => ["Value"],
    }
);

event_view!(
    /// `QueueMemberStatus` / `QueueMemberPaused`: a queue member changed.
    QueueMemberStatus ["QueueMemberStatus", "QueueMemberPaused"] {
        /// Queue name.
        queue => ["Queue"],
        /// Member interface.
        interface => ["Interface", "Location"],
        /// Member name.
        member_name => ["MemberName"],
        /// Device status number.
        status => ["Status"],
        /// `1` when paused.
        paused => ["Paused"],
    }
);

event_view!(
    /// `Cdr`: a call detail record (cdr_manager).
    Cdr ["Cdr"] {
        /// Source.
        source => ["Source"],
        /// Destination.
        destination => ["Destination"],
        /// Disposition (`ANSWERED` ...).
        disposition => ["Disposition"],
        /// Billable seconds.
        billable_seconds => ["BillableSeconds"],
        /// Unique id.
        uniqueid => ["UniqueID", "Uniqueid"],
    }
);

event_view!(
    /// `FullyBooted`: sent after login.
    FullyBooted ["FullyBooted"] {
        /// `Fully Booted`.
        status => ["Status"],
    }
);

event_view!(
    /// `Shutdown`: Asterisk is stopping.
    Shutdown ["Shutdown"] {
        /// `Cleanly` or `Uncleanly`.
        shutdown => ["Shutdown"],
        /// `True` when restarting.
        restart => ["Restart"],
    }
);

/// An Originate request.
#[derive(Debug, Clone)]
pub struct Originate {
    action: Action,
}

impl Originate {
    /// Originate from `channel` (`PJSIP/100`, `Local/100@demo` ...) to a dialplan extension.
    pub fn to_extension(
        channel: impl Into<Vec<u8>>,
        context: impl Into<Vec<u8>>,
        exten: impl Into<Vec<u8>>,
        priority: u32,
    ) -> Self {
        Self {
            action: Action::new("Originate")
                .header("Channel", channel)
                .header("Context", context)
                .header("Exten", exten)
                .header("Priority", priority.to_string()),
        }
    }

    /// Originate from `channel` to an application (`Playback`, `Echo` ...).
    pub fn to_application(
        channel: impl Into<Vec<u8>>,
        application: impl Into<Vec<u8>>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            action: Action::new("Originate")
                .header("Channel", channel)
                .header("Application", application)
                .header("Data", data),
        }
    }

    /// Return at once; the outcome arrives as an `OriginateResponse` event.
    pub fn asynchronous(mut self) -> Self {
        self.action.set("Async", "true");
        self
    }

    /// Caller ID (`"Name" <100>`).
    pub fn caller_id(mut self, caller_id: impl Into<Vec<u8>>) -> Self {
        self.action.set("CallerID", caller_id);
        self
    }

    /// Ring timeout in milliseconds.
    pub fn timeout_ms(mut self, timeout: u64) -> Self {
        self.action.set("Timeout", timeout.to_string());
        self
    }

    /// A channel variable (`NAME=value`); may be repeated.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.action.push("Variable", format!("{name}={value}"));
        self
    }

    /// Any other header.
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.action.push(name, value);
        self
    }

    /// The action to send.
    pub fn into_action(self) -> Action {
        self.action
    }
}

fn expect_response(reply: Reply) -> Result<Message> {
    match reply {
        Reply::Response(message) => Ok(message),
        Reply::List(list) => Ok(list.response),
        Reply::Command(command) => Ok(command.response),
        Reply::Text(_) => Err(Error::new(Kind::Protocol("expected a response".into()))),
        other => Err(Error::new(Kind::Protocol(format!(
            "expected a response, got {other:?}"
        )))),
    }
}

fn expect_list(reply: Reply) -> Result<List> {
    match reply {
        Reply::List(list) => Ok(list),
        other => Err(Error::new(Kind::Protocol(format!(
            "expected a list, got {:?}",
            other
                .response()
                .and_then(|r| r.get("Message").map(|m| m.into_owned()))
        )))),
    }
}

impl Client {
    /// `Ping`: returns the response (`Ping: Pong`, `Timestamp`).
    pub async fn ping(&self) -> Result<Message> {
        expect_response(self.send(Action::new("Ping")).await?)
    }

    /// `Command`: the CLI output as text, from either framing (legacy body or `Output:` lines).
    /// An unknown CLI command is an error with [`Error::command_output`].
    pub async fn command(&self, command: &str) -> Result<String> {
        match self
            .send(Action::new("Command").header("Command", command))
            .await?
        {
            Reply::Command(output) => Ok(output.output),
            other => Err(Error::new(Kind::Protocol(format!(
                "unexpected Command reply: {other:?}"
            )))),
        }
    }

    /// `Originate`. With [`Originate::asynchronous`], use [`Client::originate_following`] to see
    /// the `OriginateResponse`.
    pub async fn originate(&self, originate: Originate) -> Result<Message> {
        expect_response(self.send(originate.into_action()).await?)
    }

    /// `Originate`, also returning a subscriber for the events carrying its ActionID (the
    /// `OriginateResponse` of an async originate).
    pub async fn originate_following(&self, originate: Originate) -> Result<(Message, Subscriber)> {
        let (reply, events) = self.send_following(originate.into_action()).await?;
        Ok((expect_response(reply)?, events))
    }

    /// `Hangup` of a channel, with an optional Q.850 cause.
    pub async fn hangup(&self, channel: &str, cause: Option<u32>) -> Result<Message> {
        let mut action = Action::new("Hangup").header("Channel", channel);
        if let Some(cause) = cause {
            action.push("Cause", cause.to_string());
        }
        expect_response(self.send(action).await?)
    }

    /// `Redirect` a channel to `context,exten,priority`.
    pub async fn redirect(
        &self,
        channel: &str,
        context: &str,
        exten: &str,
        priority: u32,
    ) -> Result<Message> {
        let action = Action::new("Redirect")
            .header("Channel", channel)
            .header("Context", context)
            .header("Exten", exten)
            .header("Priority", priority.to_string());
        expect_response(self.send(action).await?)
    }

    /// `Getvar`: a channel variable or function (global when `channel` is `None`).
    pub async fn getvar(&self, channel: Option<&str>, variable: &str) -> Result<String> {
        let mut action = Action::new("Getvar").header("Variable", variable);
        if let Some(channel) = channel {
            action.push("Channel", channel);
        }
        let response = expect_response(self.send(action).await?)?;
        Ok(response.get("Value").unwrap_or_default().into_owned())
    }

    /// `Setvar` (global when `channel` is `None`).
    pub async fn setvar(&self, channel: Option<&str>, variable: &str, value: &str) -> Result<()> {
        let mut action = Action::new("Setvar")
            .header("Variable", variable)
            .header("Value", value);
        if let Some(channel) = channel {
            action.push("Channel", channel);
        }
        expect_response(self.send(action).await?).map(drop)
    }

    /// `CoreShowChannels`: one item per channel.
    pub async fn core_show_channels(&self) -> Result<List> {
        expect_list(self.send(Action::new("CoreShowChannels")).await?)
    }

    /// `Status` of every channel, or of one.
    pub async fn status(&self, channel: Option<&str>) -> Result<List> {
        let mut action = Action::new("Status");
        if let Some(channel) = channel {
            action.push("Channel", channel);
        }
        expect_list(self.send(action).await?)
    }

    /// `QueueStatus` of every queue, or of one.
    pub async fn queue_status(&self, queue: Option<&str>) -> Result<List> {
        let mut action = Action::new("QueueStatus");
        if let Some(queue) = queue {
            action.push("Queue", queue);
        }
        expect_list(self.send(action).await?)
    }

    /// `QueueSummary` of every queue, or of one.
    pub async fn queue_summary(&self, queue: Option<&str>) -> Result<List> {
        let mut action = Action::new("QueueSummary");
        if let Some(queue) = queue {
            action.push("Queue", queue);
        }
        expect_list(self.send(action).await?)
    }

    /// `QueueAdd` a member interface to a queue.
    pub async fn queue_add(&self, queue: &str, interface: &str, paused: bool) -> Result<Message> {
        let action = Action::new("QueueAdd")
            .header("Queue", queue)
            .header("Interface", interface)
            .header("Paused", if paused { "true" } else { "false" });
        expect_response(self.send(action).await?)
    }

    /// `QueueRemove` a member interface from a queue.
    pub async fn queue_remove(&self, queue: &str, interface: &str) -> Result<Message> {
        let action = Action::new("QueueRemove")
            .header("Queue", queue)
            .header("Interface", interface);
        expect_response(self.send(action).await?)
    }

    /// `QueuePause` (or unpause) a member, in one queue or (`None`) all. The queue comes
    /// first, as in every queue helper.
    pub async fn queue_pause(
        &self,
        queue: Option<&str>,
        interface: &str,
        paused: bool,
    ) -> Result<Message> {
        let mut action = Action::new("QueuePause")
            .header("Interface", interface)
            .header("Paused", if paused { "true" } else { "false" });
        if let Some(queue) = queue {
            action.push("Queue", queue);
        }
        expect_response(self.send(action).await?)
    }

    /// `DBGet`: `Ok(None)` when the entry does not exist.
    pub async fn db_get(&self, family: &str, key: &str) -> Result<Option<String>> {
        let action = Action::new("DBGet")
            .header("Family", family)
            .header("Key", key);
        match self.send(action).await {
            Ok(Reply::List(list)) => Ok(list
                .items
                .iter()
                .find_map(|item| item.get("Val").map(Cow::into_owned))),
            Ok(other) => Ok(other
                .response()
                .and_then(|r| r.get("Val").map(Cow::into_owned))),
            Err(error)
                if error
                    .server_message()
                    .is_some_and(|m| m.contains("not found")) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// `DBPut`.
    pub async fn db_put(&self, family: &str, key: &str, value: &str) -> Result<()> {
        let action = Action::new("DBPut")
            .header("Family", family)
            .header("Key", key)
            .header("Val", value);
        expect_response(self.send(action).await?).map(drop)
    }

    /// `UserEvent` with extra headers.
    pub async fn user_event(&self, name: &str, headers: &[(&str, &str)]) -> Result<Message> {
        let mut action = Action::new("UserEvent").header("UserEvent", name);
        for (header, value) in headers {
            action.push(*header, *value);
        }
        expect_response(self.send(action).await?)
    }

    /// `Logoff` without closing the client (the server will drop the connection; with
    /// reconnect on, the client logs in again). Use [`Client::close`] to end the session.
    pub async fn logoff(&self) -> Result<Message> {
        expect_response(self.send(Action::new("Logoff")).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(headers: &[(&str, &str)]) -> Message {
        headers
            .iter()
            .fold(Message::builder(), |b, (n, v)| b.header(n, v))
            .build()
            .unwrap()
    }

    #[test]
    fn legacy_views_match_only_their_variant() {
        let begin = event(&[("Event", "Dial"), ("SubEvent", "Begin")]);
        let end = event(&[("Event", "Dial"), ("SubEvent", "End")]);
        assert!(DialBegin::from_message(&begin).is_some());
        assert!(DialBegin::from_message(&end).is_none());
        assert!(DialBegin::from_message(&event(&[("Event", "DialBegin")])).is_some());
        let link = event(&[("Event", "Bridge"), ("Bridgestate", "Link")]);
        let unlink = event(&[("Event", "Bridge"), ("Bridgestate", "Unlink")]);
        assert!(BridgeEnter::from_message(&link).is_some());
        assert!(BridgeEnter::from_message(&unlink).is_none());
        assert!(BridgeEnter::from_message(&event(&[("Event", "Unlink")])).is_none());
        assert!(BridgeEnter::from_message(&event(&[("Event", "Link")])).is_some());
        // Not legacy: every listed name matches.
        let paused = event(&[("Event", "QueueMemberPaused")]);
        assert!(QueueMemberStatus::from_message(&paused).is_some());
    }
}
