//! CommandResponse: what a command answers, a map with the command's
//! primary name and its error (null when none) besides its own entries.

use serde_json::Value;

/// The entries keep the order they were put in, as Java's LinkedHashMap
/// does (nested objects are serde_json maps, ordered by key).
#[derive(Debug, Clone)]
pub struct CommandResponse {
    command: String,
    error: Option<String>,
    data: Vec<(String, Value)>,
}

impl CommandResponse {
    pub fn new(command: &str) -> CommandResponse {
        CommandResponse { command: command.to_string(), error: None, data: Vec::new() }
    }

    pub fn with_error(command: &str, error: &str) -> CommandResponse {
        CommandResponse { command: command.to_string(), error: Some(error.to_string()), data: Vec::new() }
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Adds an entry (replacing one of the same key in place).
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.data.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.data.push((key.to_string(), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// CommandResponse.toMap: the command's entries in the order put, then
    /// "command" and "error". An "error" entry the command put itself
    /// (leader, set_trace_mask do) keeps its place and its value.
    pub fn to_map(&self) -> Vec<(String, Value)> {
        let mut m = self.data.clone();
        m.push(("command".into(), Value::String(self.command.clone())));
        if !m.iter().any(|(k, _)| k == "error") {
            m.push(("error".into(), self.error.clone().map_or(Value::Null, Value::String)));
        }
        m
    }

    /// The answer's body as JsonOutputter writes it.
    pub fn to_json(&self) -> String {
        crate::server::admin::json_outputter::entries_to_string(&self.to_map())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_error_follow_the_entries_unless_the_command_put_an_error() {
        let mut r = CommandResponse::new("dirs");
        r.put("datadir_size", 1);
        let keys: Vec<String> = r.to_map().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["datadir_size", "command", "error"]);
        assert_eq!(r.to_map()[2].1, Value::Null);

        let mut r = CommandResponse::new("leader");
        r.put("error", "server is not initialized");
        let m = r.to_map();
        assert_eq!(m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["error", "command"]);
        assert_eq!(m[0].1, "server is not initialized");
        assert!(r.to_json().starts_with("{\n  \"error\" : \"server is not initialized\",\n  \"command\" : \"leader\"\n}"));

        let r = CommandResponse::with_error("x", "Unknown command: x");
        assert_eq!(r.to_map()[1].1, "Unknown command: x");
    }
}
