//! The JAAS login configuration file (javax.security.auth.login.Configuration
//! as the JDK's ConfigFile reads it): the file named by the system property
//! `java.security.auth.login.config`, made of sections
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_bob="bobsecret";            // an option: key=value
//! };
//! ```
//!
//! each a list of entries (login module class, control flag, options with
//! bare or double-quoted values, `;`), with `//` and `/* */` comments. Read
//! once by the main thread at start-up; the server keeps what the `Server`
//! section says.

use std::path::Path;

/// One login module line of a section (AppConfigurationEntry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfigurationEntry {
    /// The login module's class name.
    pub login_module_name: String,
    /// REQUIRED, REQUISITE, SUFFICIENT or OPTIONAL.
    pub control_flag: String,
    /// The options in file order (a later duplicate key wins in `option`).
    pub options: Vec<(String, String)>,
}

impl AppConfigurationEntry {
    /// The value of option `key`, as the JDK's map keeps the last one.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A parsed JAAS file: section name -> entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JaasConfiguration {
    sections: Vec<(String, Vec<AppConfigurationEntry>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

/// Splits the file into words, quoted strings and punctuation, skipping
/// whitespace and comments. Errors name the line.
fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '$' | '_' | '-' | '*' | '.');
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' => match chars.peek() {
                Some('*') => {
                    chars.next();
                    let start = line;
                    let mut prev = ' ';
                    loop {
                        match chars.next() {
                            None => return Err(format!("line {start}: comment not closed")),
                            Some('/') if prev == '*' => break,
                            Some(ch) => {
                                if ch == '\n' {
                                    line += 1;
                                }
                                prev = ch;
                            }
                        }
                    }
                }
                // "//" and, as in the JDK's tokenizer, a lone '/' comment
                // out the rest of the line.
                _ => {
                    for ch in chars.by_ref() {
                        if ch == '\n' {
                            line += 1;
                            break;
                        }
                    }
                }
            },
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None | Some('\n') => return Err(format!("line {line}: quoted string not closed")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            None => return Err(format!("line {line}: quoted string not closed")),
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(other) => s.push(other),
                        },
                        Some(ch) => s.push(ch),
                    }
                }
                out.push((Token::Quoted(s), line));
            }
            '{' | '}' | ';' | '=' => out.push((Token::Punct(c), line)),
            c if is_word(c) => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !is_word(n) {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                out.push((Token::Word(s), line));
            }
            other => return Err(format!("line {line}: unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn line(&self) -> String {
        match self.tokens.get(self.pos).or(self.tokens.last()) {
            Some((_, l)) => format!("line {l}"),
            None => "end of file".to_string(),
        }
    }

    fn next(&mut self, expected: &str) -> Result<Token, String> {
        match self.tokens.get(self.pos) {
            Some((t, _)) => {
                self.pos += 1;
                Ok(t.clone())
            }
            None => Err(format!("expected {expected}, found the end of the file")),
        }
    }

    fn punct(&mut self, c: char) -> Result<(), String> {
        let at = self.line();
        match self.next(&format!("'{c}'"))? {
            Token::Punct(p) if p == c => Ok(()),
            t => Err(format!("{at}: expected '{c}', found {t:?}")),
        }
    }

    fn word(&mut self, what: &str, quoted_ok: bool) -> Result<String, String> {
        let at = self.line();
        match self.next(what)? {
            Token::Word(w) => Ok(w),
            Token::Quoted(q) if quoted_ok => Ok(q),
            t => Err(format!("{at}: expected {what}, found {t:?}")),
        }
    }
}

