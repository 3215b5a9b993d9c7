//! `Client::call` with the catalog's typed actions against every simulator profile, and the
//! required-parameter check.

use std::time::Duration;

use ami_catalog::actions::{
    Agents, Command, CoreShowChannels, Getvar, Originate, QueueStatus, Status,
};
use ami_catalog::events::{ChannelState, TypedEvent};
use ami_client::{Action, Client, Config};
use ami_sim::{Profile, SimConfig, SimHandle};

async fn spawn(profile: Profile) -> SimHandle {
    ami_sim::spawn(SimConfig {
        profile,
        demo_calls: true,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

async fn connect(sim: &SimHandle) -> Client {
    Client::connect(
        Config::new("127.0.0.1", "admin", "amp111")
            .port(sim.addr().port())
            .action_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("connect")
}

async fn typed_lists(profile: Profile) {
    let sim = spawn(profile).await;
    let client = connect(&sim).await;

    let channels = client
        .call(CoreShowChannels::new())
        .await
        .expect("CoreShowChannels");
    assert!(!channels.is_empty(), "demo calls are up");
    assert_eq!(channels.items().count(), channels.len());
    for channel in channels.items() {
        assert!(channel.channel().is_some_and(|c| !c.is_empty()));
        assert!(channel.channel_state().is_some(), "{:?}", channel.message());
        assert!(channel.priority().is_some(), "{:?}", channel.message());
    }
    assert!(channels.complete().is_some());

    let status = client.call(Status::new()).await.expect("Status");
    assert_eq!(status.items().count(), status.len());
    assert!(!status.is_empty());
    for item in status.items() {
        assert!(item.channel().is_some());
        // `ChannelState` from 13 on, `State` text before: either way one of them is there.
        assert!(
            item.channel_state().is_some() || item.message().contains("State"),
            "{:?}",
            item.message()
        );
    }
    assert!(status.complete().is_some());

    let queues = client.call(QueueStatus::new()).await.expect("QueueStatus");
    let mut params = 0;
    let mut members = 0;
    for item in queues.items() {
        match item {
            TypedEvent::QueueParams(queue) => {
                params += 1;
                assert_eq!(queue.queue().as_deref(), Some("support"));
                assert!(queue.calls().is_some(), "{:?}", queue.message());
            }
            TypedEvent::QueueMember(member) => {
                members += 1;
                assert!(member.penalty().is_some(), "{:?}", member.message());
            }
            TypedEvent::QueueEntry(_) => {}
            other => panic!("not a QueueStatus item: {:?}", other.message()),
        }
    }
    assert!(
        params >= 1 && members >= 1,
        "{params} queues, {members} members"
    );
    assert!(queues.complete().is_some());

    let agents = client.call(Agents::new()).await.expect("Agents");
    let agent = agents.items().next().expect("one agent");
    assert_eq!(agent.agent().as_deref(), Some("1001"));
    assert_eq!(agent.status().as_deref(), Some("AGENT_LOGGEDOFF"));
    assert!(agents.complete().is_some());

    let uptime = client
        .call(Command::new("core show uptime"))
        .await
        .expect("Command");
    assert!(uptime.output.contains("uptime"), "{:?}", uptime.output);

    client.close().await;
    sim.shutdown().await;
}

/// An action missing a required parameter fails before anything is written: the server never
/// sees it (its action counter does not move), and the error names the parameter.
async fn missing_parameters_are_refused(profile: Profile) {
    let sim = spawn(profile).await;
    let client = connect(&sim).await;
    let before = client.metrics().actions;
    let error = client
        .send(Action::new("Originate").header("Context", "demo"))
        .await
        .expect_err("Channel is required");
    assert_eq!(error.missing_parameter(), Some("Channel"), "{error}");
    let error = client
        .send(Action::new("getvar"))
        .await
        .expect_err("Variable is required");
    assert_eq!(error.missing_parameter(), Some("Variable"), "{error}");
    assert_eq!(client.metrics().actions, before, "nothing was sent");
    // With the parameter, the same actions go out.
    let value = client
        .call(Getvar::new("CHANNEL(state)").channel("nonexistent"))
        .await;
    assert!(value.is_err_and(|e| e.missing_parameter().is_none()));
    client
        .call(
            Originate::new("Local/100@demo")
                .application("Wait")
                .data("1"),
        )
        .await
        .expect("originate");
    client.close().await;
    sim.shutdown().await;
}

macro_rules! every_profile {
    ($($module:ident => $profile:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn typed_lists() {
                super::typed_lists($profile).await
            }
            #[tokio::test]
            async fn missing_parameters_are_refused() {
                super::missing_parameters_are_refused($profile).await
            }
        }
    )*};
}

every_profile!(v22 => Profile::V22, v13 => Profile::V13, v11 => Profile::V11, v1_8 => Profile::V18);

#[test]
fn channel_state_reads_in_place() {
    let message = ami_client::Message::builder()
        .header("Event", "Newstate")
        .header("ChannelState", "5")
        .build()
        .expect("message");
    let TypedEvent::Newstate(newstate) = TypedEvent::decode(&message) else {
        panic!("a Newstate");
    };
    assert_eq!(newstate.channel_state(), Some(ChannelState::Ringing));
}

/// `subscribe_to::<Hangup>()` yields only hangups, typed; a plain `Subscriber` is a `Stream`
/// too, and a `Stream` poll left waiting does not keep a later `recv` from waking.
#[tokio::test]
async fn typed_subscription_and_streams() {
    use ami_catalog::actions::Hangup as HangupAction;
    use ami_catalog::events::Hangup;
    use ami_client::{EventItem, Subscription, TypedItem};
    use futures_util::StreamExt;

    let sim = spawn(Profile::V22).await;
    let client = connect(&sim).await;
    let mut hangups = client.subscribe_to::<Hangup>();
    let mut every = client.subscribe_to::<TypedEvent>();
    let mut plain = client.subscribe(Subscription::all().events(["UserEvent"]));

    // Nothing yet: the stream poll registers a wake-up and times out.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), plain.next())
            .await
            .is_err()
    );
    client
        .send(Action::new("UserEvent").header("UserEvent", "first"))
        .await
        .expect("UserEvent");
    // recv after an abandoned stream poll still wakes.
    match tokio::time::timeout(Duration::from_secs(5), plain.recv()).await {
        Ok(Some(EventItem::Event(event))) => assert!(event.value_is("UserEvent", "first")),
        other => panic!("{other:?}"),
    }
    client
        .send(Action::new("UserEvent").header("UserEvent", "second"))
        .await
        .expect("UserEvent");
    match tokio::time::timeout(Duration::from_secs(5), plain.next()).await {
        Ok(Some(EventItem::Event(event))) => assert!(event.value_is("UserEvent", "second")),
        other => panic!("{other:?}"),
    }

    client
        .call(
            Originate::new("Local/100@demo")
                .application("Wait")
                .data("60"),
        )
        .await
        .expect("originate");
    let channels = client.call(CoreShowChannels::new()).await.expect("csc");
    let channel = channels
        .items()
        .find_map(|c| c.channel())
        .expect("a channel")
        .into_owned();
    client
        .call(HangupAction::new(channel.as_str()).cause("16"))
        .await
        .expect("hangup");
    let hangup = loop {
        match tokio::time::timeout(Duration::from_secs(5), hangups.next()).await {
            Ok(Some(TypedItem::Event(hangup))) => break hangup,
            Ok(Some(TypedItem::Connection(_))) => {}
            other => panic!("{other:?}"),
        }
    };
    let view = hangup.view();
    assert!(view.channel().is_some());
    assert!(view.cause().is_some(), "{:?}", view.message());
    assert_eq!(view.message().event_name().as_deref(), Some("Hangup"));
    // The catch-all kind saw the UserEvents typed, and the hangup.
    let mut names = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(200), every.next()).await
    {
        if let TypedItem::Event(event) = item {
            names.push(event.view().name().unwrap_or("?"));
        }
    }
    assert!(names.contains(&"UserEvent"), "{names:?}");
    assert!(names.contains(&"Hangup"), "{names:?}");
    client.close().await;
    sim.shutdown().await;
}
