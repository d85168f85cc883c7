//! One member talking and another listening, in real time through the engine-fed audio path,
//! for the tests that disturb a call (faults, hostile clients) and judge it by what is heard.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::signal::rms;
use voipchat::audio::processing::{VoiceProcessor, BLOCK_SAMPLES};
use voipchat::{AudioProcessing, Client};

pub const RATE: u32 = 48_000;
/// 10 ms, what a game's audio callback typically asks for.
pub const CHUNK: usize = 480;

/// The audio tests of one test binary run in real time and take turns: two cores shared
/// between several calls would test the scheduler, not the SDK.
pub static REAL_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A turn at real time, held while it lasts.
pub type Turn = tokio::sync::MutexGuard<'static, ()>;

/// Waits for this binary's other real-time tests to finish. A test whose attack or fault runs
/// beside the talk takes the turn before it starts the attack, so that the attack, too, runs
/// alone: a flood started outside the turn would load the machine under another test's call
/// (a control flood beside a media flood once cost a call 2 late and 2 lost packets in CI).
pub async fn real_time_turn() -> Turn {
    REAL_TIME.lock().await
}

/// What the listener records: the call's mix, or one member alone (as a game pulls a voice
/// for 3D audio), which leaves the other members' sound out of the judgement.
#[derive(Debug, Clone, Copy)]
pub enum Listen {
    Mix,
    Alone(&'static str),
}

/// `speech.len()` samples of real time: `speaker` says `speech`, what `listener` hears is
/// recorded and returned; `at` runs once, `at_s` seconds in, on the audio thread between two
/// 10 ms steps (a fault switched on, say).
pub async fn talk(
    speaker: &Arc<Client>,
    listener: &Arc<Client>,
    speech: Vec<f32>,
    at_s: f32,
    at: impl FnOnce() + Send + 'static,
) -> Vec<f32> {
    talk_and_listen(speaker, listener, Listen::Mix, speech, at_s, at).await
}

/// [`talk`], recording what `listen` says.
pub async fn talk_and_listen(
    speaker: &Arc<Client>,
    listener: &Arc<Client>,
    listen: Listen,
    speech: Vec<f32>,
    at_s: f32,
    at: impl FnOnce() + Send + 'static,
) -> Vec<f32> {
    let turn = real_time_turn().await;
    talk_and_listen_in_turn(&turn, speaker, listener, listen, speech, at_s, at).await
}

/// [`talk_and_listen`] within a turn the caller already holds.
pub async fn talk_and_listen_in_turn(
    _turn: &Turn,
    speaker: &Arc<Client>,
    listener: &Arc<Client>,
    listen: Listen,
    speech: Vec<f32>,
    at_s: f32,
    at: impl FnOnce() + Send + 'static,
) -> Vec<f32> {
    let (speaker, listener) = (speaker.clone(), listener.clone());
    tokio::task::spawn_blocking(move || {
        let steps = speech.len() / CHUNK;
        let at_step = (at_s * 100.0) as usize;
        let mut at = Some(at);
        let mut heard = Vec::with_capacity(speech.len());
        let mut out = vec![0.0f32; CHUNK];
        let start = Instant::now();
        for step in 0..steps {
            if step == at_step {
                if let Some(at) = at.take() {
                    at();
                }
            }
            speaker
                .push_capture(&speech[step * CHUNK..(step + 1) * CHUNK], RATE, 1)
                .unwrap();
            match listen {
                Listen::Mix => listener.pull_playback(&mut out, RATE, 1).unwrap(),
                Listen::Alone(member) => {
                    listener.pull_member(member, &mut out, RATE, 1).unwrap();
                }
            }
            heard.extend_from_slice(&out);
            let next = start + Duration::from_millis(10 * (step as u64 + 1));
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        heard
    })
    .await
    .unwrap()
}

/// Every syllable slot (250 ms) from `from_s` on, where `said` is speaking, is heard at no
/// less than a quarter of its level: the voice is there and whole, whatever the delay (a
/// syllable fills 200 ms of its slot, so even 100 ms late most of it lands in the slot and
/// the half slot after it). Level-based, so the microphone processing cannot fool it.
pub fn assert_voice_heard(said: &[f32], heard: &[f32], from_s: f32, what: &str) {
    let slot = RATE as usize / 4;
    let first = (from_s * 4.0) as usize;
    let mut slots = 0;
    for i in first..said.len() / slot - 1 {
        let range = i * slot..(i + 1) * slot;
        let spoken = rms(&said[range.clone()]);
        let later = rms(&heard[range.start..range.end + slot / 2]);
        assert!(
            later > 0.25 * spoken,
            "{what}: slot {i} ({:.2} s) heard at {later:.4}, said at {spoken:.4}",
            i as f32 / 4.0
        );
        slots += 1;
    }
    assert!(slots >= 4, "{what}: only {slots} slots judged");
}

/// A number from `listener`'s statistics about `member` (0 when absent).
pub fn member_stat(listener: &Client, member: &str, field: &str) -> f64 {
    let stats: serde_json::Value = serde_json::from_str(&listener.stats_json()).unwrap();
    stats["members"][member][field].as_f64().unwrap_or(0.0)
}

/// What a sender's microphone processing (on by default) makes of `said`: the chain's
/// rumble filter and band split shift the phase of a low voice, which a waveform
/// correlation would count as damage, so what is heard is judged against what was sent.
pub fn as_sent(said: &[f32]) -> Vec<f32> {
    as_sent_hearing(said, &[])
}

/// [`as_sent`] for a talker whose speaker played `played` (from the same start): the echo
/// canceller is in the path while and shortly after the far end is heard (echo_gate.rs), and
/// the voice is 8 ms later there.
#[allow(dead_code)]
pub fn as_sent_hearing(said: &[f32], played: &[f32]) -> Vec<f32> {
    let mut processor = VoiceProcessor::new(AudioProcessing::default());
    let mut sent = said.to_vec();
    sent.resize(said.len().div_ceil(BLOCK_SAMPLES) * BLOCK_SAMPLES, 0.0);
    let mut render = [0.0f32; BLOCK_SAMPLES];
    for (i, block) in sent.chunks_exact_mut(BLOCK_SAMPLES).enumerate() {
        for (k, r) in render.iter_mut().enumerate() {
            *r = played.get(i * BLOCK_SAMPLES + k).copied().unwrap_or(0.0);
        }
        processor.analyze_render(&render);
        processor.process_capture(block);
    }
    sent.truncate(said.len());
    sent
}
