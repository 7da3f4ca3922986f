//! CommandResponse: what a command answers, a map with the command's
//! primary name and its error (null when none) besides its own entries.

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct CommandResponse {
    command: String,
    error: Option<String>,
    data: Map<String, Value>,
}

impl CommandResponse {
    pub fn new(command: &str) -> CommandResponse {
        CommandResponse { command: command.to_string(), error: None, data: Map::new() }
    }

    pub fn with_error(command: &str, error: &str) -> CommandResponse {
        CommandResponse { command: command.to_string(), error: Some(error.to_string()), data: Map::new() }
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Adds an entry (replacing one of the same key in place).
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.data.insert(key.to_string(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// CommandResponse.toMap: the command's entries in the order put, then
    /// "command" and "error". An "error" entry the command put itself
    /// (leader, set_trace_mask do) keeps its place and its value.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = self.data.clone();
        m.insert("command".into(), Value::String(self.command.clone()));
        if !m.contains_key("error") {
            m.insert("error".into(), self.error.clone().map_or(Value::Null, Value::String));
        }
        m
    }

    /// The answer's body as JsonOutputter writes it.
    pub fn to_json(&self) -> String {
        crate::server::admin::json_outputter::to_string(&Value::Object(self.to_map()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_error_follow_the_entries_unless_the_command_put_an_error() {
        let mut r = CommandResponse::new("dirs");
        r.put("datadir_size", 1);
        let keys: Vec<String> = r.to_map().keys().cloned().collect();
        assert_eq!(keys, ["datadir_size", "command", "error"]);
        assert_eq!(r.to_map()["error"], Value::Null);

        let mut r = CommandResponse::new("leader");
        r.put("error", "server is not initialized");
        let m = r.to_map();
        assert_eq!(m.keys().cloned().collect::<Vec<_>>(), ["error", "command"]);
        assert_eq!(m["error"], "server is not initialized");

        let r = CommandResponse::with_error("x", "Unknown command: x");
        assert_eq!(r.to_map()["error"], "Unknown command: x");
    }
}
