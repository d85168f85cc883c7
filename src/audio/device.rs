//! The system's audio devices, through cpal: a microphone feeding an SPSC ring, and a speaker
//! draining one.
//!
//! The device callbacks do nothing but move samples between the device buffer and a lock-free
//! [`rtrb`] ring, converting the sample type on the way, and bump atomic counters. They never
//! allocate, lock, block, log or decode (see `design.md`): a callback that misses its deadline
//! is an audible click for every member of the call, and the OS audio thread is the one place
//! where a page fault or a contended mutex turns straight into one.
//!
//! Samples travel in the device's *native* format: its default sample rate and channel count,
//! interleaved, as `f32`. Resampling to the engine's 48 kHz mono, and back, happens on the
//! engine's own thread, which reads [`DeviceFormat`] to know what it gets. (The one exception
//! to "the device's default": when the default format's rate range includes 48 kHz, 48 kHz is
//! chosen, which spares that resampling. cpal's ALSA backend otherwise picks 44.1 kHz
//! whenever it can.)
//!
//! # Threading
//!
//! A `cpal::Stream` is neither `Send` nor `Sync`, yet the engine must be able to own a device
//! from whatever thread it runs on. So each [`CaptureDevice`] and [`PlaybackDevice`] keeps its
//! stream on a small dedicated thread that opens it, starts it, then sleeps on a channel until
//! the device is dropped; `Drop` wakes that thread, which drops the stream (stopping the
//! callbacks) and exits, and `Drop` joins it. The handles themselves are `Send + Sync`, and
//! their counters can be read from any thread. The callbacks run on cpal's own audio thread.
//!
//! # Failure
//!
//! Opening fails with [`ErrorCode::DeviceBusy`] (-2, WeChat's "recording device occupied or
//! cannot be opened") and a reason naming the device and the cause. A device that fails later
//! (unplugged, sound server gone) is reported by cpal's error callback; [`CaptureDevice::failed`]
//! and [`PlaybackDevice::failed`] then return the reason, and the owner should drop the device
//! and open another. (cpal's ALSA backend keeps retrying a dead device in a tight loop until the
//! stream is dropped, so do not keep a failed device around.)

use crate::error::{ErrorCode, VoipError};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use rtrb::{Consumer, Producer, RingBuffer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;

/// The sample format a device stream runs at, as delivered through (or expected in) the ring:
/// interleaved `f32` frames of `channels` samples at `sample_rate` Hz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceFormat {
    pub sample_rate: u32,
    pub channels: u16,
}

/// The rate preferred over the device's own default when it supports it: the engine's.
const PREFERRED_RATE: u32 = super::SAMPLE_RATE;

/// Names of the input (recording) devices the default host offers, in its order. Names that
/// appear twice are listed once; [`CaptureDevice::open`] takes the first device of that name.
///
/// On Linux (ALSA) this opens each device briefly to ask what it supports, so it can take a
/// moment, and ALSA may print diagnostics about unusable entries to stderr.
pub fn input_device_names() -> Vec<String> {
    let host = cpal::default_host();
    let devices = match host.input_devices() {
        Ok(devices) => devices,
        Err(_) => return Vec::new(),
    };
    dedup_names(devices)
}

/// Names of the output (playback) devices the default host offers, in its order.
pub fn output_device_names() -> Vec<String> {
    let host = cpal::default_host();
    let devices = match host.output_devices() {
        Ok(devices) => devices,
        Err(_) => return Vec::new(),
    };
    dedup_names(devices)
}

/// The name of the system's default input device, if there is one.
pub fn default_input_device_name() -> Option<String> {
    cpal::default_host().default_input_device()?.name().ok()
}

/// The name of the system's default output device, if there is one.
pub fn default_output_device_name() -> Option<String> {
    cpal::default_host().default_output_device()?.name().ok()
}

