//! The capture path's voice processing, on a thread of its own.
//!
//! The `aec3` crate's stages hold trait objects that are not `Send`, so a [`VoiceProcessor`]
//! cannot live in the shared capture state that the engine's and the device pump's threads
//! take turns on. It lives on one thread instead, made there, and each push hands that thread
//! its blocks and waits for them back: the push keeps its meaning (when it returns, the frames
//! it completed have been sent) and the processing adds no buffering, only the two thread
//! switches of a round trip. The same buffers travel back and forth, so a push allocates
//! nothing. With every stage off, nothing travels at all.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::audio::processing::{AudioProcessing, EchoMetrics, VoiceProcessor, BLOCK_SAMPLES};
use crate::error::{ErrorCode, VoipError};

enum Request {
    /// Far-end blocks to analyse first, then capture blocks to process in place.
    Process {
        render: Vec<f32>,
        capture: Vec<f32>,
    },
    Settings(AudioProcessing),
}

struct Reply {
    render: Vec<f32>,
    capture: Vec<f32>,
    echo: Option<EchoMetrics>,
}

pub(super) struct ProcessorThread {
    settings: AudioProcessing,
    requests: Option<SyncSender<Request>>,
    replies: Receiver<Reply>,
    echo: Option<EchoMetrics>,
    thread: Option<JoinHandle<()>>,
}

impl ProcessorThread {
    pub fn start(settings: AudioProcessing) -> Result<Self, VoipError> {
        let (requests, inbox) = sync_channel::<Request>(1);
        let (outbox, replies) = sync_channel::<Reply>(1);
        let thread = std::thread::Builder::new()
            .name("voipchat-processing".into())
            .spawn(move || {
                let mut processor = VoiceProcessor::new(settings);
                while let Ok(request) = inbox.recv() {
                    match request {
                        Request::Settings(settings) => processor.set_settings(settings),
                        Request::Process {
                            render,
                            mut capture,
                        } => {
                            for block in render.chunks_exact(BLOCK_SAMPLES) {
                                processor.analyze_render(block);
                            }
                            for block in capture.chunks_exact_mut(BLOCK_SAMPLES) {
                                processor.process_capture(block);
                            }
                            let reply = Reply {
                                render,
                                capture,
                                echo: processor.echo_metrics(),
                            };
                            if outbox.send(reply).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .map_err(|e| {
                VoipError::new(
                    ErrorCode::System,
                    format!("cannot start the voice processing thread: {e}"),
                )
            })?;
        Ok(Self {
            settings,
            requests: Some(requests),
            replies,
            echo: None,
            thread: Some(thread),
        })
    }

    /// Takes effect before the next block.
    pub fn set_settings(&mut self, settings: AudioProcessing) {
        self.settings = settings;
        if !settings.echo_cancellation {
            self.echo = None;
        }
        if let Some(requests) = &self.requests {
            let _ = requests.send(Request::Settings(settings));
        }
    }

    /// Whether the far end is wanted (the echo canceller runs).
    pub fn wants_render(&self) -> bool {
        self.settings.echo_cancellation
    }

    /// Analyses `render` (whole far-end blocks), then processes `capture` (whole blocks) in
    /// place. `render` comes back cleared. Should the thread have died, the capture passes
    /// unprocessed: a call with a raw microphone beats a call without one.
    pub fn process(&mut self, render: &mut Vec<f32>, capture: &mut Vec<f32>) {
        if self.settings.is_off() || (capture.is_empty() && render.is_empty()) {
            render.clear();
            return;
        }
        let Some(requests) = &self.requests else {
            render.clear();
            return;
        };
        let request = Request::Process {
            render: std::mem::take(render),
            capture: std::mem::take(capture),
        };
        if let Err(failed) = requests.send(request) {
            if let Request::Process {
                render: r,
                capture: c,
            } = failed.0
            {
                (*render, *capture) = (r, c);
            }
            self.requests = None;
            render.clear();
            return;
        }
        match self.replies.recv() {
            Ok(reply) => {
                (*render, *capture) = (reply.render, reply.capture);
                render.clear();
                self.echo = reply.echo;
            }
            // The buffers went down with the thread; the caller's next push starts afresh.
            Err(_) => self.requests = None,
        }
    }

    /// The echo canceller's figures as of the last block.
    pub fn echo_metrics(&self) -> Option<EchoMetrics> {
        self.echo
    }
}

impl Drop for ProcessorThread {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::processing::NoiseSuppression;
    use crate::audio::room::{rms, speech_like, RoomNoise};

    #[test]
    fn blocks_come_back_processed_and_buffers_are_reused() {
        let settings = AudioProcessing {
            echo_cancellation: false,
            noise_suppression: NoiseSuppression::VeryHigh,
            gain_control: false,
        };
        let mut thread = ProcessorThread::start(settings).unwrap();
        let noise: Vec<f32> = RoomNoise::Fan
            .generate(48_000 * 3, 9)
            .iter()
            .map(|x| x * 0.05)
            .collect();
        let (mut render, mut capture) = (Vec::new(), Vec::with_capacity(960));
        let mut out = Vec::new();
        let mut pointer = None;
        for chunk in noise.chunks(960) {
            capture.clear();
            capture.extend_from_slice(chunk);
            thread.process(&mut render, &mut capture);
            assert_eq!(capture.len(), chunk.len());
            // The same allocation comes back every time.
            let now = capture.as_ptr();
            assert!(pointer.map_or(true, |p| p == now));
            pointer = Some(now);
            out.extend_from_slice(&capture);
        }
        let last = 48_000 * 2..;
        assert!(
            rms(&out[last.clone()]) < rms(&noise[last]) / 3.0,
            "stationary noise is suppressed"
        );
    }

    #[test]
    fn everything_off_passes_the_microphone_untouched() {
        let mut thread = ProcessorThread::start(AudioProcessing::OFF).unwrap();
        let speech = speech_like(0.5, 150.0, 0.5);
        let mut capture = speech.clone();
        thread.process(&mut Vec::new(), &mut capture);
        assert_eq!(capture, speech);
        thread.set_settings(AudioProcessing::default());
        thread.process(&mut Vec::new(), &mut capture);
        assert_ne!(capture, speech, "processing on changes the signal");
        assert!(thread.echo_metrics().is_some());
    }
}
