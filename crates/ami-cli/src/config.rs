//! Named connection profiles from a TOML file, so `ami --profile lab action Ping` needs no
//! other flag.
//!
//! The file is `--config PATH`, else `$AMI_CONFIG`, else `$XDG_CONFIG_HOME/amikit/config.toml`,
//! else `~/.config/amikit/config.toml`:
//!
//! ```toml
//! default_profile = "lab"          # used when no --profile / AMI_PROFILE is given
//!
//! [profiles.lab]
//! host = "pbx.lab.example"
//! port = 5038                      # or, in place of host and port: url = "http://pbx:8088"
//! username = "admin"
//! secret_env = "LAB_AMI_SECRET"    # or: secret_file = "~/.config/amikit/lab.secret"
//! tls = false
//! ```
//!
//! The secret itself is never in this file: only where to find it (an environment variable or
//! a file readable by the user alone), so the config can be shared or committed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The parsed config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profile used when none is named.
    pub default_profile: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One `[profiles.NAME]` table. Every field is optional: flags and environment variables fill
/// in (and override) what a profile leaves out.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The server as a URL, in place of host and port: `http://pbx:8088` (AMI over HTTP),
    /// `https://...`, `tcp://pbx:5038`, `tls://pbx:5039`.
    pub url: Option<String>,
    /// Host name or address.
    pub host: Option<String>,
    /// TCP port (5038, or 5039 for TLS).
    pub port: Option<u16>,
    /// AMI user (`[name]` in manager.conf).
    pub username: Option<String>,
    /// Name of the environment variable holding the secret.
    pub secret_env: Option<String>,
    /// File holding the secret (one line; a trailing newline is ignored).
    pub secret_file: Option<PathBuf>,
    /// Connect with TLS.
    pub tls: Option<bool>,
    /// PEM file of the CA (or self-signed certificate) to trust instead of the system roots.
    pub tls_ca: Option<PathBuf>,
    /// SHA-256 fingerprint of the one server certificate to trust (see `--tls-pin`).
    pub tls_pin: Option<String>,
    /// Accept any certificate (lab PBXs with self-signed certificates only).
    pub tls_insecure: Option<bool>,
    /// Name to check the certificate against, when it differs from `host`.
    pub tls_server_name: Option<String>,
    /// `plain` or `md5` (challenge/response: the secret never crosses the wire).
    pub auth: Option<AuthMethod>,
}

/// Login method named in a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// `Secret:` sent as is.
    Plain,
    /// MD5 challenge/response.
    Md5,
}

/// A profile picked from the file, with its name and where it came from (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The profile's name.
    pub name: String,
    /// Its settings.
    pub profile: Profile,
    /// The file it was read from.
    pub path: PathBuf,
}

/// A secret read from the environment or a file. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret, for the login action only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the config file is looked for when `--config` is not given.
pub fn default_path() -> Option<PathBuf> {
    if let Some(path) = non_empty_env("AMI_CONFIG") {
        return Some(PathBuf::from(path));
    }
    if let Some(base) = non_empty_env("XDG_CONFIG_HOME") {
        return Some(Path::new(&base).join("amikit").join("config.toml"));
    }
    non_empty_env("HOME").map(|home| {
        Path::new(&home)
            .join(".config")
            .join("amikit")
            .join("config.toml")
    })
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Parses a config file's text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<ConfigFile> {
    toml::from_str(text).map_err(|error| {
        let mut message = format!(
            "the config file {} is not valid: {}",
            path.display(),
            error.message()
        );
        if error.message().contains("unknown field `secret`") {
            message.push_str(
                "\nfix: keep the secret out of the config file: put it in a file only you can \
                 read and write `secret_file = \"PATH\"`, or name an environment variable with \
                 `secret_env = \"NAME\"`",
            );
        } else {
            message.push_str(
                "\nfix: a profile is a `[profiles.NAME]` table with host, port, username, \
                 secret_env or secret_file, tls, tls_ca, tls_pin, tls_insecure, tls_server_name, auth",
            );
        }
        anyhow::anyhow!(message)
    })
}

/// Picks the profile to use. `explicit_path` is `--config`; `name` is `--profile` /
/// `AMI_PROFILE`. With neither a name nor a `default_profile`, no profile is used (and a missing
/// default file is fine). Naming a profile that does not exist is an error listing the ones
/// that do.
pub fn select(
    explicit_path: Option<&Path>,
    name: Option<&str>,
) -> anyhow::Result<Option<Selected>> {
    let path = match explicit_path {
        Some(path) => path.to_owned(),
        None => match default_path() {
            Some(path) => path,
            None if name.is_some() => bail!(
                "profile {:?} was asked for, but there is no config file: HOME is not set\n\
                 fix: pass --config PATH",
                name.unwrap_or_default()
            ),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && explicit_path.is_none() => {
            if let Some(name) = name {
                bail!(
                    "unknown profile {name:?}: there is no config file at {}\n\
                     fix: create it with a [profiles.{name}] table (host, port, username, \
                     secret_env or secret_file), or pass --config PATH",
                    path.display()
                );
            }
            return Ok(None);
        }
        Err(error) => {
            return Err(error).with_context(|| {
                format!(
                    "cannot read the config file {}\nfix: check the path given to --config \
                     (or AMI_CONFIG) and its permissions",
                    path.display()
                )
            });
        }
    };
    let file = parse(&text, &path)?;
    let Some(name) = name
        .map(str::to_owned)
        .or_else(|| file.default_profile.clone())
    else {
        return Ok(None);
    };
    match file.profiles.get(&name) {
        Some(profile) => Ok(Some(Selected {
            name,
            profile: profile.clone(),
            path,
        })),
        None => {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "it defines no profiles".to_owned()
            } else {
                format!("its profiles are: {}", known.join(", "))
            };
            bail!(
                "unknown profile {name:?} in {} ({known})\nfix: use one of those names, or add \
                 a [profiles.{name}] table to the file",
                path.display()
            )
        }
    }
}