fn dedup_names(devices: impl Iterator<Item = cpal::Device>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in devices.filter_map(|d| d.name().ok()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// State the audio callbacks and the owning handle share: atomics only, plus the failure reason,
/// which only the error callback writes (once) and only queries read.
#[derive(Default)]
struct Shared {
    /// Capture: samples dropped because the ring was full. Playback: silent samples written
    /// because the ring was short.
    xruns: AtomicU64,
    /// The first error cpal reported for the stream; set means the stream has failed.
    failure: OnceLock<String>,
}

impl Shared {
    fn failed(&self) -> Option<String> {
        self.failure.get().cloned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

impl Direction {
    fn noun(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

fn busy(reason: String) -> VoipError {
    VoipError::new(ErrorCode::DeviceBusy, reason)
}

/// The thread that owns a running `cpal::Stream` (see the module docs, Threading).
struct StreamThread {
    /// Dropping this wakes the thread, which then drops the stream and exits.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic on that thread has nowhere useful to go from a destructor.
            let _ = thread.join();
        }
    }
}

/// What the stream thread hands back once the stream is playing: the engine's end of the ring.
type Opened<R> = Result<(R, DeviceFormat), VoipError>;

/// Builds the stream for `device` with `config`, moving the callback's end of a new ring into
/// it, and returns the stream with the engine's end of the ring.
type Build<R> = fn(
    &cpal::Device,
    &cpal::SupportedStreamConfig,
    usize,
    Arc<Shared>,
) -> Result<(cpal::Stream, R), VoipError>;

/// Opens a device on a new stream thread and waits until it is playing (or has failed to open).
fn spawn_stream<R: Send + 'static>(
    dir: Direction,
    name: Option<&str>,
    ring_capacity_frames: usize,
    build: Build<R>,
) -> Result<(StreamThread, R, DeviceFormat), VoipError> {
    if ring_capacity_frames == 0 {
        return Err(VoipError::new(
            ErrorCode::InvalidArgument,
            format!("{} device ring of 0 frames", dir.noun()),
        ));
    }
    let name = name.map(str::to_owned);
    let shared = Arc::new(Shared::default());
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Opened<R>>(1);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name(format!("voipchat-{}-device", dir.noun()))
        .spawn(move || {
            let opened = open_stream(
                dir,
                name.as_deref(),
                ring_capacity_frames,
                build,
                thread_shared,
            );
            match opened {
                Ok((stream, ring, format)) => {
                    if ready_tx.send(Ok((ring, format))).is_ok() {
                        // Sleep until the handle is dropped (the sender goes away).
                        let _ = stop_rx.recv();
                    }
                    // Stops the callbacks; cpal joins its own audio thread here.
                    drop(stream);
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            }
        })
        .map_err(|e| {
            VoipError::new(
                ErrorCode::System,
                format!("cannot start the {} device thread: {e}", dir.noun()),
            )
        })?;
    let handle = StreamThread {
        stop: Some(stop_tx),
        thread: Some(thread),
        shared,
    };
    match ready_rx.recv() {
        Ok(Ok((ring, format))) => Ok((handle, ring, format)),
        // `handle` drops here and joins the thread, which has already finished.
        Ok(Err(err)) => Err(err),
        Err(_) => Err(VoipError::new(
            ErrorCode::System,
            format!("the {} device thread panicked while opening", dir.noun()),
        )),
    }
}

/// Runs on the stream thread: finds the device, picks its format, builds and starts the stream.
fn open_stream<R>(
    dir: Direction,
    name: Option<&str>,
    ring_capacity_frames: usize,
    build: Build<R>,
    shared: Arc<Shared>,
) -> Result<(cpal::Stream, R, DeviceFormat), VoipError> {
    let noun = dir.noun();
    let host = cpal::default_host();
    let device = match name {
        None => match dir {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        }
        .ok_or_else(|| busy(format!("no default {noun} device")))?,
        Some(wanted) => {
            let mut devices = match dir {
                Direction::Input => host.input_devices(),
                Direction::Output => host.output_devices(),
            }
            .map_err(|e| busy(format!("cannot list {noun} devices: {e}")))?;
            devices
                .find(|d| d.name().is_ok_and(|n| n == wanted))
                .ok_or_else(|| busy(format!("no {noun} device named {wanted:?}")))?
        }
    };
    let label = device.name().unwrap_or_else(|_| "(unnamed)".to_owned());
    let config = choose_config(dir, &device)
        .map_err(|e| busy(format!("{noun} device {label:?}: no usable format: {e}")))?;
    let format = DeviceFormat {
        sample_rate: config.sample_rate().0,
        channels: config.channels(),
    };
    let capacity = ring_capacity_frames
        .checked_mul(usize::from(format.channels))
        .ok_or_else(|| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                format!("{noun} device ring of {ring_capacity_frames} frames is too large"),
            )
        })?;
    let (stream, ring) = build(&device, &config, capacity, shared)
        .map_err(|e| busy(format!("{noun} device {label:?}: {}", e.reason)))?;
    stream
        .play()
        .map_err(|e| busy(format!("{noun} device {label:?}: cannot start: {e}")))?;
    Ok((stream, ring, format))
}

/// The device's default config, moved to 48 kHz when the same format supports it.
fn choose_config(
    dir: Direction,
    device: &cpal::Device,
) -> Result<cpal::SupportedStreamConfig, String> {
    let default = match dir {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(|e| e.to_string())?;
    if default.sample_rate().0 == PREFERRED_RATE {
        return Ok(default);
    }
    let ranges: Vec<cpal::SupportedStreamConfigRange> = match dir {
        Direction::Input => device.supported_input_configs().map(|r| r.collect()),
        Direction::Output => device.supported_output_configs().map(|r| r.collect()),
    }
    .unwrap_or_default();
    let preferred = ranges.into_iter().find(|r| {
        r.channels() == default.channels()
            && r.sample_format() == default.sample_format()
            && r.min_sample_rate().0 <= PREFERRED_RATE
            && PREFERRED_RATE <= r.max_sample_rate().0
    });
    Ok(match preferred {
        Some(range) => range.with_sample_rate(cpal::SampleRate(PREFERRED_RATE)),
        None => default,
    })
}

/// Records the first stream error. This is cpal's error callback, not the audio callback: it
/// may allocate the message, once (later errors, which cpal's ALSA backend can repeat in a tight
/// loop on a dead device, find the cell already set and cost nothing).
fn error_callback(dir: Direction, shared: Arc<Shared>) -> impl FnMut(cpal::StreamError) + Send {
    move |err| {
        if shared.failure.get().is_none() {
            let _ = shared
                .failure
                .set(format!("{} device failed: {err}", dir.noun()));
        }
    }
}

/// Dispatches on the device's sample format to a generic builder, so each callback converts
/// its own sample type with no branching per sample.
macro_rules! build_for_format {
    ($config:expr, $build:ident, $($args:expr),*) => {
        match $config.sample_format() {
            SampleFormat::F32 => $build::<f32>($($args),*),
            SampleFormat::I16 => $build::<i16>($($args),*),
            SampleFormat::U16 => $build::<u16>($($args),*),
            SampleFormat::I32 => $build::<i32>($($args),*),
            SampleFormat::U32 => $build::<u32>($($args),*),
            SampleFormat::I8 => $build::<i8>($($args),*),
            SampleFormat::U8 => $build::<u8>($($args),*),
            SampleFormat::F64 => $build::<f64>($($args),*),
            other => Err(VoipError::new(
                ErrorCode::DeviceBusy,
                format!("unsupported sample format {other}"),
            )),
        }
    };
}

/// The largest number of samples, at most `n`, that is a whole number of frames: the callbacks
/// only ever move whole frames, so a short ring never shifts the channel order.
fn whole_frames(n: usize, channels: usize) -> usize {
    n - n % channels
}

fn build_capture(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    capacity: usize,
    shared: Arc<Shared>,
) -> Result<(cpal::Stream, Consumer<f32>), VoipError> {
    build_for_format!(
        config,
        build_capture_typed,
        device,
        config,
        capacity,
        shared
    )
}

fn build_capture_typed<T>(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    capacity: usize,
    shared: Arc<Shared>,
) -> Result<(cpal::Stream, Consumer<f32>), VoipError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let (mut producer, consumer) = RingBuffer::<f32>::new(capacity);
    let channels = usize::from(config.channels());
    let counters = Arc::clone(&shared);
    // The audio callback: ring writes and one atomic add, nothing else.
    let data = move |input: &[T], _: &cpal::InputCallbackInfo| {
        let fits = whole_frames(input.len().min(producer.slots()), channels);
        if fits > 0 {
            if let Ok(chunk) = producer.write_chunk_uninit(fits) {
                chunk.fill_from_iter(input[..fits].iter().map(|s| s.to_sample::<f32>()));
            }
        }
        // The engine is not keeping up: drop the newest samples (the SPSC producer cannot
        // discard the oldest ones) and count them.
        let dropped = input.len() - fits;
        if dropped > 0 {
            counters.xruns.fetch_add(dropped as u64, Ordering::Relaxed);
        }
    };
    let stream = device
        .build_input_stream::<T, _, _>(
            &config.config(),
            data,
            error_callback(Direction::Input, shared),
            None,
        )
        .map_err(|e| busy(format!("cannot open the stream: {e}")))?;
    Ok((stream, consumer))
}

fn build_playback(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    capacity: usize,
    shared: Arc<Shared>,
) -> Result<(cpal::Stream, Producer<f32>), VoipError> {
    build_for_format!(
        config,
        build_playback_typed,
        device,
        config,
        capacity,
        shared
    )
}

fn build_playback_typed<T>(
    device: &cpal::Device,
    config: &cpal::SupportedStreamConfig,
    capacity: usize,
    shared: Arc<Shared>,
) -> Result<(cpal::Stream, Producer<f32>), VoipError>
where
    T: SizedSample + FromSample<f32>,
{
    let (producer, mut consumer) = RingBuffer::<f32>::new(capacity);
    let channels = usize::from(config.channels());
    let counters = Arc::clone(&shared);
    // The audio callback: ring reads and one atomic add, nothing else.
    let data = move |output: &mut [T], _: &cpal::OutputCallbackInfo| {
        let available = whole_frames(output.len().min(consumer.slots()), channels);
        let mut written = 0;
        if available > 0 {
            if let Ok(chunk) = consumer.read_chunk(available) {
                let (first, second) = chunk.as_slices();
                for (dst, &src) in output.iter_mut().zip(first.iter().chain(second)) {
                    // Clamp and scrub NaN: some drivers turn out-of-range floats into full-scale
                    // noise, and integer formats would wrap.
                    let clean = if src.is_finite() {
                        src.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    };
                    *dst = T::from_sample(clean);
                }
                written = chunk.len();
                chunk.commit_all();
            }
        }
        // The engine fell behind (or has not started): play silence and count it.
        if written < output.len() {
            output[written..].fill(T::EQUILIBRIUM);
            counters
                .xruns
                .fetch_add((output.len() - written) as u64, Ordering::Relaxed);
        }
    };
    let stream = device
        .build_output_stream::<T, _, _>(
            &config.config(),
            data,
            error_callback(Direction::Output, shared),
            None,
        )
        .map_err(|e| busy(format!("cannot open the stream: {e}")))?;
    Ok((stream, producer))
}

/// A recording device streaming into an SPSC ring. Dropping it stops the stream.
pub struct CaptureDevice {
    inner: StreamThread,
    format: DeviceFormat,
}

impl std::fmt::Debug for CaptureDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureDevice")
            .field("format", &self.format)
            .field("overruns", &self.overruns())
            .field("failed", &self.failed())
            .finish()
    }
}

