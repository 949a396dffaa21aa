use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How often a budget resets, from LiteLLM's duration strings: `30s`, `15m`, `1h`, `1d`, `30d`,
/// `1w`, `1mo` (a month counts as 30 days).
///
/// ```
/// use std::time::Duration;
/// use llm_cost::BudgetWindow;
/// assert_eq!("30d".parse::<BudgetWindow>().unwrap().period(), Duration::from_secs(30 * 86_400));
/// assert_eq!("1mo".parse::<BudgetWindow>().unwrap().period(), Duration::from_secs(30 * 86_400));
/// assert!("0d".parse::<BudgetWindow>().is_err());
/// assert!("soon".parse::<BudgetWindow>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BudgetWindow(Duration);

/// A duration string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid budget duration `{0}` (expected e.g. `30s`, `15m`, `1h`, `1d`, `1w`, `1mo`)")]
pub struct InvalidDuration(String);

impl BudgetWindow {
    /// A window of `period` (`None` for zero).
    pub fn new(period: Duration) -> Option<Self> {
        (!period.is_zero()).then_some(Self(period))
    }

    /// The window's length.
    pub fn period(&self) -> Duration {
        self.0
    }
}

impl FromStr for BudgetWindow {
    type Err = InvalidDuration;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDuration(s.to_owned());
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = t[..digits].parse().map_err(|_| invalid())?;
        let unit_secs: u64 = match t[digits..].trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "mo" => 30 * 86_400,
            _ => return Err(invalid()),
        };
        let secs = n.checked_mul(unit_secs).ok_or_else(invalid)?;
        Self::new(Duration::from_secs(secs)).ok_or_else(invalid)
    }
}

impl fmt::Display for BudgetWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs())
    }
}
