//! Subscribers as [`Stream`]s, and typed subscriptions: [`Client::subscribe_to`] yields the
//! events of one catalogued kind, each readable through its zero-copy view.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use ami_catalog::events::EventKind;
use futures_core::Stream;

use crate::{Client, ConnectionState, Event, EventItem, Subscriber, Subscription};

impl Stream for Subscriber {
    type Item = EventItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EventItem>> {
        self.get_mut().poll_recv(cx)
    }
}

/// An event of kind `K`, shared like [`Event`]; [`Typed::view`] reads it in place.
pub struct Typed<K> {
    event: Event,
    kind: PhantomData<fn() -> K>,
}

impl<K: EventKind> Typed<K> {
    /// The typed view (a reference into the received message; nothing is copied).
    pub fn view(&self) -> K::View<'_> {
        K::wrap(self.event.message())
    }

    /// The event as received, every header included.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event, taken out.
    pub fn into_event(self) -> Event {
        self.event
    }
}

impl<K> Clone for Typed<K> {
    fn clone(&self) -> Self {
        Self {
            event: self.event.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Typed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.event, f)
    }
}

/// What a [`TypedSubscriber`] receives: [`EventItem`] with the event typed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TypedItem<K> {
    /// An event of the subscribed kind.
    Event(Typed<K>),
    /// The subscriber fell behind: this many events were dropped here.
    Lagged(u64),
    /// The connection went down or came back up.
    Connection(ConnectionState),
    /// A packet broke the decoder's limits and was skipped (see [`EventItem::Skipped`]).
    Skipped(ami_proto::DecodeError),
}

/// The events of one kind `K` from [`ami_catalog::events`](mod@ami_catalog::events) (a view such as `Hangup`, or
/// `TypedEvent` for every event). A [`Stream`]; dropping it unsubscribes.
pub struct TypedSubscriber<K> {
    inner: Subscriber,
    kind: PhantomData<fn() -> K>,
}

impl<K> fmt::Debug for TypedSubscriber<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedSubscriber")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<K: EventKind> TypedSubscriber<K> {
    /// The next item; `None` once the client has shut down and everything was read.
    pub async fn recv(&mut self) -> Option<TypedItem<K>> {
        self.inner.recv().await.map(typed)
    }

    /// The untyped subscriber underneath.
    pub fn into_inner(self) -> Subscriber {
        self.inner
    }
}

impl<K: EventKind> Stream for TypedSubscriber<K> {
    type Item = TypedItem<K>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TypedItem<K>>> {
        self.get_mut()
            .inner
            .poll_recv(cx)
            .map(|item| item.map(typed))
    }
}

fn typed<K>(item: EventItem) -> TypedItem<K> {
    match item {
        EventItem::Event(event) => TypedItem::Event(Typed {
            event,
            kind: PhantomData,
        }),
        EventItem::Lagged(n) => TypedItem::Lagged(n),
        EventItem::Connection(state) => TypedItem::Connection(state),
        EventItem::Skipped(error) => TypedItem::Skipped(error),
        // A typed subscription has no predicate to panic; anything newer ends nothing here
        // and is told as a gap of zero.
        _ => TypedItem::Lagged(0),
    }
}

impl Client {
    /// A subscriber for the events of kind `K` only, yielding them typed:
    /// `subscribe_to::<Hangup>()` for [`ami_catalog::events::Hangup`], or
    /// `subscribe_to::<TypedEvent>()` for every event as a
    /// [`TypedEvent`](ami_catalog::events::TypedEvent). Default buffer (8 MiB of events).
    ///
    /// ```
    /// use ami_catalog::actions::{CoreShowChannels, Hangup as HangupAction, Originate};
    /// use ami_catalog::events::Hangup;
    /// use ami_client::{Client, Config, TypedItem};
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let sim = ami_sim::spawn(ami_sim::SimConfig::default()).await?;
    /// # let (host, port) = (sim.addr().ip().to_string(), sim.addr().port());
    /// let client = Client::connect(Config::new(host, "admin", "amp111").port(port)).await?;
    /// let mut hangups = client.subscribe_to::<Hangup>();
    ///
    /// client
    ///     .call(Originate::new("Local/100@demo").application("Wait").data("60"))
    ///     .await?;
    /// let channels = client.call(CoreShowChannels::new()).await?;
    /// let channel = channels.items().find_map(|c| c.channel()).expect("a channel is up");
    /// client.call(HangupAction::new(channel.as_ref()).cause("16")).await?;
    ///
    /// while let Some(item) = hangups.next().await {
    ///     if let TypedItem::Event(hangup) = item {
    ///         let hangup = hangup.view(); // reads the received bytes in place
    ///         assert!(hangup.channel().is_some());
    ///         println!("{:?} hung up, cause {:?}", hangup.channel(), hangup.cause());
    ///         break;
    ///     }
    /// }
    /// # client.close().await;
    /// # sim.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe_to<K: EventKind + 'static>(&self) -> TypedSubscriber<K> {
        let subscription = Subscription::all().events(K::NAMES.iter().copied());
        // The names decide on the reader; the kind's own check is kept for kinds whose
        // names say less than the view does.
        let subscription = subscription.filter(|message| K::view(message).is_some());
        TypedSubscriber {
            inner: self.subscribe(subscription),
            kind: PhantomData,
        }
    }
}
