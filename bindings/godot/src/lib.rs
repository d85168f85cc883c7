//! voipchat for Godot 4: a GDExtension (through godot-rust) with one node, `VoipChat`.
//!
//! The engine-free logic is split from the engine-facing node so it is unit-tested without a
//! running Godot:
//!
//! - [`value`]: an engine-free picture of a `Variant`;
//! - [`options`]: GDScript's option dictionaries into voipchat's join and mute parameters;
//! - [`calls`]: the runtime, the client and the channel every result and event arrives on;
//! - [`outcome`]: those results and events into signals and their arguments;
//! - [`pump`]: the arithmetic of moving audio once per frame;
//! - [`video`]: camera images into pictures, and each shown member's latest picture, kept
//!   only when it changed.
//!
//! `convert` and `node` are the engine-facing side. `tests/two_players.rs` drives the
//! engine-free side against a real relay: two players join, talk and leave, and two exchange
//! video in a video room.

pub mod calls;
mod convert;
mod node;
pub mod options;
pub mod outcome;
pub mod pump;
pub mod value;
pub mod video;

use godot::prelude::{gdextension, ExtensionLibrary};

pub use node::VoipChat;

/// The library Godot loads; its entry symbol is godot-rust's default, `gdext_rust_init`.
struct VoipChatExtension;

#[gdextension]
unsafe impl ExtensionLibrary for VoipChatExtension {}
