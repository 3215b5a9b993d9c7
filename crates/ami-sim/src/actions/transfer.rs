//! `BlindTransfer` (13+) and `Atxfer` (every era) of a bridged channel.

use crate::pbx::TransferError;
use crate::request::Request;
use crate::session::{Context, ServerSession};

impl ServerSession {
    pub(super) fn action_blind_transfer(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let (channel, exten) = (request.get("Channel"), request.get("Exten"));
        if channel.is_empty() {
            self.reply("Error", request, "No channel specified");
            return;
        }
        if exten.is_empty() {
            self.reply("Error", request, "No extension specified");
            return;
        }
        let context = context_or_own(request, ctx, channel);
        let result = match ctx.pbx.channel_by_name(channel).map(|c| c.id) {
            Some(id) => ctx.pbx.blind_transfer(id, &context, exten),
            None => Err(TransferError::NoChannel),
        };
        match result {
            Ok(()) => self.reply("Success", request, "Transfer succeeded"),
            Err(TransferError::NoChannel) => {
                self.reply("Error", request, "Channel specified does not exist")
            }
            Err(TransferError::NotBridged) => self.reply("Error", request, "Transfer invalid"),
            Err(TransferError::Failed) => self.reply("Error", request, "Transfer failed"),
        }
    }

    pub(super) fn action_atxfer(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let modern = self.profile.modern_events();
        let (channel, exten) = (request.get("Channel"), request.get("Exten"));
        if channel.is_empty() {
            let message = if modern {
                "No channel specified"
            } else {
                "Channel not specified"
            };
            self.reply("Error", request, message);
            return;
        }
        if exten.is_empty() {
            let message = if modern {
                "No extension specified"
            } else {
                "Extension not specified"
            };
            self.reply("Error", request, message);
            return;
        }
        let context = context_or_own(request, ctx, channel);
        let result = match ctx.pbx.channel_by_name(channel).map(|c| c.id) {
            Some(id) => ctx.pbx.attended_transfer(id, &context, exten),
            None => Err(TransferError::NoChannel),
        };
        match result {
            Ok(()) => self.reply("Success", request, "Atxfer successfully queued"),
            Err(TransferError::NoChannel) => {
                self.reply("Error", request, "Channel specified does not exist")
            }
            Err(TransferError::NotBridged | TransferError::Failed) => {
                self.reply("Error", request, "Unable to perform attended transfer")
            }
        }
    }
}

/// The request's `Context:`, or the channel's own context when it gives none.
fn context_or_own(request: &Request, ctx: &Context<'_>, channel: &str) -> String {
    let context = request.get("Context");
    if !context.is_empty() {
        return context.to_owned();
    }
    ctx.pbx
        .channel_by_name(channel)
        .map_or_else(|| "default".to_owned(), |c| c.context.clone())
}
