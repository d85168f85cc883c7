#if UNITY_5_3_OR_NEWER
using System;
using UnityEngine;

namespace VoipChatSdk.Unity
{
    /// <summary>
    /// Sends whatever this GameObject's AudioSource plays into the call, from the audio thread
    /// (<c>OnAudioFilterRead</c>): a microphone clip run through your own effects, a voice
    /// changer, a recorded line for a bot. With <see cref="MuteLocally"/> the local player does
    /// not hear it. Needs External audio mode. Use it instead of <see cref="VoipMicrophone"/>,
    /// not with it.
    /// </summary>
    [AddComponentMenu("VoipChat/Voip Capture Filter")]
    [RequireComponent(typeof(AudioSource))]
    public sealed class VoipCaptureFilter : MonoBehaviour
    {
        [Tooltip("Silence the source locally after sending it (you do not hear your own voice).")]
        public bool MuteLocally = true;

        volatile int outputSampleRate;
        volatile bool muteLocally;

        void OnEnable()
        {
            outputSampleRate = AudioSettings.outputSampleRate;
            muteLocally = MuteLocally;
            AudioSettings.OnAudioConfigurationChanged += OnAudioConfigurationChanged;
        }

        void OnDisable()
        {
            AudioSettings.OnAudioConfigurationChanged -= OnAudioConfigurationChanged;
        }

        void OnValidate()
        {
            muteLocally = MuteLocally;
        }

        void OnAudioConfigurationChanged(bool deviceWasChanged)
        {
            outputSampleRate = AudioSettings.outputSampleRate;
        }

        void OnAudioFilterRead(float[] data, int channels)
        {
            VoipChat.PushCapture(data, data.Length / channels, outputSampleRate, channels);
            if (muteLocally)
            {
                Array.Clear(data, 0, data.Length);
            }
        }
    }
}
#endif
