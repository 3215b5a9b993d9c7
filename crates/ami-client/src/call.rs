//! The typed layer over [`Client::send`]: [`Client::call`] sends a catalogued action's builder
//! and converts the reply to the action's reply type; every action, typed or not, is checked
//! for the parameters the catalog marks required before anything is written.

use ami_catalog::reply::{AmiAction, FromReply};
use ami_proto::Action;

use crate::Client;
use crate::error::{Error, Kind, Result};

impl Client {
    /// Sends a typed action from [`ami_catalog::actions`](mod@ami_catalog::actions) and returns its typed reply: the
    /// response [`Message`](crate::Message) of a plain action, a
    /// [`TypedList`](ami_catalog::reply::TypedList) of item views for a list action, the
    /// [`CommandOutput`](crate::CommandOutput) of `Command`.
    ///
    /// A plain action:
    ///
    /// ```
    /// use ami_catalog::actions::Ping;
    /// use ami_client::{Client, Config};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let sim = ami_sim::spawn(ami_sim::SimConfig::default()).await?;
    /// # let (host, port) = (sim.addr().ip().to_string(), sim.addr().port());
    /// let client = Client::connect(Config::new(host, "admin", "amp111").port(port)).await?;
    /// let pong = client.call(Ping::new()).await?;
    /// assert!(pong.value_is("Ping", "Pong"));
    /// # client.close().await;
    /// # sim.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A list action, whose items are zero-copy views with typed fields:
    ///
    /// ```
    /// use ami_catalog::actions::{CoreShowChannels, Originate};
    /// use ami_catalog::events::ChannelState;
    /// use ami_client::{Client, Config};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let sim = ami_sim::spawn(ami_sim::SimConfig::default()).await?;
    /// # let (host, port) = (sim.addr().ip().to_string(), sim.addr().port());
    /// let client = Client::connect(Config::new(host, "admin", "amp111").port(port)).await?;
    /// client
    ///     .call(Originate::new("Local/100@demo").application("Wait").data("10"))
    ///     .await?;
    /// let channels = client.call(CoreShowChannels::new()).await?;
    /// for channel in channels.items() {
    ///     // Parsed in place from the received `ChannelState: 6`.
    ///     let state: Option<ChannelState> = channel.channel_state();
    ///     println!("{:?} {state:?}", channel.channel());
    ///     assert!(state.is_some());
    /// }
    /// assert!(channels.items().count() >= 1);
    /// assert!(channels.complete().is_some());
    /// # client.close().await;
    /// # sim.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// `Command`, whose reply is the CLI text whatever framing the server uses:
    ///
    /// ```
    /// use ami_catalog::actions::Command;
    /// use ami_client::{Client, Config};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let sim = ami_sim::spawn(ami_sim::SimConfig::default()).await?;
    /// # let (host, port) = (sim.addr().ip().to_string(), sim.addr().port());
    /// let client = Client::connect(Config::new(host, "admin", "amp111").port(port)).await?;
    /// let uptime = client.call(Command::new("core show uptime")).await?;
    /// assert!(uptime.output.contains("uptime"));
    /// # client.close().await;
    /// # sim.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<A: AmiAction>(&self, action: A) -> Result<A::Reply> {
        let reply = self.send(action.into_action()).await?;
        A::Reply::from_reply(reply).map_err(|error| Error::new(Kind::Protocol(error.to_string())))
    }
}

/// Refuses an action the catalog knows when a parameter its newest documentation marks
/// required is absent: Asterisk would answer an error at best, or do nothing (a misspelt
/// Originate). Actions the catalog does not know pass unchecked.
pub(crate) fn check_required(action: &Action) -> Result<()> {
    let Some(known) = ami_catalog::action(action.name()) else {
        return Ok(());
    };
    match known
        .required_params()
        .find(|param| action.get(param.name).is_none())
    {
        None => Ok(()),
        Some(param) => Err(Error::new(Kind::MissingParameter(known.name, param.name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_required_parameter_is_named() {
        let error = check_required(&Action::new("Originate").header("Context", "demo"))
            .expect_err("Channel is required");
        assert_eq!(error.missing_parameter(), Some("Channel"));
        assert!(error.to_string().contains("Originate"), "{error}");
        // Case-insensitive like Asterisk, on both names.
        assert!(
            check_required(&Action::new("originate").header("CHANNEL", "Local/1@demo")).is_ok()
        );
        // Not catalogued: not checked.
        assert!(check_required(&Action::new("MyModuleAction")).is_ok());
        assert!(check_required(&Action::new("Ping")).is_ok());
    }
}
