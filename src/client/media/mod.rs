//! A client's audio: the capture pipeline and the playback streams of the current call, the
//! edges where the game engine (or the device pump) hands samples in and takes them out, and
//! the statistics. One `Media` lives as long as its `Client`; each session attaches its
//! connection while the call lasts.
//!
//! Locking: the capture side and the playback side each have one mutex, held for the duration
//! of one push or pull (conversion, voice processing, VAD and encode; or jitter buffer, decode
//! and mix). They are contended only by the network task filing a received packet, which holds
//! the playback lock for a few map operations. Device callbacks never touch them (see `pump`).
//! The echo canceller's reference (`far_end`) has a third, innermost lock: a pull holds it to
//! add what it handed out, a push to take the blocks ready.

mod capture;
mod far_end;
mod playback;
mod processor;
mod pump;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

use crate::audio::codec::{expected_loss_for, VoiceEnhancement};
use crate::audio::processing::{AudioProcessing, BLOCK_SAMPLES};
use crate::audio::resample::{CaptureConverter, PlaybackConverter};
use crate::audio::{frame_samples, SAMPLE_RATE};
use crate::error::{ErrorCode, VoipError};
use crate::net::media::decode_downlink;
use crate::types::MuteConfig;
// The sans-IO halves are public so benchmarks and tools drive the very code a call runs.
pub use capture::{vad_decides, CapturePipeline, CaptureStats};
pub use playback::{MemberStats, Playback};

use far_end::{Consumer, FarEnd};
use processor::ProcessorThread;

/// The loss assumed of a newcomer's link until it reports (per mille): enough for the encoder
/// to put FEC in its packets ([`expected_loss_for`] gives 10 %). On a clean link that costs
/// about a second of slightly coarser frames (PESQ 3.81 against 4.03 while it lasts,
/// BENCHMARKS.md); on a lossy one, the loss before its first report cost up to a PESQ point
/// on the first words.
const UNMEASURED_LINK_LOSS_PERMILLE: u16 = 50;

/// Where a client's audio comes from and goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioMode {
    /// The system's devices through cpal; `None` is the default device.
    Device {
        input: Option<String>,
        output: Option<String>,
    },
    /// The game engine pushes capture and pulls playback (Unity, Godot, tests).
    External,
}

/// The audio settings of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    pub mode: AudioMode,
    /// 10 or 20: shorter frames cut latency, longer ones bytes and CPU.
    pub frame_ms: u32,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            mode: AudioMode::External,
            frame_ms: 20,
        }
    }
}

pub(crate) fn check_format(rate: u32, channels: u16) -> Result<(), VoipError> {
    if !(8_000..=192_000).contains(&rate) || !(1..=8).contains(&channels) {
        return Err(VoipError::new(
            ErrorCode::InvalidArgument,
            format!("unsupported audio format: {rate} Hz, {channels} channels (8000-192000 Hz, 1-8 channels)"),
        ));
    }
    Ok(())
}

struct CaptureSide {
    converter: Option<CaptureConverter>,
    mono: Vec<f32>,
    /// The game's choice, kept across calls.
    processing: AudioProcessing,
    processor: Option<ProcessorThread>,
    /// Converted samples waiting for a whole 10 ms block. Blocks and frames both count from
    /// the call's first sample, so a frame is complete when its last block is: the blocking
    /// adds no delay.
    unprocessed: Vec<f32>,
    /// The whole blocks of one push, and the far-end blocks released before them.
    blocks: Vec<f32>,
    render: Vec<f32>,
    pipeline: Option<CapturePipeline>,
    connection: Option<quinn::Connection>,
    sent_before: CaptureStats,
}

/// One consumer of playback at one format, with its own converter and the samples it
/// converted but has not taken yet. Public so that benchmarks drive the very output path a
/// call runs.
pub struct OutputTap {
    converter: PlaybackConverter,
    ready: VecDeque<f32>,
}