impl JaasConfiguration {
    /// Parses the text of a JAAS file.
    pub fn parse(text: &str) -> Result<JaasConfiguration, String> {
        let mut p = Parser { tokens: tokenize(text)?, pos: 0 };
        let mut sections: Vec<(String, Vec<AppConfigurationEntry>)> = Vec::new();
        while p.peek().is_some() {
            let at = p.line();
            let name = p.word("a section name", true)?;
            p.punct('{')?;
            let mut entries = Vec::new();
            while p.peek() != Some(&Token::Punct('}')) {
                let login_module_name = p.word("a login module class", false)?;
                let at_flag = p.line();
                let flag = p.word("a control flag", false)?.to_ascii_uppercase();
                if !matches!(flag.as_str(), "REQUIRED" | "REQUISITE" | "SUFFICIENT" | "OPTIONAL") {
                    return Err(format!("{at_flag}: invalid control flag {flag:?}"));
                }
                let mut options = Vec::new();
                while p.peek() != Some(&Token::Punct(';')) {
                    let key = p.word("an option key or ';'", false)?;
                    p.punct('=')?;
                    let at_value = p.line();
                    let value = p.word("an option value", true)?;
                    if value.contains("${") {
                        return Err(format!(
                            "{at_value}: option {key}: property expansion (${{...}}) is not supported"
                        ));
                    }
                    options.push((key, value));
                }
                p.punct(';')?;
                entries.push(AppConfigurationEntry { login_module_name, control_flag: flag, options });
            }
            p.punct('}')?;
            p.punct(';')?;
            if sections.iter().any(|(n, _)| *n == name) {
                return Err(format!("{at}: section {name:?} appears more than once"));
            }
            sections.push((name, entries));
        }
        Ok(JaasConfiguration { sections })
    }

    /// Reads and parses a JAAS file; the error names the file.
    pub fn read(path: &Path) -> Result<JaasConfiguration, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        JaasConfiguration::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// getAppConfigurationEntry(name): the section's entries, if it exists.
    pub fn entries(&self, name: &str) -> Option<&[AppConfigurationEntry]> {
        self.sections.iter().find(|(n, _)| n == name).map(|(_, e)| e.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_entries_and_options() {
        let text = r#"
            /* a block
               comment */
            Server {
                org.apache.zookeeper.server.auth.DigestLoginModule required
                user_super="adminsecret"   // the super user
                user_bob="bob\"secret";
                com.sun.security.auth.module.Krb5LoginModule Optional useKeyTab=true
                  keyTab="/etc/zk.keytab" principal="zookeeper/host@EXAMPLE.COM";
            };
            "Client" { org.apache.zookeeper.server.auth.DigestLoginModule required username=bob password="x"; };
            Empty { };
        "#;
        let c = JaasConfiguration::parse(text).unwrap();
        let s = c.entries("Server").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].login_module_name, "org.apache.zookeeper.server.auth.DigestLoginModule");
        assert_eq!(s[0].control_flag, "REQUIRED");
        assert_eq!(s[0].option("user_super"), Some("adminsecret"));
        assert_eq!(s[0].option("user_bob"), Some("bob\"secret"));
        assert_eq!(s[1].control_flag, "OPTIONAL");
        assert_eq!(s[1].option("useKeyTab"), Some("true"));
        assert_eq!(s[1].option("principal"), Some("zookeeper/host@EXAMPLE.COM"));
        assert_eq!(c.entries("Client").unwrap()[0].option("username"), Some("bob"));
        assert_eq!(c.entries("Empty").unwrap().len(), 0);
        assert!(c.entries("server").is_none(), "section names are case-sensitive");
    }

    #[test]
    fn malformed_files_are_refused_with_the_line() {
        for (text, wanted) in [
            ("Server { m required a=\"b\" }; ", "expected an option key"),
            ("Server { m sometimes; };", "invalid control flag"),
            ("Server { m required a=\"b;\n };", "not closed"),
            ("Server { m required a=; };", "expected an option value"),
            ("Server { m required; }", "expected ';'"),
            ("Server { };\nServer { };", "more than once"),
            ("Server { m required a=\"${user.home}\"; };", "property expansion"),
            ("/* open", "comment not closed"),
            ("Server [ ];", "unexpected character"),
        ] {
            let e = JaasConfiguration::parse(text).unwrap_err();
            assert!(e.contains(wanted), "{text:?}: {e}");
        }
    }
}
