//! List the channels that are up (CoreShowChannels, gathered into one result whatever the
//! server version), then the same through the CLI (`core show channels concise`).
//!
//! ```sh
//! ami sim --listen 127.0.0.1:5038 --demo-calls &
//! cargo run -p ami-client --example list_channels
//! ```

mod common;

#[tokio::main]
async fn main() -> Result<(), ami_client::Error> {
    let client = ami_client::Client::connect(common::config()).await?;
    let channels = client.core_show_channels().await?;
    println!("{} channel(s):", channels.items.len());
    for channel in &channels.items {
        println!(
            "  {:<36} {:<8} {}@{}",
            channel.get("Channel").unwrap_or_default(),
            channel.get("ChannelStateDesc").unwrap_or_default(),
            channel
                .get("Exten")
                .or_else(|| channel.get("Extension"))
                .unwrap_or_default(),
            channel.get("Context").unwrap_or_default(),
        );
    }
    let text = client.command("core show channels concise").await?;
    println!("CLI says:\n{text}");
    client.close().await;
    Ok(())
}
