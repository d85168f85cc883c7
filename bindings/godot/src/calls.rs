//! The node's calls, without the engine: the tokio runtime, the `Client`, and the one channel
//! through which every result and event reaches the main thread. `node.rs` drains it in
//! `_process` and turns each message into signals; tests drive it against a real relay.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use voipchat::client::Completion;
use voipchat::log::Logger;
use voipchat::{
    AudioConfig, AudioMode, AudioProcessing, ChatState, Client, ClientConfig, ErrorCode,
    ReceivedFrame, VoiceEnhancement, VoipError,
};

use crate::options::{self, Connection, NodeSettings};
use crate::outcome::{CallView, Message};
use crate::value::Value;

/// How long dropping `Calls` in a call waits for a clean leave before dropping the connection.
const EXIT_ON_DROP_TIMEOUT: Duration = Duration::from_millis(500);

/// The runtime's worker threads: the session is one task; two keep it off any one core.
const WORKER_THREADS: usize = 2;

pub struct Calls {
    messages: mpsc::Receiver<Message>,
    sender: mpsc::Sender<Message>,
    runtime: Option<tokio::runtime::Runtime>,
    /// The client, and the connection it was made for.
    client: Option<(Connection, Client)>,
    view: CallView,
    /// The game's choice, given to every client made.
    enhancement: VoiceEnhancement,
    /// The microphone's processing, likewise.
    processing: AudioProcessing,
}

impl Default for Calls {
    fn default() -> Self {
        Self::new()
    }
}

fn not_in_room() -> VoipError {
    VoipError::new(ErrorCode::NotInRoom, "not in a room")
}

impl Calls {
    /// Cheap: the runtime and the client are made at the first join.
    pub fn new() -> Self {
        let (sender, messages) = mpsc::channel();
        Self {
            messages,
            sender,
            runtime: None,
            client: None,
            view: CallView::default(),
            enhancement: VoiceEnhancement::default(),
            processing: AudioProcessing::default(),
        }
    }

    /// The speech enhancer over remote members' voices: at once in a call, and in later calls.
    pub fn set_voice_enhancement(
        &mut self,
        enhancement: VoiceEnhancement,
    ) -> Result<(), VoipError> {
        self.enhancement = enhancement;
        match &self.client {
            Some((_, client)) => client.set_voice_enhancement(enhancement),
            None => Ok(()),
        }
    }

    pub fn voice_enhancement(&self) -> VoiceEnhancement {
        self.enhancement
    }

    /// The microphone's processing: from its next 10 ms in a call, and in later calls.
    pub fn set_audio_processing(&mut self, processing: AudioProcessing) {
        self.processing = processing;
        if let Some((_, client)) = &self.client {
            client.set_audio_processing(processing);
        }
    }

    pub fn audio_processing(&self) -> AudioProcessing {
        self.processing
    }

    /// Starts a join. Its outcome, failure included, is queued for a later [`Calls::drain`],
    /// never reported during this call (so GDScript can `await` the signal right after).
    /// `logger` is given to a client made for this join.
    pub fn join(&mut self, options: &Value, settings: &NodeSettings, logger: Logger) {
        if let Err(error) = self.start_join(options, settings, logger) {
            self.queue(Message::Join(Err(error)));
        }
    }

    fn start_join(
        &mut self,
        options: &Value,
        settings: &NodeSettings,
        logger: Logger,
    ) -> Result<(), VoipError> {
        let request = options::parse_join(options, settings)?;
        let sender = self.sender.clone();
        let client = self.client_for(&request.connection, logger)?;
        client.join_with(
            request.params,
            Completion::new(move |result| {
                let _ = sender.send(Message::Join(result));
            }),
        )
    }

    /// Leaves the room, or abandons a join in progress. Outcome as for [`Calls::join`].
    pub fn exit(&mut self) {
        let sender = self.sender.clone();
        let done = Completion::new(move |result| {
            let _ = sender.send(Message::Exit(result));
        });
        let outcome = match &self.client {
            Some((_, client)) => client.exit_with(done),
            None => {
                done.complete(Err(not_in_room()));
                Ok(())
            }
        };
        if let Err(error) = outcome {
            self.queue(Message::Exit(Err(error)));
        }
    }

    /// Changes what is muted. Outcome as for [`Calls::join`].
    pub fn update_mute_config(&mut self, options: &Value) {
        let outcome = options::parse_mute_update(options).and_then(|mute| {
            let Some((_, client)) = &self.client else {
                return Err(not_in_room());
            };
            let sender = self.sender.clone();
            client.update_mute_config_with(
                mute,
                Completion::new(move |result| {
                    let _ = sender.send(Message::UpdateMute(result));
                }),
            )
        });
        if let Err(error) = outcome {
            self.queue(Message::UpdateMute(Err(error)));
        }
    }

