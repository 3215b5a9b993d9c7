//! Login (plain and MD5), Challenge, Logoff.

use md5::{Digest, Md5};

use crate::event::Event;
use crate::perm::Perms;
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id, event_tv};
use crate::wire::Packet;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `hex(md5(challenge + secret))`, the key an MD5 login must present.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(challenge.as_bytes());
    hasher.update(secret.as_bytes());
    hex(&hasher.finalize())
}

impl ServerSession {
    pub(super) fn action_login(&mut self, request: &Request, ctx: &mut Context<'_>) {
        if self.user.is_some() {
            // Asterisk answers a second Login on a logged-in session with success again.
            self.reply("Success", request, "Authentication accepted");
            return;
        }
        let username = request.get("Username");
        let found = ctx.users.iter().find(|u| u.name == username).cloned();
        let accepted = found.as_ref().is_some_and(|user| {
            if request.get("AuthType").eq_ignore_ascii_case("md5") {
                match &self.challenge {
                    Some(challenge) => {
                        md5_key(challenge, &user.secret).eq_ignore_ascii_case(request.get("Key"))
                    }
                    None => false,
                }
            } else {
                request.get_opt("Secret") == Some(user.secret.as_str())
            }
        });
        let Some(user) = found.filter(|_| accepted) else {
            tracing::info!(session = self.id, "authentication failed");
            self.auth_failure_event(ctx);
            let delay = self.auth_fail_delay;
            self.sleep(delay);
            self.reply("Error", request, "Authentication failed");
            self.close();
            return;
        };
        tracing::info!(session = self.id, user = %user.name, "logged in");
        if let Some(mask) = request.get_opt("Events") {
            self.send_events = parse_event_mask(mask);
        }
        self.session_tv = event_tv(ctx.now);
        self.user = Some(user.clone());
        self.reply("Success", request, "Authentication accepted");
        if self.accepts(Perms::SYSTEM) {
            let mut booted = Packet::event("FullyBooted", Perms::SYSTEM);
            if self.profile.fully_booted_uptime() {
                let up = (ctx.pbx.now_ms() / 1000).to_string();
                booted = booted.h("Uptime", &up).h("LastReload", &up);
            }
            let bytes = booted.h("Status", "Fully Booted").finish();
            self.handle_event(&Event::new(Perms::SYSTEM, bytes));
        }
        if self.profile.security_events() {
            let packet = Packet::event("SuccessfulAuth", Perms::SECURITY)
                .h("EventTV", &self.session_tv)
                .h("Severity", "Informational")
                .h("Service", "AMI")
                .h("EventVersion", "1")
                .h("AccountID", &user.name);
            let packet = self
                .session_fields(packet)
                .h("UsingPassword", "0")
                .h("SessionTV", &self.session_tv);
            ctx.pbx
                .publish(Event::new(Perms::SECURITY, packet.finish()));
        }
    }

    fn auth_failure_event(&mut self, ctx: &mut Context<'_>) {
        if !self.profile.security_events() {
            return;
        }
        let packet = Packet::event("InvalidPassword", Perms::SECURITY)
            .h("EventTV", &event_tv(ctx.now))
            .h("Severity", "Error")
            .h("Service", "AMI")
            .h("EventVersion", "2")
            .h("AccountID", "");
        let packet = self
            .session_fields(packet)
            .h("SessionTV", &event_tv(ctx.now));
        ctx.pbx
            .publish(Event::new(Perms::SECURITY, packet.finish()));
    }

    pub(super) fn action_challenge(&mut self, request: &Request, ctx: &mut Context<'_>) {
        if !request.get("AuthType").eq_ignore_ascii_case("md5") {
            self.reply("Error", request, "Must specify AuthType");
            return;
        }
        let challenge = self.challenge.get_or_insert_with(|| {
            let nanos = ctx
                .now
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
                .unwrap_or(0);
            // Asterisk uses ast_random() formatted with %d: a positive 31-bit number.
            ((nanos.wrapping_mul(6_364_136_223_846_793_005) ^ self_id_mix(self.id)) % 2_147_483_647)
                .to_string()
        });
        let bytes = Packet::response_to("Success", action_id(request))
            .h("Challenge", challenge)
            .finish();
        self.send(bytes);
    }

    pub(super) fn action_logoff(&mut self, request: &Request) {
        self.reply("Goodbye", request, "Thanks for all the fish.");
        self.close();
    }
}

fn self_id_mix(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `on`, `off`, or a class list, as Login's `Events:` and the Events action take it.
pub(crate) fn parse_event_mask(mask: &str) -> Perms {
    let mask = mask.trim();
    if mask.eq_ignore_ascii_case("on") || mask.eq_ignore_ascii_case("yes") {
        Perms::ALL
    } else if mask.eq_ignore_ascii_case("off") || mask.eq_ignore_ascii_case("no") {
        Perms::NONE
    } else {
        mask.parse().unwrap_or(Perms::NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_key_matches_the_recorded_login() {
        // login_md5_challenge (asterisk-22): challenge 200398957, secret amp111.
        assert_eq!(
            md5_key("200398957", "amp111"),
            "1b92596542a64bc313dbb8d4a8f28a31"
        );
    }
}
