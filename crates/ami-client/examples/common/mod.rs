// Shared by the examples: connection settings from the environment, defaulting to `ami sim`
// on 127.0.0.1:5038 with its admin/amp111 user.

use ami_client::Config;

pub fn config() -> Config {
    let host = std::env::var("AMI_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("AMI_PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(5038);
    let username = std::env::var("AMI_USERNAME").unwrap_or_else(|_| "admin".into());
    let secret = std::env::var("AMI_SECRET").unwrap_or_else(|_| "amp111".into());
    Config::new(host, username, secret).port(port)
}