    /// Video room: receive video only from `open_id_list` (empty: from none) instead of the
    /// first two members to publish. Outcome as for [`Calls::join`]: -1006 in a voice room,
    /// -1005 outside a call.
    pub fn subscribe_video_members(&mut self, open_id_list: Vec<String>) {
        let sender = self.sender.clone();
        let done = Completion::new(move |result| {
            let _ = sender.send(Message::SubscribeVideo(result));
        });
        let outcome = match &self.client {
            Some((_, client)) => client.subscribe_video_members_with(open_id_list, done),
            None => {
                done.complete(Err(not_in_room()));
                Ok(())
            }
        };
        if let Err(error) = outcome {
            self.queue(Message::SubscribeVideo(Err(error)));
        }
    }

    /// Video room: one camera frame, RGBA8 `width * 4` bytes a row, top row first (an
    /// `Image`'s data), scaled, encoded and sent at once. -1001 for a bad frame (checked
    /// first, in any room), -1006 in a voice room, -1005 outside a call.
    pub fn push_video_frame(&self, width: u32, height: u32, rgba: &[u8]) -> Result<(), VoipError> {
        let picture = crate::video::picture_from_rgba(width, height, rgba)?;
        match &self.client {
            Some((_, client)) => client.push_video_frame(&picture),
            None => Err(not_in_room()),
        }
    }

    /// The latest picture of the member `open_id` while in a call.
    pub fn latest_video_frame(&self, open_id: &str) -> Option<ReceivedFrame> {
        self.client_in_call()?.latest_video_frame(open_id)
    }

    /// Everything queued since the last call, in order, with the view updated for all of it.
    pub fn drain(&mut self) -> Vec<Message> {
        let mut queued = Vec::new();
        while let Ok(message) = self.messages.try_recv() {
            self.view.apply(&message);
            queued.push(message);
        }
        queued
    }

    pub fn view(&self) -> &CallView {
        &self.view
    }

    /// The client while in a call: what audio is pushed to and pulled from.
    pub fn client_in_call(&self) -> Option<&Client> {
        self.client
            .as_ref()
            .map(|(_, client)| client)
            .filter(|_| self.view.in_call())
    }

    /// The call's statistics (an empty dictionary before the first join).
    pub fn stats(&self) -> Value {
        match &self.client {
            Some((_, client)) => Value::from_json_text(&client.stats_json()),
            None => Value::dict::<&str>([]),
        }
    }

    fn queue(&self, message: Message) {
        let _ = self.sender.send(message);
    }

    /// The client for `connection`: the current one if it was made for it (or is busy in a
    /// call, which then answers -1), else a new one.
    fn client_for(
        &mut self,
        connection: &Connection,
        logger: Logger,
    ) -> Result<&Client, VoipError> {
        let reusable = self.client.as_ref().is_some_and(|(made_for, client)| {
            made_for == connection || !matches!(client.state(), ChatState::Idle | ChatState::Left)
        });
        if !reusable {
            self.client = None;
            let runtime = self.runtime()?.handle().clone();
            let mut config = ClientConfig::new(connection.server.clone());
            config.server_cert_sha256 = connection.server_cert_sha256.clone();
            config.audio = AudioConfig {
                mode: AudioMode::External,
                frame_ms: connection.frame_ms,
            };
            config.logger = logger;
            let sender = self.sender.clone();
            let client = Client::with_runtime(
                config,
                runtime,
                Arc::new(move |event| {
                    let _ = sender.send(Message::Event(event));
                }),
            )?;
            client.set_voice_enhancement(self.enhancement)?;
            client.set_audio_processing(self.processing);
            self.client = Some((connection.clone(), client));
        }
        Ok(&self.client.as_ref().expect("set above").1)
    }

    fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, VoipError> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKER_THREADS)
                .thread_name("voipchat")
                .enable_all()
                .build()
                .map_err(|e| {
                    VoipError::new(ErrorCode::System, format!("cannot start the runtime: {e}"))
                })?;
            self.runtime = Some(runtime);
        }
        Ok(self.runtime.as_ref().expect("set above"))
    }
}

impl Drop for Calls {
    /// Leaves the call cleanly (briefly blocking the thread that frees the node) when dropped
    /// in a call, then lets the runtime's threads wind down without waiting for them.
    fn drop(&mut self) {
        if let (Some(runtime), Some((_, client))) = (&self.runtime, &self.client) {
            if !matches!(client.state(), ChatState::Idle | ChatState::Left) {
                let _ = runtime.block_on(async {
                    tokio::time::timeout(EXIT_ON_DROP_TIMEOUT, client.exit()).await
                });
            }
        }
        self.client = None;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
