//! A small flag parser: `--name value` pairs and at most one positional argument.

use std::collections::HashMap;
use std::io::Read;

pub struct Args {
    flags: HashMap<String, String>,
    pub positional: Option<String>,
}

impl Args {
    /// Parses `args`, accepting only the flags in `known` (each takes a value).
    pub fn parse(args: &[String], known: &[&str]) -> Result<Args, String> {
        let mut flags = HashMap::new();
        let mut positional = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (name, None),
                };
                if !known.contains(&name) {
                    return Err(format!("unknown flag --{name}"));
                }
                let value = match inline {
                    Some(v) => v,
                    None => it.next().cloned().ok_or_else(|| format!("--{name} needs a value"))?,
                };
                flags.insert(name.to_string(), value);
            } else if positional.replace(a.clone()).is_some() {
                return Err(format!("unexpected argument '{a}'"));
            }
        }
        Ok(Args { flags, positional })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    /// Reads the positional FILE, or standard input for none or `-`.
    pub fn read_input(&self) -> Result<Vec<u8>, String> {
        match self.positional.as_deref() {
            None | Some("-") => {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("reading standard input: {e}"))?;
                Ok(buf)
            }
            Some(path) => std::fs::read(path).map_err(|e| format!("reading {path}: {e}")),
        }
    }
}