impl CaptureDevice {
    /// Opens the input device called `name` (exactly, as [`input_device_names`] lists it), or the
    /// default one for `None`, and starts recording into a ring of `ring_capacity_frames` frames.
    ///
    /// Returns the device, the engine's end of the ring (interleaved `f32` in the returned
    /// [`DeviceFormat`]; read whole frames), and that format. The ring's capacity bounds how far
    /// the engine may fall behind before samples are dropped: 100 to 200 ms is a good size.
    ///
    /// Errors: `DeviceBusy` (-2) when the device does not exist or cannot be opened or started,
    /// with the reason; `InvalidArgument` for a ring of 0 frames.
    pub fn open(
        name: Option<&str>,
        ring_capacity_frames: usize,
    ) -> Result<(CaptureDevice, Consumer<f32>, DeviceFormat), VoipError> {
        let (inner, consumer, format) =
            spawn_stream(Direction::Input, name, ring_capacity_frames, build_capture)?;
        Ok((CaptureDevice { inner, format }, consumer, format))
    }

    /// The format samples arrive in.
    pub fn format(&self) -> DeviceFormat {
        self.format
    }

    /// Samples dropped so far because the ring was full (the engine read too slowly).
    pub fn overruns(&self) -> u64 {
        self.inner.shared.xruns.load(Ordering::Relaxed)
    }

