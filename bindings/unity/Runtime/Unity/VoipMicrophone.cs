#if UNITY_5_3_OR_NEWER
using UnityEngine;
#if UNITY_ANDROID && !UNITY_EDITOR
using UnityEngine.Android;
#endif

namespace VoipChatSdk.Unity
{
    /// <summary>
    /// Sends the Unity microphone into the call: records with <c>Microphone.Start</c> into a
    /// looping clip and, every frame, hands the new samples to <see cref="VoipChat.PushCapture"/>
    /// in 10 ms blocks. The SDK's voice activity detection decides what is sent, so the
    /// microphone can stay open; mute with <see cref="VoipChat.UpdateMuteConfigAsync"/>.
    /// Needs External audio mode. Asks for the microphone permission on Android and iOS.
    /// </summary>
    [AddComponentMenu("VoipChat/Voip Microphone")]
    public sealed class VoipMicrophone : MonoBehaviour
    {
        [Tooltip("Microphone device name (Microphone.devices); empty = the default device.")]
        public string DeviceName = "";

        [Tooltip("Requested sample rate; the SDK converts whatever the device delivers.")]
        public int SampleRate = 48000;

        [Tooltip("Start recording when the component is enabled.")]
        public bool CaptureOnEnable = true;

        AudioClip clip;
        string device;
        int readPosition;
        float[] block;
        int blockFrames;
        bool wantCapture;

        /// <summary>Whether the microphone is recording into the call now.</summary>
        public bool IsCapturing
        {
            get { return clip != null; }
        }

        void OnEnable()
        {
            if (CaptureOnEnable)
            {
                StartCapture();
            }
        }

        void OnDisable()
        {
            StopCapture();
        }

        /// <summary>Opens the microphone (after the permission prompt where the platform has one).</summary>
        public void StartCapture()
        {
            wantCapture = true;
            if (!HasPermission())
            {
                return; // Update starts it once the player grants the permission
            }
            if (clip != null)
            {
                return;
            }
            if (Microphone.devices.Length == 0)
            {
                Debug.LogWarning("voipchat: no microphone found");
                return;
            }
            device = string.IsNullOrEmpty(DeviceName) ? null : DeviceName;
            int rate = SampleRate;
            int min, max;
            Microphone.GetDeviceCaps(device, out min, out max);
            if (min != 0 || max != 0)
            {
                rate = Mathf.Clamp(rate, min, max);
            }
            clip = Microphone.Start(device, true, 1, rate);
            if (clip == null)
            {
                Debug.LogWarning("voipchat: the microphone could not be opened");
                return;
            }
            blockFrames = clip.frequency / 100;
            block = new float[blockFrames * clip.channels];
            readPosition = Mathf.Max(0, Microphone.GetPosition(device));
        }

        /// <summary>Closes the microphone.</summary>
        public void StopCapture()
        {
            wantCapture = false;
            if (clip != null)
            {
                Microphone.End(device);
                clip = null;
            }
        }

        void Update()
        {
            if (clip == null)
            {
                if (wantCapture && HasPermission())
                {
                    StartCapture();
                }
                return;
            }
            int position = Microphone.GetPosition(device);
            if (position < 0 || !Microphone.IsRecording(device))
            {
                return;
            }
            int available = position - readPosition;
            if (available < 0)
            {
                available += clip.samples; // the looping clip wrapped
            }
            while (available >= blockFrames)
            {
                clip.GetData(block, readPosition); // wraps around the clip's end by itself
                VoipChat.PushCapture(block, blockFrames, clip.frequency, clip.channels);
                readPosition = (readPosition + blockFrames) % clip.samples;
                available -= blockFrames;
            }
        }

        static bool HasPermission()
        {
#if UNITY_ANDROID && !UNITY_EDITOR
            if (!Permission.HasUserAuthorizedPermission(Permission.Microphone))
            {
                Permission.RequestUserPermission(Permission.Microphone);
                return false;
            }
            return true;
#elif UNITY_IOS && !UNITY_EDITOR
            if (!Application.HasUserAuthorization(UserAuthorization.Microphone))
            {
                Application.RequestUserAuthorization(UserAuthorization.Microphone);
                return false;
            }
            return true;
#else
            return true;
#endif
        }
    }
}
#endif
