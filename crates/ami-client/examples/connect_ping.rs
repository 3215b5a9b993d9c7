//! Connect, show the server's AMI version, and time a few Pings.
//!
//! ```sh
//! ami sim --listen 127.0.0.1:5038 &
//! cargo run -p ami-client --example connect_ping
//! ```

mod common;

use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), ami_client::Error> {
    let client = ami_client::Client::connect(common::config()).await?;
    println!("connected: AMI {}", client.ami_version());
    for _ in 0..5 {
        let start = Instant::now();
        let pong = client.ping().await?;
        println!(
            "Ping: {} in {:?} (server timestamp {})",
            pong.get("Ping").unwrap_or_default(),
            start.elapsed(),
            pong.get("Timestamp").unwrap_or_default()
        );
    }
    client.close().await;
    Ok(())
}