impl OutputTap {
    pub fn new(rate: u32, channels: u16) -> Result<Self, VoipError> {
        Ok(Self {
            converter: PlaybackConverter::new(rate, channels)
                .map_err(|e| VoipError::new(ErrorCode::InvalidArgument, e))?,
            ready: VecDeque::new(),
        })
    }

    fn matches(&self, rate: u32, channels: u16) -> bool {
        self.converter.output_rate() == rate && self.converter.channels() == channels
    }

    /// Fills `out` (interleaved) by rendering 48 kHz mono audio as needed and converting it.
    /// `mono` and `converted` are scratch buffers, kept by the caller so nothing is allocated
    /// per call.
    pub fn fill(
        &mut self,
        out: &mut [f32],
        mono: &mut Vec<f32>,
        converted: &mut Vec<f32>,
        mut render: impl FnMut(&mut [f32]),
    ) {
        let channels = usize::from(self.converter.channels());
        let rate = self.converter.output_rate() as usize;
        if self.converter.is_passthrough() && channels == 1 && self.ready.is_empty() {
            return render(out);
        }
        while self.ready.len() < out.len() {
            let missing_frames = (out.len() - self.ready.len()).div_ceil(channels);
            let needed = (missing_frames * SAMPLE_RATE as usize)
                .div_ceil(rate)
                .max(1);
            mono.resize(needed, 0.0);
            render(mono);
            converted.clear();
            self.converter.push(mono, converted);
            self.ready.extend(converted.iter());
        }
        let n = out.len();
        for (o, s) in out.iter_mut().zip(self.ready.drain(..n)) {
            *o = s;
        }
    }
}

struct PlaybackSide {
    playback: Option<Playback>,
    /// The game's choice, kept across calls.
    enhancement: VoiceEnhancement,
    mix: Option<OutputTap>,
    members: HashMap<String, OutputTap>,
    mono: Vec<f32>,
    converted: Vec<f32>,
}

impl PlaybackSide {
    fn tap(
        slot: &mut Option<OutputTap>,
        rate: u32,
        channels: u16,
    ) -> Result<&mut OutputTap, VoipError> {
        if !slot.as_ref().is_some_and(|t| t.matches(rate, channels)) {
            *slot = Some(OutputTap::new(rate, channels)?);
        }
        Ok(slot.as_mut().expect("just set"))
    }
}