    /// Why the stream stopped, once the device has failed (unplugged, server gone); `None` while
    /// it is healthy. A failed device should be dropped and another opened.
    pub fn failed(&self) -> Option<String> {
        self.inner.shared.failed()
    }
}

/// A playback device draining an SPSC ring. Dropping it stops the stream.
pub struct PlaybackDevice {
    inner: StreamThread,
    format: DeviceFormat,
}

impl std::fmt::Debug for PlaybackDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackDevice")
            .field("format", &self.format)
            .field("underruns", &self.underruns())
            .field("failed", &self.failed())
            .finish()
    }
}

impl PlaybackDevice {
    /// Opens the output device called `name` (exactly, as [`output_device_names`] lists it), or
    /// the default one for `None`, and starts playing from a ring of `ring_capacity_frames`
    /// frames.
    ///
    /// Returns the device, the engine's end of the ring (write interleaved `f32` frames in the
    /// returned [`DeviceFormat`], nominally in -1.0..=1.0; values outside are clamped and NaN
    /// is played as silence), and that format. Until the engine writes, the device plays
    /// silence.
    ///
    /// Errors: `DeviceBusy` (-2) when the device does not exist or cannot be opened or started;
    /// `InvalidArgument` for a ring of 0 frames.
    pub fn open(
        name: Option<&str>,
        ring_capacity_frames: usize,
    ) -> Result<(PlaybackDevice, Producer<f32>, DeviceFormat), VoipError> {
        let (inner, producer, format) = spawn_stream(
            Direction::Output,
            name,
            ring_capacity_frames,
            build_playback,
        )?;
        Ok((PlaybackDevice { inner, format }, producer, format))
    }

    /// The format the device expects.
    pub fn format(&self) -> DeviceFormat {
        self.format
    }

    /// Silent samples played so far because the ring held too little, including the silence
    /// before the engine's first write. Take a snapshot once playback is primed to count only
    /// glitches.
    pub fn underruns(&self) -> u64 {
        self.inner.shared.xruns.load(Ordering::Relaxed)
    }

    /// Why the stream stopped, once the device has failed; `None` while it is healthy.
    pub fn failed(&self) -> Option<String> {
        self.inner.shared.failed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frames_rounds_down_to_a_frame() {
        assert_eq!(whole_frames(7, 2), 6);
        assert_eq!(whole_frames(8, 2), 8);
        assert_eq!(whole_frames(5, 1), 5);
        assert_eq!(whole_frames(1, 2), 0);
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<CaptureDevice>();
        check::<PlaybackDevice>();
    }

    #[test]
    fn zero_capacity_is_invalid_without_touching_a_device() {
        let err = CaptureDevice::open(None, 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        let err = PlaybackDevice::open(None, 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }
}
