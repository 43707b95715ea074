//! The traffic-shift schedule of a deployment (pure): CodeDeploy's ECS deployment configurations,
//! all at once, canary and linear, turned into timed steps of "this share of traffic to green".
//!
//! CodeDeploy counts canary and linear intervals in minutes. A rehearsal on one machine need not
//! wait that long, so a "minute" lasts [`Plan::interval`] here (`--interval 2s`); the default is
//! a real minute.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How traffic moves from blue to green, as CodeDeploy's `ECS*` deployment configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `CodeDeployDefault.ECSAllAtOnce`: every request to green in one step.
    AllAtOnce,
    /// `ECSCanary{percent}Percent{minutes}Minutes`: `percent` to green, then the rest after
    /// `minutes`.
    Canary { percent: u8, minutes: u32 },
    /// `ECSLinear{percent}PercentEvery{minutes}Minutes`: `percent` more every `minutes` until all.
    Linear { percent: u8, minutes: u32 },
}

/// One step of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// From the first shift.
    pub at: Duration,
    /// Share of new requests sent to green, 0 to 100.
    pub green_percent: u8,
}

/// A strategy with the length of its "minute".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub strategy: Strategy,
    /// How long one of CodeDeploy's minutes lasts in this rehearsal.
    pub interval: Duration,
}

impl Plan {
    /// The steps, in order, the last one at 100 %.
    pub fn steps(&self) -> Vec<Step> {
        let minutes = |m: u32| self.interval.saturating_mul(m);
        match self.strategy {
            Strategy::AllAtOnce => vec![Step {
                at: Duration::ZERO,
                green_percent: 100,
            }],
            Strategy::Canary {
                percent,
                minutes: m,
            } => vec![
                Step {
                    at: Duration::ZERO,
                    green_percent: percent,
                },
                Step {
                    at: minutes(m),
                    green_percent: 100,
                },
            ],
            Strategy::Linear {
                percent,
                minutes: m,
            } => {
                // At least 1 % a step, so at most 100 steps.
                let step = percent.clamp(1, 100);
                let mut out = Vec::new();
                let mut green = 0u8;
                let mut i = 0u32;
                while green < 100 {
                    green = green.saturating_add(step).min(100);
                    out.push(Step {
                        at: minutes(m).saturating_mul(i),
                        green_percent: green,
                    });
                    i += 1;
                }
                out
            }
        }
    }

    /// From the first shift to the last.
    pub fn duration(&self) -> Duration {
        self.steps().last().map_or(Duration::ZERO, |s| s.at)
    }
}

/// Why a strategy does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a deployment strategy: {reason}\nhint: use all-at-once, canary:PCT:MINUTES, linear:PCT:MINUTES or a CodeDeploy name such as ECSCanary10Percent5Minutes or ECSLinear10PercentEvery1Minutes")]
pub struct StrategyError {
    pub input: String,
    pub reason: String,
}

impl FromStr for Strategy {
    type Err = StrategyError;

    /// `all-at-once`, `canary:10:5`, `linear:10:1`, or CodeDeploy's names with or without the
    /// `CodeDeployDefault.` prefix: `ECSAllAtOnce`, `ECSCanary10Percent5Minutes`,
    /// `ECSLinear10PercentEvery1Minutes` (any percent and minutes, as custom configurations).
    fn from_str(input: &str) -> Result<Strategy, StrategyError> {
        let err = |reason: &str| StrategyError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        let name = s.strip_prefix("CodeDeployDefault.").unwrap_or(s);
        if name.eq_ignore_ascii_case("all-at-once") || name == "ECSAllAtOnce" {
            return Ok(Strategy::AllAtOnce);
        }
        let (kind, percent, minutes) = if let Some(rest) = name.strip_prefix("ECSCanary") {
            let (p, m) = split_name(rest, "Percent", "Minutes").ok_or_else(|| {
                err("a canary name reads ECSCanary<PERCENT>Percent<MINUTES>Minutes")
            })?;
            ("canary", p, m)
        } else if let Some(rest) = name.strip_prefix("ECSLinear") {
            let (p, m) = split_name(rest, "PercentEvery", "Minutes").ok_or_else(|| {
                err("a linear name reads ECSLinear<PERCENT>PercentEvery<MINUTES>Minutes")
            })?;
            ("linear", p, m)
        } else {
            let mut parts = name.split(':');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(k), Some(p), Some(m), None)
                    if k.eq_ignore_ascii_case("canary") || k.eq_ignore_ascii_case("linear") =>
                {
                    let k = if k.eq_ignore_ascii_case("canary") {
                        "canary"
                    } else {
                        "linear"
                    };
                    (k, p, m)
                }
                _ => return Err(err("unknown form")),
            }
        };
        let percent: u8 = percent
            .trim()
            .parse()
            .ok()
            .filter(|p| (1..=99).contains(p))
            .ok_or_else(|| err("the percentage must be a whole number from 1 to 99"))?;
        let minutes: u32 = minutes
            .trim()
            .parse()
            .ok()
            .filter(|m| (1..=2880).contains(m))
            .ok_or_else(|| err("the minutes must be a whole number from 1 to 2880"))?;
        Ok(match kind {
            "canary" => Strategy::Canary { percent, minutes },
            _ => Strategy::Linear { percent, minutes },
        })
    }
}