pub(crate) struct Media {
    config: AudioConfig,
    frame_samples: usize,
    epoch: Instant,
    mute_microphone: AtomicBool,
    mute_earphone: AtomicBool,
    local_speaking: AtomicBool,
    /// Whether pulls feed `far_end`: in a call with the echo canceller on.
    echo_reference: AtomicBool,
    capture: Mutex<CaptureSide>,
    playback: Mutex<PlaybackSide>,
    far_end: Mutex<FarEnd>,
    devices: Mutex<Option<pump::DevicePump>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Media {
    pub fn new(config: AudioConfig) -> Result<Arc<Media>, VoipError> {
        if !matches!(config.frame_ms, 10 | 20) {
            return Err(VoipError::new(
                ErrorCode::InvalidArgument,
                format!("frame_ms must be 10 or 20, not {}", config.frame_ms),
            ));
        }
        Ok(Arc::new(Media {
            frame_samples: frame_samples(config.frame_ms),
            config,
            epoch: Instant::now(),
            mute_microphone: AtomicBool::new(false),
            mute_earphone: AtomicBool::new(false),
            local_speaking: AtomicBool::new(false),
            echo_reference: AtomicBool::new(false),
            capture: Mutex::new(CaptureSide {
                converter: None,
                mono: Vec::new(),
                processing: AudioProcessing::default(),
                processor: None,
                unprocessed: Vec::with_capacity(4 * BLOCK_SAMPLES),
                blocks: Vec::with_capacity(4 * BLOCK_SAMPLES),
                render: Vec::with_capacity(8 * BLOCK_SAMPLES),
                pipeline: None,
                connection: None,
                sent_before: CaptureStats::default(),
            }),
            playback: Mutex::new(PlaybackSide {
                playback: None,
                enhancement: VoiceEnhancement::default(),
                mix: None,
                members: HashMap::new(),
                mono: Vec::new(),
                converted: Vec::new(),
            }),
            far_end: Mutex::new(FarEnd::default()),
            devices: Mutex::new(None),
        }))
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// In device mode, opens the devices (before the join touches the network, so a busy
    /// microphone fails the join with -2). Nothing to do in external mode.
    pub fn open_devices(self: &Arc<Self>) -> Result<(), VoipError> {
        let AudioMode::Device { input, output } = &self.config.mode else {
            return Ok(());
        };
        let pump = pump::DevicePump::start(self.clone(), input.as_deref(), output.as_deref())?;
        *lock(&self.devices) = Some(pump);
        Ok(())
    }

    /// Why the devices stopped, if they did mid-call.
    pub fn device_failure(&self) -> Option<String> {
        lock(&self.devices).as_ref().and_then(|p| p.failure())
    }

    /// Starts sending and receiving on `connection` for a call with `members` (source ids and
    /// open ids, our own `me` included).
    pub fn attach(
        &self,
        connection: quinn::Connection,
        members: &[(u32, String)],
        me: Option<u32>,
        mute: MuteConfig,
    ) -> Result<(), VoipError> {
        self.set_mute(mute);
        {
            let mut capture = lock(&self.capture);
            if capture.pipeline.is_none() {
                capture.pipeline = Some(CapturePipeline::new(self.frame_samples)?);
                capture.processor = Some(ProcessorThread::start(capture.processing)?);
                capture.unprocessed.clear();
                lock(&self.far_end).clear();
                self.echo_reference
                    .store(capture.processing.echo_cancellation, Ordering::SeqCst);
            }
            capture.connection = Some(connection);
        }
        let mut playback = lock(&self.playback);
        let enhancement = playback.enhancement;
        let stream = playback.playback.get_or_insert_with(Playback::new);
        stream.set_enhancement(enhancement)?;
        stream.set_members(members, me);
        Ok(())
    }

    /// The speech enhancer every remote member's stream runs, from its next frame on; kept for
    /// later calls.
    pub fn set_voice_enhancement(&self, enhancement: VoiceEnhancement) -> Result<(), VoipError> {
        let mut side = lock(&self.playback);
        side.enhancement = enhancement;
        match side.playback.as_mut() {
            Some(playback) => playback.set_enhancement(enhancement),
            None => Ok(()),
        }
    }

    /// The capture path's processing, from the next 10 ms block on; kept for later calls.
    pub fn set_audio_processing(&self, settings: AudioProcessing) {
        let mut capture = lock(&self.capture);
        capture.processing = settings;
        if let Some(processor) = capture.processor.as_mut() {
            processor.set_settings(settings);
            self.echo_reference
                .store(settings.echo_cancellation, Ordering::SeqCst);
        }
    }

    pub fn audio_processing(&self) -> AudioProcessing {
        lock(&self.capture).processing
    }

    pub fn set_members(&self, members: &[(u32, String)], me: Option<u32>) {
        if let Some(playback) = lock(&self.playback).playback.as_mut() {
            playback.set_members(members, me);
        }
    }

    /// Ends the call's audio: nothing more is sent, playback falls silent, devices close.
    pub fn detach(&self) {
        {
            let mut capture = lock(&self.capture);
            if let Some(pipeline) = capture.pipeline.take() {
                let stats = pipeline.stats();
                capture.sent_before.packets_sent += stats.packets_sent;
                capture.sent_before.bytes_sent += stats.bytes_sent;
                capture.sent_before.repeats_sent += stats.repeats_sent;
                capture.sent_before.frames += stats.frames;
            }
            capture.processor = None;
            capture.connection = None;
        }
        self.echo_reference.store(false, Ordering::SeqCst);
        lock(&self.far_end).clear();
        {
            let mut playback = lock(&self.playback);
            playback.playback = None;
            playback.members.clear();
        }
        self.local_speaking.store(false, Ordering::SeqCst);
        let pump = lock(&self.devices).take();
        drop(pump); // joins the pump thread outside the lock
    }

    /// Takes effect on the next frame: the flags are read on every push and pull.
    pub fn set_mute(&self, mute: MuteConfig) {
        self.mute_microphone
            .store(mute.mute_microphone, Ordering::SeqCst);
        self.mute_earphone
            .store(mute.mute_earphone, Ordering::SeqCst);
        if mute.mute_microphone {
            self.local_speaking.store(false, Ordering::SeqCst);
        }
    }

    /// Files a datagram from the relay with the playback of its member.
    pub fn receive(&self, datagram: &[u8]) {
        let Some((source, header, payload)) = decode_downlink(datagram) else {
            return;
        };
        let now = self.now_us();
        if let Some(playback) = lock(&self.playback).playback.as_mut() {
            playback.insert(source, header, payload, now);
        }
    }

    /// Captured audio in: interleaved samples at any supported rate and channel count.
    pub fn push_capture(&self, samples: &[f32], rate: u32, channels: u16) -> Result<(), VoipError> {
        check_format(rate, channels)?;
        let muted = self.mute_microphone.load(Ordering::SeqCst);
        let mut guard = lock(&self.capture);
        let capture = &mut *guard;
        if !capture
            .converter
            .as_ref()
            .is_some_and(|c| c.input_rate() == rate && c.channels() == channels)
        {
            capture.converter = Some(
                CaptureConverter::new(rate, channels)
                    .map_err(|e| VoipError::new(ErrorCode::InvalidArgument, e))?,
            );
        }
        let converter = capture.converter.as_mut().expect("just set");
        capture.mono.clear();
        converter.push(samples, &mut capture.mono);
        let (Some(pipeline), Some(connection), Some(processor)) = (
            capture.pipeline.as_mut(),
            capture.connection.as_ref(),
            capture.processor.as_mut(),
        ) else {
            return Ok(());
        };
        // What was played so far goes to the echo canceller before the capture that may
        // hold its echo.
        if processor.wants_render() {
            let render = &mut capture.render;
            lock(&self.far_end).release(self.now_us(), |block| render.extend_from_slice(block));
        }
        capture.unprocessed.extend_from_slice(&capture.mono);
        let whole = capture.unprocessed.len() / BLOCK_SAMPLES * BLOCK_SAMPLES;
        capture.blocks.clear();
        capture
            .blocks
            .extend_from_slice(&capture.unprocessed[..whole]);
        capture.unprocessed.drain(..whole);
        processor.process(&mut capture.render, &mut capture.blocks);
        let mut send = |datagram: &[u8]| {
            // A datagram the connection cannot take now is a lost packet, not an error.
            let _ = connection.send_datagram(Bytes::copy_from_slice(datagram));
        };
        // The voice activity detector sees the processed signal: echo and noise it removed
        // no longer count as the player speaking.
        pipeline.push(&capture.blocks, muted, &mut send)?;
        self.local_speaking
            .store(pipeline.speaking(), Ordering::SeqCst);
        Ok(())
    }

    /// Runs `render` on the call's playback, or fills `out` with silence and returns `idle`
    /// when there is nothing to hear: not in a call, or the earphone muted.
    fn with_playback<R>(
        &self,
        out: &mut [f32],
        rate: u32,
        channels: u16,
        idle: R,
        render: impl FnOnce(&mut PlaybackSide, &mut [f32], u64) -> Result<R, VoipError>,
    ) -> Result<R, VoipError> {
        check_format(rate, channels)?;
        let now = self.now_us();
        let mut side = lock(&self.playback);
        if side.playback.is_none() || self.mute_earphone.load(Ordering::SeqCst) {
            out.fill(0.0);
            return Ok(idle);
        }
        render(&mut side, out, now)
    }

    /// The mix of the call, interleaved at `rate` and `channels`, into `out` (whole frames).
    /// Silence when not in a call or with the earphone muted.
    pub fn pull_playback(
        &self,
        out: &mut [f32],
        rate: u32,
        channels: u16,
    ) -> Result<(), VoipError> {
        self.with_playback(out, rate, channels, (), |side, out, now| {
            let PlaybackSide {
                playback,
                mix,
                mono,
                converted,
                ..
            } = side;
            let playback = playback.as_mut().expect("checked by with_playback");
            let tap = PlaybackSide::tap(mix, rate, channels)?;
            let reference = self.echo_reference.load(Ordering::SeqCst);
            tap.fill(out, mono, converted, |samples| {
                playback.render_mix(samples, now);
                if reference {
                    lock(&self.far_end).add(Consumer::Mix, samples, now);
                }
            });
            Ok(())
        })
    }

    /// One member's audio alone (for engine-side 3D voice). Pulling a member takes them out of
    /// the mix for as long as they are pulled. Silence for an unknown member.
    pub fn pull_member(
        &self,
        open_id: &str,
        out: &mut [f32],
        rate: u32,
        channels: u16,
    ) -> Result<bool, VoipError> {
        self.with_playback(out, rate, channels, false, |side, out, now| {
            let PlaybackSide {
                playback,
                members,
                mono,
                converted,
                ..
            } = side;
            let playback = playback.as_mut().expect("checked by with_playback");
            let mut slot = members.remove(open_id);
            let tap = PlaybackSide::tap(&mut slot, rate, channels)?;
            let mut found = true;
            let reference = self.echo_reference.load(Ordering::SeqCst);
            tap.fill(out, mono, converted, |samples| {
                found &= playback.render_member(open_id, samples, now);
                if reference && found {
                    // The engine plays this member itself (spatialised): still their echo.
                    lock(&self.far_end).add(Consumer::Member(open_id), samples, now);
                }
            });
            if let (true, Some(tap)) = (found, slot) {
                members.insert(open_id.to_string(), tap);
            }
            Ok(found)
        })
    }

    /// Who is speaking now, in room order: the local user when speaking and not muted, and
    /// remote members whose speech arrived lately.
    pub fn speakers(&self, me: &str, room_order: &[String]) -> Vec<String> {
        let now = self.now_us();
        let mut speaking = lock(&self.playback)
            .playback
            .as_ref()
            .map(|p| p.speakers(now))
            .unwrap_or_default();
        if self.local_speaking.load(Ordering::SeqCst)
            && !self.mute_microphone.load(Ordering::SeqCst)
        {
            speaking.push(me.to_string());
        }
        room_order
            .iter()
            .filter(|id| speaking.contains(id))
            .cloned()
            .collect()
    }

    /// Loss of received media lately, in per mille: what this client reports to the room.
    pub fn reception_loss_permille(&self) -> u16 {
        let loss = lock(&self.playback)
            .playback
            .as_ref()
            .map(|p| p.loss_fraction())
            .unwrap_or(0.0);
        (loss.clamp(0.0, 1.0) * 1000.0).round() as u16
    }

    /// A member joined whose link nobody has measured yet: spend FEC as for
    /// [`UNMEASURED_LINK_LOSS_PERMILLE`] until the room's next figure (the relay always passes
    /// on a member's first report, a second or so after it joined, sooner if it loses), so the
    /// first words it hears are protected if its link turns out lossy (issue 18). A higher
    /// setting already in force stays.
    pub fn protect_unmeasured_link(&self) {
        if let Some(pipeline) = lock(&self.capture).pipeline.as_mut() {
            let assumed = expected_loss_for(UNMEASURED_LINK_LOSS_PERMILLE);
            // Repeats already protect the link better than FEC would.
            if !pipeline.repeating() && pipeline.expected_loss() < assumed {
                pipeline.set_expected_loss(assumed);
            }
        }
    }

    /// The room's worst reception loss: sets how much FEC the encoder spends, and whether
    /// each datagram is sent twice (see [`CapturePipeline::set_reported_loss`]).
    pub fn set_reported_loss(&self, permille: u16) {
        if let Some(pipeline) = lock(&self.capture).pipeline.as_mut() {
            pipeline.set_reported_loss(permille);
        }
    }

    /// Per-call statistics as a JSON object (see the README for the fields).
    pub fn stats_json(&self) -> String {
        let (sent, lookahead, processing, expected_loss, repeating) = {
            let capture = lock(&self.capture);
            let echo = capture.processor.as_ref().and_then(|p| p.echo_metrics());
            let settings = capture.processing;
            let processing = serde_json::json!({
                "echoCancellation": settings.echo_cancellation,
                "noiseSuppression": settings.noise_suppression.as_str(),
                "gainControl": settings.gain_control,
                "echoDelayMs": echo.map(|e| e.delay_ms),
                "echoReductionDb": echo.map(|e| (e.erle_db * 10.0).round() / 10.0),
                "echoCancelling": echo.map(|e| e.in_path),
            });
            let current = capture
                .pipeline
                .as_ref()
                .map(|p| p.stats())
                .unwrap_or_default();
            let lookahead = capture
                .pipeline
                .as_ref()
                .map(|p| p.lookahead_samples())
                .unwrap_or(0);
            let (expected_loss, repeating) = capture
                .pipeline
                .as_ref()
                .map(|p| (p.expected_loss(), p.repeating()))
                .unwrap_or((0, false));
            (
                CaptureStats {
                    frames: capture.sent_before.frames + current.frames,
                    packets_sent: capture.sent_before.packets_sent + current.packets_sent,
                    bytes_sent: capture.sent_before.bytes_sent + current.bytes_sent,
                    repeats_sent: capture.sent_before.repeats_sent + current.repeats_sent,
                },
                lookahead,
                processing,
                expected_loss,
                repeating,
            )
        };
        let (members, enhancement): (Vec<MemberStats>, _) = {
            let side = lock(&self.playback);
            let members = side.playback.as_ref().map(|p| p.stats());
            (members.unwrap_or_default(), side.enhancement)
        };
        let ms = |us: u64| us as f64 / 1000.0;
        let members: serde_json::Map<String, serde_json::Value> = members
            .into_iter()
            .map(|m| {
                let j = m.jitter;
                let value = serde_json::json!({
                    "packetsReceived": j.received,
                    "packetsLost": j.lost,
                    "packetsRecovered": j.recovered,
                    "packetsLate": j.late,
                    "packetsRepaired": j.repaired,
                    "repeatsLate": j.repeats_late,
                    "packetsConcealed": j.concealed,
                    "framesDroppedForDrift": j.dropped_for_drift,
                    "jitterBufferDelayMs": ms(j.delay_us),
                    "jitterBufferTargetMs": ms(j.target_delay_us),
                    "jitterMs": ms(j.jitter_us),
                    "decodeErrors": m.decode_errors,
                });
                (m.open_id, value)
            })
            .collect();
        serde_json::json!({
            "frameMs": self.config.frame_ms,
            "codecLookaheadMs": lookahead as f64 * 1000.0 / f64::from(SAMPLE_RATE),
            "sent": {
                "frames": sent.frames,
                "packets": sent.packets_sent,
                "bytes": sent.bytes_sent,
                "expectedLossPct": expected_loss,
                "repeating": repeating,
                "repeats": sent.repeats_sent,
            },
            "speaking": self.local_speaking.load(Ordering::SeqCst),
            "voiceEnhancement": enhancement.as_str(),
            "audioProcessing": processing,
            "members": members,
        })
        .to_string()
    }
}