impl Selected {
    /// Reads the secret the profile points to; `None` when it names no secret at all.
    pub fn read_secret(&self) -> anyhow::Result<Option<Secret>> {
        let profile = &self.profile;
        if let Some(variable) = &profile.secret_env {
            return match std::env::var(variable) {
                Ok(secret) if !secret.is_empty() => Ok(Some(Secret(secret))),
                _ => bail!(
                    "profile {:?} takes its secret from the environment variable {variable}, \
                     which is not set\nfix: export {variable}=... (or AMI_SECRET) before running ami",
                    self.name
                ),
            };
        }
        if let Some(file) = &profile.secret_file {
            let file = expand_home(file);
            let text = std::fs::read_to_string(&file).with_context(|| {
                format!(
                    "profile {:?}: cannot read its secret_file {}\nfix: create the file with the \
                     secret on one line (chmod 600), or correct secret_file in {}",
                    self.name,
                    file.display(),
                    self.path.display()
                )
            })?;
            let secret = text.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                bail!(
                    "profile {:?}: its secret_file {} is empty\nfix: write the secret into it",
                    self.name,
                    file.display()
                );
            }
            return Ok(Some(Secret(secret.to_owned())));
        }
        Ok(None)
    }

    /// `tls_ca` with a leading `~/` expanded.
    pub fn tls_ca(&self) -> Option<PathBuf> {
        self.profile.tls_ca.as_deref().map(expand_home)
    }
}

/// `~/x` → `$HOME/x`; anything else unchanged.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), non_empty_env("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ami-cli-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    const SAMPLE: &str = r#"
default_profile = "lab"

[profiles.lab]
host = "127.0.0.1"
port = 5039
username = "admin"
secret_file = "SECRET_PATH"
tls = true
tls_insecure = true
auth = "md5"

[profiles.prod]
host = "pbx.example"
secret_env = "AMI_TEST_SECRET_THAT_IS_NOT_SET"
"#;

    fn write_sample(dir: &Path) -> (PathBuf, PathBuf) {
        let secret = dir.join("lab.secret");
        std::fs::write(&secret, "s3cret\n").expect("write secret");
        let config = dir.join("config.toml");
        let text = SAMPLE.replace("SECRET_PATH", &secret.display().to_string());
        std::fs::write(&config, text).expect("write config");
        (config, secret)
    }

    #[test]
    fn parses_every_field() {
        let file = parse(SAMPLE, Path::new("x.toml")).expect("valid");
        assert_eq!(file.default_profile.as_deref(), Some("lab"));
        let lab = &file.profiles["lab"];
        assert_eq!(lab.port, Some(5039));
        assert_eq!(lab.auth, Some(AuthMethod::Md5));
        assert_eq!(lab.tls, Some(true));
        assert_eq!(file.profiles["prod"].port, None);
    }

    #[test]
    fn inline_secret_is_refused_with_the_fix() {
        let error = parse("[profiles.a]\nsecret = \"x\"\n", Path::new("c.toml"))
            .expect_err("secret is not a field");
        let text = format!("{error:#}");
        assert!(text.contains("secret_file"), "{text}");
        assert!(
            !text.contains("\"x\""),
            "the secret must not be echoed: {text}"
        );
    }

    #[test]
    fn typo_names_the_file_and_lists_the_fields() {
        let error = parse("[profiles.a]\nhots = \"x\"\n", Path::new("c.toml")).expect_err("typo");
        let text = format!("{error:#}");
        assert!(text.contains("c.toml") && text.contains("hots"), "{text}");
        assert!(text.contains("fix:"), "{text}");
    }

    #[test]
    fn selects_the_default_or_named_profile_and_reads_the_secret_file() {
        let dir = temp_dir("select");
        let (config, _) = write_sample(&dir);
        let lab = select(Some(&config), None)
            .expect("ok")
            .expect("default profile");
        assert_eq!(lab.name, "lab");
        let secret = lab.read_secret().expect("readable").expect("has one");
        assert_eq!(secret.expose(), "s3cret");
        assert!(!format!("{secret:?}").contains("s3cret"));
        let prod = select(Some(&config), Some("prod"))
            .expect("ok")
            .expect("named");
        assert_eq!(prod.profile.host.as_deref(), Some("pbx.example"));
        let error = prod.read_secret().expect_err("variable not set");
        assert!(format!("{error}").contains("AMI_TEST_SECRET_THAT_IS_NOT_SET"));
    }

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let dir = temp_dir("unknown");
        let (config, _) = write_sample(&dir);
        let error = select(Some(&config), Some("staging")).expect_err("unknown");
        let text = format!("{error:#}");
        assert!(text.contains("\"staging\""), "{text}");
        assert!(text.contains("lab, prod"), "{text}");
        assert!(text.contains("fix:"), "{text}");
    }

    #[test]
    fn missing_explicit_file_is_an_error_naming_it() {
        let error = select(Some(Path::new("/nonexistent/amikit.toml")), None)
            .expect_err("explicit file must exist");
        assert!(format!("{error:#}").contains("/nonexistent/amikit.toml"));
    }

    #[test]
    fn expand_home_only_touches_a_leading_tilde() {
        let plain = Path::new("/etc/ami.secret");
        assert_eq!(expand_home(plain), plain);
        if let Some(home) = non_empty_env("HOME") {
            assert_eq!(expand_home(Path::new("~/x")), Path::new(&home).join("x"));
        }
    }
}
