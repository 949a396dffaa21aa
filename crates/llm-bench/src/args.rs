//! Tiny `--flag value` argument parsing shared by the binaries.

/// Parsed `--name value` pairs and bare `--switch`es.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Args {
    pairs: Vec<(String, Option<String>)>,
}

/// A bad command line.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArgsError {
    /// An argument not starting with `--`.
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
    /// A value that does not parse.
    #[error("invalid value `{value}` for --{name}")]
    Invalid {
        /// The flag.
        name: String,
        /// The value given.
        value: String,
    },
}

impl Args {
    /// Parses arguments; `switches` take no value.
    ///
    /// ```
    /// use llm_bench::args::Args;
    /// let args = Args::parse(["--port", "8080", "--smoke"].map(String::from), &["smoke"]).unwrap();
    /// assert_eq!(args.get::<u16>("port", 0).unwrap(), 8080);
    /// assert!(args.flag("smoke"));
    /// ```
    pub fn parse(args: impl IntoIterator<Item = String>, switches: &[&str]) -> Result<Self, ArgsError> {
        let mut pairs = Vec::new();
        let mut iter = args.into_iter();
        while let Some(arg) = iter.next() {
            let Some(name) = arg.strip_prefix("--") else { return Err(ArgsError::Unexpected(arg)) };
            if switches.contains(&name) {
                pairs.push((name.to_owned(), None));
            } else {
                pairs.push((name.to_owned(), iter.next()));
            }
        }
        Ok(Self { pairs })
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// The raw value of `--name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }

    /// The parsed value of `--name`, or `default` when absent.
    pub fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, ArgsError> {
        match self.value(name) {
            None => Ok(default),
            Some(v) => {
                v.parse().map_err(|_| ArgsError::Invalid { name: name.to_owned(), value: v.to_owned() })
            }
        }
    }
}
