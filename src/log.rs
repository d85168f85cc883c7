//! A minimal logging hook: the SDK and the server report through a sink the host provides
//! (a game's console, stderr for the server binary), never straight to stdout.

use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum LogLevel {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        })
    }
}

pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// A cheap, cloneable handle on an optional sink. Without a sink, logging costs one branch.
#[derive(Clone, Default)]
pub struct Logger(Option<LogSink>);

impl Logger {
    pub fn new(sink: Option<LogSink>) -> Self {
        Self(sink)
    }

    /// Writes `level: message` lines to stderr: what the server binary uses.
    pub fn stderr(max_level: LogLevel) -> Self {
        Self(Some(Arc::new(move |level, msg| {
            if level <= max_level {
                eprintln!("{level}: {msg}");
            }
        })))
    }

    pub fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        if let Some(sink) = &self.0 {
            sink(level, &message.to_string());
        }
    }

    pub fn error(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Error, message)
    }
    pub fn warn(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Warn, message)
    }
    pub fn info(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Info, message)
    }
    pub fn debug(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Debug, message)
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Logger(sink)"
        } else {
            "Logger(none)"
        })
    }
}
