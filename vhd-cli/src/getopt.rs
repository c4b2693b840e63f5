//! POSIX `getopt` as glibc implements it: short options from an option string (`n:`
//! takes an argument), clusters (`-rn name`, `-nname`), GNU permutation (options and
//! operands may be mixed; operands are collected in order), `--` ending the options, and
//! glibc's diagnostics on stderr prefixed with `argv[0]`.

/// One parsed option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// An option, with its argument if it takes one.
    Opt(char, Option<String>),
    /// An unknown option or a missing argument (getopt's `'?'`); already reported.
    Bad,
}

impl Opt {
    /// What a subcommand returns after printing its usage for this option: 0 for `-h`
    /// (help was asked for), `-EINVAL` for an option it does not take.
    pub fn usage_status(&self) -> i32 {
        if matches!(self, Opt::Opt('h', _)) {
            0
        } else {
            -libc::EINVAL
        }
    }
}

/// An iterator over the options of `args` (`args[0]` is the program name for messages).
#[derive(Debug)]
pub struct Getopt<'a> {
    args: &'a [String],
    spec: &'a str,
    idx: usize,
    /// Position inside a cluster being parsed (0 when between arguments).
    pos: usize,
    done: bool,
    operands: Vec<String>,
}

impl<'a> Getopt<'a> {
    /// Parses `args[1..]` against `spec` (e.g. `"n:s:rh"`).
    pub fn new(args: &'a [String], spec: &'a str) -> Getopt<'a> {
        Getopt {
            args,
            spec,
            idx: 1,
            pos: 0,
            done: false,
            operands: Vec::new(),
        }
    }

    /// The operands (non-option arguments) seen so far; all of them once iteration ends.
    pub fn operands(&self) -> &[String] {
        &self.operands
    }

    /// The required `-n` value, if given and no operand is left over (a leftover operand
    /// means usage, as in every subcommand but `scan`).
    pub fn with_no_operands(&self, name: Option<String>) -> Option<String> {
        name.filter(|_| self.operands.is_empty())
    }

    fn prog(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }

    /// Whether `c` is an option, and whether it takes an argument.
    fn lookup(&self, c: char) -> Option<bool> {
        if c == ':' {
            return None;
        }
        let i = self.spec.find(c)?;
        Some(self.spec[i + c.len_utf8()..].starts_with(':'))
    }
}

impl Iterator for Getopt<'_> {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        loop {
            if self.done {
                return None;
            }
            if self.pos == 0 {
                let Some(arg) = self.args.get(self.idx) else {
                    self.done = true;
                    return None;
                };
                if arg == "--" {
                    self.operands
                        .extend(self.args[self.idx + 1..].iter().cloned());
                    self.done = true;
                    return None;
                }
                if !arg.starts_with('-') || arg.len() == 1 {
                    self.operands.push(arg.clone());
                    self.idx += 1;
                    continue;
                }
                self.pos = 1;
            }
            let arg = &self.args[self.idx];
            let c = arg[self.pos..].chars().next()?;
            self.pos += c.len_utf8();
            let at_end = self.pos >= arg.len();
            let next_arg = |s: &mut Self| {
                s.idx += 1;
                s.pos = 0;
            };
            match self.lookup(c) {
                None => {
                    eprintln!("{}: invalid option -- '{c}'", self.prog());
                    if at_end {
                        next_arg(self);
                    }
                    return Some(Opt::Bad);
                }
                Some(false) => {
                    if at_end {
                        next_arg(self);
                    }
                    return Some(Opt::Opt(c, None));
                }
                Some(true) => {
                    if !at_end {
                        let value = arg[self.pos..].to_string();
                        next_arg(self);
                        return Some(Opt::Opt(c, Some(value)));
                    }
                    next_arg(self);
                    match self.args.get(self.idx) {
                        Some(v) => {
                            let v = v.clone();
                            self.idx += 1;
                            return Some(Opt::Opt(c, Some(v)));
                        }
                        None => {
                            eprintln!("{}: option requires an argument -- '{c}'", self.prog());
                            return Some(Opt::Bad);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_success_and_anything_else_is_einval() {
        assert_eq!(Opt::Opt('h', None).usage_status(), 0);
        assert_eq!(Opt::Opt('x', None).usage_status(), -libc::EINVAL);
        assert_eq!(Opt::Bad.usage_status(), -libc::EINVAL);
    }

    fn parse(args: &[&str], spec: &str) -> (Vec<Opt>, Vec<String>) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut g = Getopt::new(&args, spec);
        let opts: Vec<Opt> = g.by_ref().collect();
        (opts, g.operands().to_vec())
    }

    #[test]
    fn clusters_permutation_and_end() {
        let (o, rest) = parse(&["x", "a", "-rn", "n1", "b", "-sfoo", "--", "-r"], "n:s:rh");
        assert_eq!(
            o,
            vec![
                Opt::Opt('r', None),
                Opt::Opt('n', Some("n1".into())),
                Opt::Opt('s', Some("foo".into())),
            ]
        );
        assert_eq!(rest, vec!["a", "b", "-r"]);
    }

    #[test]
    fn errors() {
        let (o, _) = parse(&["x", "-z", "-n"], "n:h");
        assert_eq!(o, vec![Opt::Bad, Opt::Bad]);
        let (o, _) = parse(&["x", "-n", "-h"], "n:h");
        assert_eq!(o, vec![Opt::Opt('n', Some("-h".into()))]);
        let (o, rest) = parse(&["x", "-"], "n:h");
        assert!(o.is_empty());
        assert_eq!(rest, vec!["-"]);
        let (o, _) = parse(&["x", "--debug"], "n:h");
        assert_eq!(
            o,
            vec![Opt::Bad; 6],
            "every character of --debug is unknown"
        );
    }
}
