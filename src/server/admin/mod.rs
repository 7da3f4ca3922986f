//! The AdminServer's commands and their answers (Java's
//! org.apache.zookeeper.server.admin package); the HTTP side is
//! `server::jetty_admin_server`.

pub mod command_response;
pub mod commands;
pub mod json_outputter;
