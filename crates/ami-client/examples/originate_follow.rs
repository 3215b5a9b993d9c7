//! Originate a call asynchronously and follow it: the `OriginateResponse` (routed to us by
//! ActionID), then the new channel's events until it hangs up.
//!
//! ```sh
//! ami sim --listen 127.0.0.1:5038 &
//! cargo run -p ami-client --example originate_follow
//! ```

mod common;

use std::time::Duration;

use ami_client::typed::{EventView, Hangup, Originate, OriginateResponse};
use ami_client::{EventItem, Subscription};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = ami_client::Client::connect(common::config()).await?;
    let mut calls = client.subscribe(Subscription::all().events([
        "Newchannel",
        "Newstate",
        "Hangup",
        "OriginateResponse",
    ]));
    let originate = Originate::to_application("Local/100@demo", "Wait", "2")
        .caller_id("\"amikit\" <100>")
        .asynchronous();
    let (queued, mut result) = client.originate_following(originate).await?;
    println!("queued: {}", queued.get("Message").unwrap_or_default());

    let outcome = tokio::time::timeout(Duration::from_secs(30), result.recv()).await?;
    let Some(EventItem::Event(event)) = outcome else {
        return Err("no OriginateResponse".into());
    };
    let response = OriginateResponse::from_message(&event).ok_or("not an OriginateResponse")?;
    let uniqueid = response.uniqueid().unwrap_or_default().into_owned();
    println!(
        "originate {} (reason {}), uniqueid {uniqueid}",
        response.response().unwrap_or_default(),
        response.reason().unwrap_or_default()
    );
    if !response.is_success() {
        return Ok(());
    }
    // Follow the call's channels (same Linkedid or Uniqueid) until the originated leg hangs up.
    loop {
        let item = tokio::time::timeout(Duration::from_secs(30), calls.recv()).await?;
        let Some(EventItem::Event(event)) = item else {
            continue;
        };
        let related =
            event.value_is("Uniqueid", &uniqueid) || event.value_is("Linkedid", &uniqueid);
        if !related {
            continue;
        }
        println!(
            "{:<12} {}",
            event.name(),
            event.get("Channel").unwrap_or_default()
        );
        if let Some(hangup) = Hangup::from_message(&event) {
            if event.value_is("Uniqueid", &uniqueid) {
                println!("hung up: cause {:?}", hangup.cause_code());
                break;
            }
        }
    }
    client.close().await;
    Ok(())
}
