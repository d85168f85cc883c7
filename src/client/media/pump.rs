//! Device mode: a thread that moves audio between the cpal devices' rings and the call.
//!
//! The device callbacks only copy samples in and out of lock-free rings (see
//! `audio::device`); everything that may allocate, lock or decode happens here, on a thread of
//! our own, through the same `push_capture` / `pull_playback` the game engines use.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Media;
use crate::audio::device::{CaptureDevice, PlaybackDevice};
use crate::error::{ErrorCode, VoipError};

/// How often the pump runs: well under a 10 ms frame, so capture is framed promptly.
const PERIOD: Duration = Duration::from_millis(2);
/// Playback is kept this far ahead of the device: enough to ride out the pump's scheduling
/// jitter on a loaded machine, little enough to add no audible delay.
const PLAYBACK_AHEAD_MS: u32 = 20;
/// Ring sizes, in milliseconds of device audio.
const RING_MS: u32 = 200;

pub(super) struct DevicePump {
    stop: Arc<AtomicBool>,
    failure: Arc<OnceLock<String>>,
    thread: Option<JoinHandle<()>>,
}

impl DevicePump {
    /// Opens both devices (a capture device that cannot be opened is -2) and starts pumping.
    pub fn start(
        media: Arc<Media>,
        input: Option<&str>,
        output: Option<&str>,
    ) -> Result<DevicePump, VoipError> {
        // Generous ring sizes: the format is unknown until the device is open.
        let frames = (192_000 * RING_MS / 1000) as usize;
        let (capture, mut from_mic, mic_format) = CaptureDevice::open(input, frames)?;
        let (speaker, mut to_speaker, speaker_format) = PlaybackDevice::open(output, frames)
            .map_err(|e| {
                VoipError::new(
                    ErrorCode::DeviceBusy,
                    format!("playback device: {}", e.reason),
                )
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(OnceLock::new());
        let (stop_flag, failed) = (stop.clone(), failure.clone());
        let thread = std::thread::Builder::new()
            .name("voipchat-audio".into())
            .spawn(move || {
                let mic_channels = usize::from(mic_format.channels);
                let speaker_channels = usize::from(speaker_format.channels);
                let ahead = (speaker_format.sample_rate * PLAYBACK_AHEAD_MS / 1000) as usize
                    * speaker_channels;
                let mut captured = Vec::with_capacity(frames);
                let mut playback = Vec::with_capacity(ahead);
                while !stop_flag.load(Ordering::SeqCst) {
                    if let Some(reason) = capture.failed().or_else(|| speaker.failed()) {
                        let _ = failed.set(reason);
                        break;
                    }
                    // Capture: whole frames only, so channels never slip.
                    let available = from_mic.slots() / mic_channels * mic_channels;
                    if available > 0 {
                        if let Ok(chunk) = from_mic.read_chunk(available) {
                            captured.clear();
                            let (a, b) = chunk.as_slices();
                            captured.extend_from_slice(a);
                            captured.extend_from_slice(b);
                            chunk.commit_all();
                            let _ = media.push_capture(
                                &captured,
                                mic_format.sample_rate,
                                mic_format.channels,
                            );
                        }
                    }
                    // Playback: top the ring up to `ahead` samples.
                    let queued = to_speaker.buffer().capacity() - to_speaker.slots();
                    if queued < ahead {
                        let missing = (ahead - queued) / speaker_channels * speaker_channels;
                        playback.resize(missing, 0.0);
                        if media
                            .pull_playback(
                                &mut playback,
                                speaker_format.sample_rate,
                                speaker_format.channels,
                            )
                            .is_ok()
                        {
                            if let Ok(mut chunk) = to_speaker.write_chunk(missing) {
                                let (a, b) = chunk.as_mut_slices();
                                let (first, second) = playback.split_at(a.len());
                                a.copy_from_slice(first);
                                b.copy_from_slice(second);
                                chunk.commit_all();
                            }
                        }
                    }
                    std::thread::sleep(PERIOD);
                }
                drop(capture);
                drop(speaker);
            })
            .map_err(|e| {
                VoipError::new(
                    ErrorCode::System,
                    format!("cannot start the audio thread: {e}"),
                )
            })?;
        Ok(DevicePump {
            stop,
            failure,
            thread: Some(thread),
        })
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }
}

impl Drop for DevicePump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
