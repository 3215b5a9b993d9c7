//! Print events as they come, with lag and connection changes; stops after `N` events
//! (first argument, default 20).
//!
//! ```sh
//! ami sim --listen 127.0.0.1:5038 --calls-per-second 5 &
//! cargo run -p ami-client --example stream_events -- 50
//! ```

mod common;

use ami_client::{Buffer, ConnectionState, EventItem, Subscription};

#[tokio::main]
async fn main() -> Result<(), ami_client::Error> {
    let limit: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let client = ami_client::Client::connect(common::config()).await?;
    let mut events = client.subscribe(Subscription::all().buffer(Buffer::Events(10_000)));
    // Make sure something happens even on an idle server.
    client
        .user_event("ExampleHello", &[("From", "stream_events")])
        .await?;
    let mut seen = 0;
    while seen < limit {
        match events.recv().await {
            Some(EventItem::Event(event)) => {
                seen += 1;
                let channel = event.get("Channel").unwrap_or_default();
                println!("{:<24} {channel}", event.name());
            }
            Some(EventItem::Lagged(missed)) => println!("-- fell behind: {missed} events missed"),
            Some(EventItem::Connection(ConnectionState::Disconnected { reason })) => {
                println!("-- disconnected: {reason}")
            }
            Some(EventItem::Connection(ConnectionState::Connected { ami_version })) => {
                println!("-- connected (AMI {ami_version})")
            }
            // Other notices (a skipped packet, a filter that panicked): shown as they are.
            Some(other) => println!("-- {other:?}"),
            None => break,
        }
    }
    client.close().await;
    Ok(())
}
