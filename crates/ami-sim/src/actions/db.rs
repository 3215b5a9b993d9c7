//! The AstDB actions: DBPut, DBGet, DBGetTree, DBDel, DBDelTree.

use crate::profile::{ListKind, Profile};
use crate::request::Request;
use crate::session::{Context, ServerSession, action_id};
use crate::wire::Packet;

fn db_key(family: &str, key: &str) -> String {
    format!("/{family}/{key}")
}

impl ServerSession {
    fn family_and_key<'r>(
        &mut self,
        request: &'r Request,
        need_key: bool,
    ) -> Option<(&'r str, &'r str)> {
        let family = request.get("Family");
        let key = request.get("Key");
        if family.is_empty() {
            self.reply("Error", request, "No family specified");
            return None;
        }
        if need_key && key.is_empty() {
            self.reply("Error", request, "No key specified");
            return None;
        }
        Some((family, key))
    }

    pub(super) fn action_db_put(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let Some((family, key)) = self.family_and_key(request, true) else {
            return;
        };
        ctx.pbx
            .db
            .insert(db_key(family, key), request.get("Val").to_owned());
        self.reply("Success", request, "Updated database successfully");
    }

    pub(super) fn action_db_get(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let Some((family, key)) = self.family_and_key(request, true) else {
            return;
        };
        let Some(value) = ctx.pbx.db.get(&db_key(family, key)).cloned() else {
            self.reply("Error", request, "Database entry not found");
            return;
        };
        let item = Packet::list_item("DBGetResponse")
            .h("Family", family)
            .h("Key", key)
            .h("Val", &value)
            .h_opt("ActionID", action_id(request))
            .finish();
        self.send_list(
            request,
            ListKind::Other,
            "Result will follow",
            vec![item],
            "DBGetComplete",
            &[],
        );
    }

    pub(super) fn action_db_get_tree(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let family = request.get("Family");
        let key = request.get("Key");
        let prefix = match (family.is_empty(), key.is_empty()) {
            (true, _) => "/".to_owned(),
            (false, true) => format!("/{family}/"),
            (false, false) => db_key(family, key),
        };
        let items: Vec<_> = ctx
            .pbx
            .db
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| {
                Packet::list_item("DBGetTreeResponse")
                    .h("Key", k)
                    .h("Val", v)
                    .h_opt("ActionID", action_id(request))
                    .finish()
            })
            .collect();
        if items.is_empty() {
            self.reply("Error", request, "Database entry not found");
            return;
        }
        self.send_list(
            request,
            ListKind::Other,
            "Result will follow",
            items,
            "DBGetTreeComplete",
            &[],
        );
    }

    pub(super) fn action_db_del(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let Some((family, key)) = self.family_and_key(request, true) else {
            return;
        };
        let removed = ctx.pbx.db.remove(&db_key(family, key)).is_some();
        match (removed, self.profile) {
            (true, _) | (false, Profile::V13 | Profile::V11) => {
                self.reply("Success", request, "Key deleted successfully")
            }
            (false, Profile::V22) => {
                self.reply("Error", request, "Database entry could not be deleted")
            }
            (false, Profile::V18) => self.reply("Error", request, "Database entry not found"),
        }
    }

    pub(super) fn action_db_del_tree(&mut self, request: &Request, ctx: &mut Context<'_>) {
        let Some((family, key)) = self.family_and_key(request, false) else {
            return;
        };
        let prefix = if key.is_empty() {
            format!("/{family}/")
        } else {
            db_key(family, key)
        };
        let before = ctx.pbx.db.len();
        ctx.pbx
            .db
            .retain(|k, _| !(k.starts_with(&prefix) || *k == prefix.trim_end_matches('/')));
        if before == ctx.pbx.db.len() && self.profile == Profile::V22 {
            self.reply("Error", request, "Database entry not found");
            return;
        }
        let _ = action_id(request);
        self.reply("Success", request, "Key tree deleted successfully");
    }
}
