// What the two playback components share: an AudioSource playing a constant 1.0 ("unity")
// clip, whose OnAudioFilterRead multiplies the voice in. Multiplying, not overwriting, keeps
// whatever gain Unity already applied to the constant: the source's volume, and with a 3D
// source its distance attenuation and panning. So a member's voice is spatialised by Unity
// whether its spatialiser runs before or after the filter.
#if UNITY_5_3_OR_NEWER
using System;
using UnityEngine;

namespace VoipChatSdk.Unity
{
    /// <summary>Base of <see cref="VoipPlayback"/> and <see cref="VoipMemberVoice"/>.</summary>
    [RequireComponent(typeof(AudioSource))]
    public abstract class VoipAudioSourceFeed : MonoBehaviour
    {
        static AudioClip unityClip;

        // Written on the main thread, read on the audio thread.
        volatile int outputSampleRate;

        // Audio-thread scratch, sized from the DSP buffer up front so the audio thread does
        // not allocate (it grows once if Unity ever hands over a bigger block).
        float[] voice = new float[0];

        protected AudioSource Source { get; private set; }

        /// <summary>The spatial blend given to the AudioSource when the component is enabled (0 = 2D, 1 = 3D).</summary>
        protected abstract float DefaultSpatialBlend { get; }

        protected virtual void OnEnable()
        {
            outputSampleRate = AudioSettings.outputSampleRate;
            AudioSettings.OnAudioConfigurationChanged += OnAudioConfigurationChanged;
            int bufferLength, bufferCount;
            AudioSettings.GetDSPBufferSize(out bufferLength, out bufferCount);
            voice = new float[Math.Max(bufferLength, 1024) * 8];

            Source = GetComponent<AudioSource>();
            Source.clip = UnityClip();
            Source.loop = true;
            Source.playOnAwake = false;
            Source.spatialBlend = DefaultSpatialBlend;
            Source.Play();
        }

        protected virtual void OnDisable()
        {
            AudioSettings.OnAudioConfigurationChanged -= OnAudioConfigurationChanged;
            if (Source != null)
            {
                Source.Stop();
            }
        }

        void OnAudioConfigurationChanged(bool deviceWasChanged)
        {
            outputSampleRate = AudioSettings.outputSampleRate;
            if (Source != null && isActiveAndEnabled)
            {
                Source.Play(); // a configuration change stops every source
            }
        }

        /// <summary>Fills <paramref name="output"/> (frames * channels, interleaved) with the voice; returns false for silence.</summary>
        protected abstract bool Pull(float[] output, int frames, int sampleRate, int channels);

        /// <summary>How many channels to pull: the output's, or 1 for a single voice Unity pans.</summary>
        protected abstract int PullChannels(int outputChannels);

        /// <summary>
        /// The audio thread: each sealed component's OnAudioFilterRead calls this (Unity looks
        /// the message up on the component's own class).
        /// </summary>
        protected void Feed(float[] data, int channels)
        {
            int frames = data.Length / channels;
            int pulled = PullChannels(channels);
            if (voice.Length < frames * pulled)
            {
                voice = new float[frames * pulled];
            }
            if (!Pull(voice, frames, outputSampleRate, pulled))
            {
                Array.Clear(data, 0, data.Length);
                return;
            }
            if (pulled == channels)
            {
                for (int i = 0; i < frames * channels; i++)
                {
                    data[i] *= voice[i];
                }
            }
            else
            {
                for (int f = 0; f < frames; f++)
                {
                    float v = voice[f];
                    for (int c = 0; c < channels; c++)
                    {
                        data[f * channels + c] *= v;
                    }
                }
            }
        }

        /// <summary>A looping one-second clip of 1.0: the carrier the voice is multiplied into.</summary>
        static AudioClip UnityClip()
        {
            if (unityClip == null)
            {
                int rate = AudioSettings.outputSampleRate;
                unityClip = AudioClip.Create("voipchat-carrier", rate, 1, rate, false);
                var ones = new float[rate];
                for (int i = 0; i < ones.Length; i++)
                {
                    ones[i] = 1f;
                }
                unityClip.SetData(ones, 0);
            }
            return unityClip;
        }
    }
}
#endif
