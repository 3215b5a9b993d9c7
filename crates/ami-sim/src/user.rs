//! AMI accounts: name, secret, read and write classes; loaded from a manager.conf-style file.

use std::path::Path;

use crate::perm::Perms;

/// One AMI account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The `Username:` to log in with.
    pub name: String,
    /// The plain secret (also the MD5 challenge key material, as in Asterisk).
    pub secret: String,
    /// Event classes this user may receive.
    pub read: Perms,
    /// Action classes this user may call.
    pub write: Perms,
}

impl User {
    /// A user with the given classes.
    pub fn new(
        name: impl Into<String>,
        secret: impl Into<String>,
        read: Perms,
        write: Perms,
    ) -> Self {
        Self {
            name: name.into(),
            secret: secret.into(),
            read,
            write,
        }
    }

    /// The users of the corpus recordings: `admin`/`amp111` (read and write all) and
    /// `events`/`events` (read all, write system).
    pub fn defaults() -> Vec<User> {
        vec![
            User::new("admin", "amp111", Perms::ALL, Perms::ALL),
            User::new("events", "events", Perms::ALL, Perms::SYSTEM),
        ]
    }
}

/// Why a users file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file could not be read.
    #[error("cannot read users file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not `[name]`, `key = value`, a comment or blank.
    #[error("users file line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Reads users from a manager.conf-style file: one `[name]` section per user with
/// `secret =`, `read =` and `write =` (`[general]` is ignored), so an existing
/// manager.conf can be used as is.
pub fn load_users(path: &Path) -> Result<Vec<User>, UsersError> {
    let text = std::fs::read_to_string(path).map_err(|source| UsersError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_users(&text)
}

/// Parses the text of a users file (see [`load_users`]).
pub fn parse_users(text: &str) -> Result<Vec<User>, UsersError> {
    let mut users: Vec<User> = Vec::new();
    let mut in_general = false;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let syntax = |reason: String| UsersError::Syntax {
            line: index + 1,
            reason,
        };
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .split(']')
                .next()
                .filter(|name| !name.is_empty())
                .ok_or_else(|| syntax("section name missing".into()))?;
            in_general = name.eq_ignore_ascii_case("general");
            if !in_general {
                users.push(User::new(name, "", Perms::NONE, Perms::NONE));
            }
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim_start_matches('>').trim()))
            .ok_or_else(|| syntax(format!("expected key = value, got {line:?}")))?;
        if in_general {
            continue;
        }
        let Some(user) = users.last_mut() else {
            return Err(syntax("setting outside a [user] section".into()));
        };
        match key.to_ascii_lowercase().as_str() {
            "secret" => user.secret = value.to_owned(),
            "read" => user.read = value.parse().map_err(|e| syntax(format!("{e}")))?,
            "write" => user.write = value.parse().map_err(|e| syntax(format!("{e}")))?,
            _ => {}
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_conf_sections_become_users() {
        let users = parse_users(
            "[general]\nenabled = yes\n\n[admin]\nsecret = amp111 ; comment\nread = all\nwrite => system,call\n",
        )
        .unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].secret, "amp111");
        assert_eq!(users[0].read, Perms::ALL);
        assert!(users[0].write.contains(Perms::CALL));
        assert!(!users[0].write.contains(Perms::USER));
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let error = parse_users("[a]\nread = wizardry\n").unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
        assert!(parse_users("secret = x\n").is_err());
    }
}