/// `10Percent5Minutes` → ("10", "5").
fn split_name<'a>(rest: &'a str, middle: &str, end: &str) -> Option<(&'a str, &'a str)> {
    let rest = rest.strip_suffix(end)?;
    rest.split_once(middle)
}

impl fmt::Display for Strategy {
    /// CodeDeploy's name for the configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::AllAtOnce => f.write_str("ECSAllAtOnce"),
            Strategy::Canary { percent, minutes } => {
                write!(f, "ECSCanary{percent}Percent{minutes}Minutes")
            }
            Strategy::Linear { percent, minutes } => {
                write!(f, "ECSLinear{percent}PercentEvery{minutes}Minutes")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(s: &str, interval_ms: u64) -> Vec<(u64, u8)> {
        let plan = Plan {
            strategy: s.parse().expect("parses"),
            interval: Duration::from_millis(interval_ms),
        };
        plan.steps()
            .iter()
            .map(|s| (s.at.as_millis() as u64, s.green_percent))
            .collect()
    }

    #[test]
    fn all_at_once_is_one_step() {
        assert_eq!(steps("all-at-once", 1000), vec![(0, 100)]);
        assert_eq!(
            steps("CodeDeployDefault.ECSAllAtOnce", 1000),
            vec![(0, 100)]
        );
    }

    #[test]
    fn canary_shifts_then_finishes_after_its_minutes() {
        assert_eq!(
            steps("ECSCanary10Percent5Minutes", 2000),
            vec![(0, 10), (10_000, 100)]
        );
        assert_eq!(steps("canary:25:1", 300), vec![(0, 25), (300, 100)]);
    }

    #[test]
    fn linear_adds_its_share_every_interval_until_all() {
        assert_eq!(
            steps("ECSLinear10PercentEvery1Minutes", 100),
            (0..10)
                .map(|i| (i * 100, u8::try_from((i + 1) * 10).expect("small")))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            steps("linear:30:2", 1000),
            vec![(0, 30), (2000, 60), (4000, 90), (6000, 100)]
        );
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "ECSAllAtOnce",
            "ECSCanary10Percent15Minutes",
            "ECSLinear10PercentEvery3Minutes",
        ] {
            let s: Strategy = name.parse().expect("parses");
            assert_eq!(s.to_string(), name);
        }
        assert_eq!(
            "canary:10:5".parse::<Strategy>().map(|s| s.to_string()),
            Ok("ECSCanary10Percent5Minutes".to_string())
        );
    }

    #[test]
    fn refuses_bad_strategies() {
        for bad in [
            "",
            "blue-green",
            "canary:0:5",
            "canary:100:5",
            "linear:10:0",
            "canary:10",
            "canary:10:5:1",
            "ECSCanaryTenPercent5Minutes",
            "ECSLinear10Percent1Minutes",
        ] {
            let e = bad.parse::<Strategy>().expect_err(bad);
            assert!(e.to_string().contains("hint:"), "{e}");
        }
    }

    #[test]
    fn duration_is_the_last_step() {
        let plan = Plan {
            strategy: Strategy::Linear {
                percent: 50,
                minutes: 1,
            },
            interval: Duration::from_secs(1),
        };
        assert_eq!(plan.duration(), Duration::from_secs(1));
    }
}
