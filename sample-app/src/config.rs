//! Settings: the env var names, the command line, and the one validated `Config` they resolve to.
//!
//! Precedence: flag, then environment, then default.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Port to listen on (`--port` wins).
pub const ENV_PORT: &str = "PORT";
/// How long a SIGTERM drain may take before the process exits anyway.
pub const ENV_SHUTDOWN_TIMEOUT_MS: &str = "SHUTDOWN_TIMEOUT_MS";
/// A dependency (a sidecar on `localhost`, say): `/healthz` answers 503 while it refuses TCP.
pub const ENV_UPSTREAM_ADDR: &str = "UPSTREAM_ADDR";

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(10_000);

/// The version `/version` answers: `APP_VERSION` at compile time (a Docker build arg), else the
/// crate version. An empty `APP_VERSION` (`--build-arg APP_VERSION=`) counts as unset.
pub const VERSION: &str = match option_env!("APP_VERSION") {
    Some(version) if !version.is_empty() => version,
    _ => env!("CARGO_PKG_VERSION"),
};

pub const USAGE: &str = "\
Usage: sample-app [--bind <IP>] [--port <PORT>]

Options:
  --bind <IP>      Address to listen on [default: 0.0.0.0]
  --port <PORT>    Port to listen on; 0 picks a free one [env: PORT] [default: 8080]
  -h, --help       Print this help

Environment:
  SHUTDOWN_TIMEOUT_MS   Longest SIGTERM drain before exiting anyway [default: 10000]
  UPSTREAM_ADDR         IP:PORT that must accept TCP for /healthz to answer 200 [default: none]

Endpoints: GET /version, GET /healthz, GET /slow?ms=<N> (N capped at 30000)
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: SocketAddr,
    pub shutdown_timeout: Duration,
    /// `/healthz` is 200 only while this accepts a TCP connection.
    pub upstream: Option<SocketAddr>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Config),
    Help,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    UnknownArgument(String),
    MissingValue(&'static str),
    Invalid {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownArgument(arg) => write!(f, "unknown argument `{arg}`"),
            Self::MissingValue(flag) => write!(f, "`{flag}` needs a value"),
            Self::Invalid {
                what,
                value,
                expected,
            } => write!(f, "invalid {what} `{value}`: expected {expected}"),
        }
    }
}

/// Resolves the arguments (without the program name) and the environment into a `Config`.
/// `env` is a parameter so tests need not touch the process environment.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, ConfigError> {
    let mut bind = None;
    let mut port = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--bind" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or(ConfigError::MissingValue("--bind"))?;
                bind = Some(parse_ip("--bind", &value)?);
            }
            "--port" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or(ConfigError::MissingValue("--port"))?;
                port = Some(parse_port("--port", &value)?);
            }
            _ => return Err(ConfigError::UnknownArgument(arg)),
        }
    }
    let port = match (port, env(ENV_PORT)) {
        (Some(port), _) => port,
        (None, Some(value)) => parse_port(ENV_PORT, &value)?,
        (None, None) => DEFAULT_PORT,
    };
    let shutdown_timeout = match env(ENV_SHUTDOWN_TIMEOUT_MS) {
        Some(value) => {
            Duration::from_millis(value.trim().parse().map_err(|_| ConfigError::Invalid {
                what: ENV_SHUTDOWN_TIMEOUT_MS,
                value,
                expected: "a whole number of milliseconds",
            })?)
        }
        None => DEFAULT_SHUTDOWN_TIMEOUT,
    };
    let upstream = match env(ENV_UPSTREAM_ADDR) {
        Some(value) => Some(value.trim().parse().map_err(|_| ConfigError::Invalid {
            what: ENV_UPSTREAM_ADDR,
            value,
            expected: "an address such as 127.0.0.1:9000",
        })?),
        None => None,
    };
    let ip = bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    Ok(Parsed::Run(Config {
        addr: SocketAddr::new(ip, port),
        shutdown_timeout,
        upstream,
    }))
}

fn parse_ip(what: &'static str, value: &str) -> Result<IpAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        what,
        value: value.to_owned(),
        expected: "an IP address such as 127.0.0.1",
    })
}

fn parse_port(what: &'static str, value: &str) -> Result<u16, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        what,
        value: value.to_owned(),
        expected: "a port number from 0 to 65535",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Parsed, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse(args.iter().map(|a| (*a).to_owned()), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Parsed::Run(config)) => config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn defaults_listen_on_all_interfaces_port_8080() {
        let config = config(&[], &[]);
        assert_eq!(config.addr, "0.0.0.0:8080".parse().expect("addr"));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
    }

    #[test]
    fn port_flag_beats_port_env() {
        assert_eq!(
            config(&["--port", "9000"], &[("PORT", "9100")]).addr.port(),
            9000
        );
        assert_eq!(config(&[], &[("PORT", "9100")]).addr.port(), 9100);
    }

    #[test]
    fn upstream_is_an_address() {
        assert_eq!(config(&[], &[]).upstream, None);
        assert_eq!(
            config(&[], &[("UPSTREAM_ADDR", "127.0.0.1:9000")]).upstream,
            Some("127.0.0.1:9000".parse().expect("addr"))
        );
        assert!(run(&[], &[("UPSTREAM_ADDR", "localhost")]).is_err());
    }

    #[test]
    fn inline_values_and_bind() {
        let config = config(&["--bind=127.0.0.1", "--port=0"], &[]);
        assert_eq!(config.addr, "127.0.0.1:0".parse().expect("addr"));
    }

    #[test]
    fn shutdown_timeout_from_env() {
        let config = config(&[], &[("SHUTDOWN_TIMEOUT_MS", "250")]);
        assert_eq!(config.shutdown_timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(
            run(&["--frobnicate"], &[]),
            Err(ConfigError::UnknownArgument("--frobnicate".into()))
        );
        assert_eq!(
            run(&["--port"], &[]),
            Err(ConfigError::MissingValue("--port"))
        );
        assert!(matches!(
            run(&["--port", "70000"], &[]),
            Err(ConfigError::Invalid { what: "--port", .. })
        ));
        assert!(matches!(
            run(&[], &[("PORT", "http")]),
            Err(ConfigError::Invalid { what: "PORT", .. })
        ));
        assert!(matches!(
            run(&["--bind", "localhost"], &[]),
            Err(ConfigError::Invalid { what: "--bind", .. })
        ));
        assert!(matches!(
            run(&[], &[("SHUTDOWN_TIMEOUT_MS", "-1")]),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn help() {
        assert_eq!(run(&["--help"], &[]), Ok(Parsed::Help));
    }
}
