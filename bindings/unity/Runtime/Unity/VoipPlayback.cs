#if UNITY_5_3_OR_NEWER
using UnityEngine;

namespace VoipChatSdk.Unity
{
    /// <summary>
    /// Plays the call's mix (every member not given a <see cref="VoipMemberVoice"/> of their
    /// own) through this GameObject's AudioSource, 2D by default. Needs External audio mode.
    /// One per scene, typically on the camera or a manager object.
    /// </summary>
    [AddComponentMenu("VoipChat/Voip Playback (mix)")]
    [RequireComponent(typeof(AudioSource))]
    public sealed class VoipPlayback : VoipAudioSourceFeed
    {
        protected override float DefaultSpatialBlend
        {
            get { return 0f; }
        }

        protected override int PullChannels(int outputChannels)
        {
            return outputChannels; // the SDK mixes straight to the output's layout
        }

        void OnAudioFilterRead(float[] data, int channels)
        {
            Feed(data, channels);
        }

        protected override bool Pull(float[] output, int frames, int sampleRate, int channels)
        {
            return VoipChat.PullPlayback(output, frames, sampleRate, channels) == frames;
        }
    }
}
#endif
